"""`simplenn doctor`: each check's passing and failing path, the report's two forms, the exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import namedtuple
from types import SimpleNamespace

import pytest

import simplenn.datasets
from simplenn import doctor
from simplenn.cli import main
from simplenn.doctor import Check
from simplenn.datasets.manage import FileCheck


def test_python_passes_here_and_fails_when_too_old(monkeypatch):
    assert doctor.check_python().status == "ok"
    monkeypatch.setattr(sys, "version_info", (3, 9, 18, "final", 0))
    check = doctor.check_python()
    assert check.status == "fail" and check.fix == "install Python 3.10 or newer"


def test_an_unsupported_system_fails_with_what_to_use(monkeypatch):
    monkeypatch.setattr(doctor.platform, "system", lambda: "Windows")
    check = doctor.check_python()
    assert check.status == "fail" and "supports Linux and macOS, not Windows" in check.summary
    assert check.fix == "use Linux or macOS; on Windows, WSL 2 runs Linux"


def test_rosetta_is_detected_through_sysctl_on_macos(monkeypatch):
    calls = []
    monkeypatch.setattr(doctor.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(doctor.subprocess, "run",
                        lambda argv, **kw: calls.append(argv) or SimpleNamespace(stdout="1\n"))
    assert doctor.rosetta_translated() and calls == [["sysctl", "-n", "sysctl.proc_translated"]]
    monkeypatch.setattr(doctor.subprocess, "run", lambda argv, **kw: SimpleNamespace(stdout="0\n"))
    assert not doctor.rosetta_translated()
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    assert not doctor.rosetta_translated()


def test_python_under_rosetta_warns_with_the_fix(monkeypatch):
    monkeypatch.setattr(doctor, "rosetta_translated", lambda: True)
    check = doctor.check_python()
    assert check.status == "warn" and "Rosetta 2" in check.summary and "arm64 Python" in check.fix


def test_packages_pass_here_and_a_missing_one_fails(monkeypatch):
    check = doctor.check_packages()
    assert check.status == "ok" and check.summary.startswith("simplenn ")
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version", lambda p: "not installed" if p == "keras" else real(p))
    check = doctor.check_packages()
    assert check.status == "fail" and "keras not installed" in check.summary and check.fix.startswith("pip install keras")


def test_tensorflow_reports_its_devices_and_a_failed_import(monkeypatch):
    check = doctor.check_tensorflow()
    assert check.status == "ok" and check.summary.startswith("TensorFlow 2.")
    assert "GPU: " in check.summary or "CPU only: " in check.summary

    def broken():
        raise ImportError("libcudart.so.12: cannot open shared object file")

    monkeypatch.setattr(doctor, "import_tensorflow", broken)
    check = doctor.check_tensorflow()
    assert check.status == "fail" and "ImportError: libcudart.so.12" in check.summary and "pip install" in check.fix


@pytest.mark.parametrize("system, cuda, smi, reason", [
    ("Linux", False, None, "this TensorFlow build has no CUDA support"),
    ("Linux", True, None, "no NVIDIA driver found"),
    ("Linux", True, "/usr/bin/nvidia-smi", "found no usable GPU"),
    ("Darwin", False, None, "tensorflow-metal is not installed"),
])
def test_why_there_is_no_gpu(monkeypatch, system, cuda, smi, reason):
    monkeypatch.setattr(doctor.platform, "system", lambda: system)
    monkeypatch.setattr(doctor.shutil, "which", lambda name: smi)
    fake_tf = SimpleNamespace(test=SimpleNamespace(is_built_with_cuda=lambda: cuda))
    assert reason in doctor.no_gpu_reason(fake_tf)


def test_xla_compiles_here_and_a_failure_says_no_xla(monkeypatch):
    assert doctor.check_xla().status == "ok"

    def no_compiler(*args, **kwargs):
        raise RuntimeError("ptxas not found")

    tf = doctor.import_tensorflow()
    monkeypatch.setattr(tf, "function", no_compiler)
    check = doctor.check_xla()
    assert check.status == "fail" and "ptxas not found" in check.summary and "--no-xla" in check.fix


def test_datasets_pass_when_verified_and_fail_on_a_damaged_file(monkeypatch):
    check = doctor.check_datasets()
    assert check.status == "ok" and "digits" in check.summary
    damaged = FileCheck("mnist", None, "/cache/mnist.npz", "sha256 is 00; expected sha256 11")
    monkeypatch.setattr(simplenn.datasets, "verify", lambda name=None: [damaged])
    check = doctor.check_datasets()
    assert check.status == "fail" and "/cache/mnist.npz: sha256 is 00" in check.summary
    assert check.fix.startswith("simplenn data fetch mnist")


@pytest.mark.parametrize("free_gb, status", [(50, "ok"), (1, "warn"), (0.1, "fail")])
def test_disk_space(monkeypatch, tmp_path, free_gb, status):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(0, 0, free_gb * doctor.GB))
    check = doctor.check_disk(tmp_path / "runs")
    assert check.status == status and check.summary == f"{free_gb:.1f} GB free for {tmp_path / 'runs'}"
    assert bool(check.fix) == (status != "ok")


@pytest.mark.parametrize("memory, status", [((12.0, 16.0), "ok"), ((1.0, 8.0), "warn"), ((None, 8.0), "ok"),
                                            ((None, None), "warn")])
def test_memory(monkeypatch, memory, status):
    monkeypatch.setattr(doctor, "memory_gb", lambda: memory)
    assert doctor.check_memory().status == status


def test_memory_is_read_from_this_machine():
    available, total = doctor.memory_gb()
    assert total > 0 and (available is None or 0 < available <= total)


def test_runs_folder(tmp_path):
    assert doctor.check_runs_folder(tmp_path / "runs").status == "ok"
    (tmp_path / "file").write_text("")
    assert doctor.check_runs_folder(tmp_path / "file").status == "fail"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert doctor.check_runs_folder(locked / "runs").status == "fail"


def test_tls_certificates(monkeypatch, tmp_path):
    monkeypatch.delenv("SIMPLENN_CA_BUNDLE", raising=False)
    assert doctor.check_tls().status == "ok"
    monkeypatch.setenv("SIMPLENN_CA_BUNDLE", str(tmp_path / "proxy.pem"))
    assert doctor.check_tls().status == "fail"
    monkeypatch.delenv("SIMPLENN_CA_BUNDLE")
    nowhere = SimpleNamespace(cafile=None, capath=None, openssl_cafile=str(tmp_path / "cert.pem"),
                              openssl_capath=str(tmp_path / "certs"))
    monkeypatch.setattr(doctor.ssl, "get_default_verify_paths", lambda: nowhere)
    monkeypatch.setattr(doctor.ssl, "create_default_context",
                        lambda: SimpleNamespace(cert_store_stats=lambda: {"x509_ca": 0}))
    check = doctor.check_tls()
    assert check.status == "fail" and "no CA certificates found" in check.summary and check.fix


def test_a_crashing_check_is_reported_not_raised():
    def check_broken():
        raise KeyError("boom")

    [check] = doctor.run_checks((check_broken,))
    assert check == Check("broken", "fail", "the check itself failed: KeyError: 'boom'", check.fix)


FAKE = (lambda: Check("python", "ok", "Python 3.12"), lambda: Check("memory", "warn", "1.0 GB", "close programs"))


def test_the_report_has_one_line_per_check_and_an_indented_fix(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", FAKE)
    assert main(["doctor"]) == 0  # a warning is not a failure
    assert capsys.readouterr().out == "✓ python  Python 3.12\n! memory  1.0 GB\n          fix: close programs\n"


def test_json_shape_and_exit_status_on_a_failure(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", (*FAKE, lambda: Check("xla", "fail", "no", "--no-xla")))
    assert main(["doctor", "--json", "-"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {"ok": False, "checks": [
        {"name": "python", "status": "ok", "summary": "Python 3.12", "fix": ""},
        {"name": "memory", "status": "warn", "summary": "1.0 GB", "fix": "close programs"},
        {"name": "xla", "status": "fail", "summary": "no", "fix": "--no-xla"},
    ]}


@pytest.mark.slow  # a fresh process
def test_the_real_doctor_runs_every_check_quietly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "simplenn.cli", "doctor", "--json", "-"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    report = json.loads(done.stdout)
    assert [check["name"] for check in report["checks"]] == [
        "python", "packages", "tensorflow", "xla", "datasets", "disk", "memory", "runs", "tls"]
    assert done.returncode == (0 if report["ok"] else 1)
    assert done.stderr == ""
