"""The adversarial suite, round 3: a live `simplenn serve` against hostile clients.

One server process, started as a user starts it, meets in turn: requests for other
`Host` names (DNS rebinding), a header of hundreds of mebibytes, 300 clients that send
their headers a line at a time and never finish, 100 clients sending 20 requests each,
and six concurrent uploads of small PNGs that declare tens of megapixels of 16-bit RGBA.
Every client gets a 4xx with a JSON error or its answer, the server's memory stays
bounded (read from /proc), and Ctrl-C ends it with status 130 and one line.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from cli_messages import error_message

from simplenn.cli import main
from simplenn.serving import server as serving
from simplenn.serving import web

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
MIB = 2**20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`simplenn serve RUN --port P --allowed-hosts mybox.lan` in a subprocess, and what it uses."""

    def __init__(self, run_dir: Path, *flags: str, address: str = "127.0.0.1", command: tuple[str, ...] = ()):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simplenn.cli", *(command or ("serve", str(run_dir))), "--port", str(self.port), *flags],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first_line = self.process.stdout.readline()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection((address, self.port), timeout=1).close()
                return
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read()
                time.sleep(0.1)
        raise AssertionError("the server did not start listening within 120 s")

    def memory_mib(self, field: str = "VmRSS") -> int:
        """The server's resident memory now (VmRSS) or at its peak so far (VmHWM), in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
        raise AssertionError(f"no {field} in /proc")

    def request(self, path: str, host: str | None = None, method: str = "GET", body: bytes | None = None):
        """(status, parsed JSON or None) of one request with `host` as its Host header."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", f"127.0.0.1:{self.port}" if host is None else host)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        is_json = response.getheader("content-type", "").startswith("application/json")
        return response.status, json.loads(data) if is_json else None

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(small_run):
    started = Server(small_run, "--allowed-hosts", "mybox.lan")
    yield started
    started.stop()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG of `width` x `height` 16-bit RGBA pixels, all transparent: small on disk, huge decoded."""
    packer, row = zlib.compressobj(9), b"\0" * (1 + 8 * width)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, content: bytes) -> bytes:
        return struct.pack(">I", len(content)) + kind + content + struct.pack(">I", zlib.crc32(kind + content))

    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def all_at_once(count: int, call) -> list:
    results = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.slow  # a server process
def test_only_the_hosts_it_was_started_for_are_answered(server):
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "LOCALHOST", f"[::1]:{server.port}",
                 "mybox.lan:8000"):
        assert server.request("/healthz", host) == (200, {"status": "ok"}), host
    for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.evil.example", "", "mybox.lan.evil.example"):
        status, answer = server.request(f"/v1/models/{serving.MODEL_NAME}/metadata", host)
        assert status == 421 and answer["error"].startswith(f"Host {host!r} is not served here"), host
        assert "run_dir" not in json.dumps(answer)


@pytest.mark.slow  # a server process, 2,000 requests
def test_slow_oversized_and_flooding_clients_are_cut_off_and_the_rest_answered(server):
    start = server.memory_mib()
    # One header of 300 MiB: refused once it passes MAX_HEADER_BYTES, memory untouched.
    big = socket.create_connection(("127.0.0.1", server.port))
    big.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
    with pytest.raises(OSError):  # the server answers 400 and closes long before 300 MiB are sent
        for _ in range(300):
            big.sendall(b"a" * MIB)
    big.settimeout(10)
    answer = big.recv(4096)
    big.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"headers are longer than 16,384 bytes" in answer
    assert server.memory_mib() - start < 50

    # 300 clients that never finish their headers: the others are still answered, and they are cut off.
    slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
    for client in slow:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert {server.request("/healthz")[0] for _ in range(20)} == {200}
    for client in slow:  # each closed by the server HEADER_TIMEOUT_S after it connected
        client.settimeout(web.HEADER_TIMEOUT_S + 120)  # only a server that never closes them waits this long
        assert client.recv(1) == b""
        client.close()

    # A large body sent with its headers in one write is a body, not a header: answered.
    instances = json.dumps({"instances": [[0.0] * 64] * 1000}).encode()
    status, answer = server.request(f"/v1/models/{serving.MODEL_NAME}:predict", method="POST", body=instances)
    assert status == 200 and len(answer["predictions"]) == 1000

    # 100 clients, 20 requests each, all at once: every one answered.
    statuses = all_at_once(100, lambda: [server.request("/healthz")[0] for _ in range(20)])
    assert sum(statuses, []) == [200] * 2000

    # Six uploads at once of a 390 KB PNG declaring 50 megapixels: refused from the header, nothing decoded.
    bomb = png_declaring(8000, 6250)
    peak = server.memory_mib("VmHWM")
    answers = all_at_once(6, lambda: server.request("/api/image", method="POST", body=bomb))
    assert answers == [(400, {"error": f"the image is 8000x6250, more than the {serving.MAX_UPLOAD_PIXELS:,} pixels "
                                       "this server decodes; send a smaller image"})] * 6
    assert server.memory_mib("VmHWM") - peak < 50

    # Six at once just under the bound: decoded MAX_DECODES at a time, the memory handed back after.
    largest = png_declaring(6000, 4000)
    before = server.memory_mib()
    answers = all_at_once(6, lambda: server.request("/api/image", method="POST", body=largest))
    assert [status for status, _ in answers] == [400] * 6 and all("found no ink" in a["error"] for _, a in answers)
    assert server.memory_mib("VmHWM") - before < 1200  # two decodes of 24 M pixels; six at once took 5.5 GB
    assert server.memory_mib() - before < 300

    # Ctrl-C: status 130 and one line, no traceback, no library warnings.
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(30) == 130
    assert server.process.stderr.read() == "simplenn: interrupted\n"


def test_host_values_are_checked_with_the_right_words(small_run, capsys):
    cases = [
        ("", "--host is empty; give an address such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"),
        ("no.such.host.invalid", "--host 'no.such.host.invalid' is not an address or a name this machine resolves "
                                 "(Name or service not known); give an address such as 127.0.0.1 or 0.0.0.0"),
    ]
    for host, message in cases:
        assert main(["serve", str(small_run), "--host", host]) == 2
        assert error_message(capsys.readouterr().err) == message
    assert web.check_host("127.0.0.2") == ("127.0.0.2", True)  # all of 127.0.0.0/8 is this machine
    assert web.check_host("::1") == ("::1", True)
    assert web.check_host("0.0.0.0") == ("0.0.0.0", False)


@pytest.mark.slow  # a server process
def test_a_loopback_host_other_than_127_0_0_1_is_not_warned_as_public(small_run):
    server = Server(small_run, "--host", "127.0.0.2", address="127.0.0.2")
    try:
        assert server.first_line.startswith("serving ") and "warning" not in server.first_line
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 143
        assert server.process.stderr.read() == "simplenn: terminated\n"
    finally:
        server.stop()


def test_an_image_in_pillows_warning_range_is_refused_in_a_line_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would fail the test
        with pytest.raises(serving.RequestError, match="the image is 10000x10000, more than the 24,000,000 pixels"):
            serving.require_decodable(png_declaring(10_000, 10_000))


# --- `simplenn lab`: the same limits, and its own API -------------------------------------------------


@pytest.mark.slow  # a lab server process
def test_the_lab_has_the_servers_limits_and_exits_130_on_ctrl_c(tmp_path):
    lab = Server(None, command=("lab", "--runs-dir", str(tmp_path / "runs")))
    try:
        status, answer = lab.request("/api/state", "evil.example")
        assert status == 421 and answer["error"].startswith("Host 'evil.example' is not served here")
        big = socket.create_connection(("127.0.0.1", lab.port))
        big.sendall(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 2**16)
        big.settimeout(10)
        answer = big.recv(4096)
        big.close()
        assert answer.startswith(b"HTTP/1.1 400") and b"headers are longer than 16,384 bytes" in answer
        slow = socket.create_connection(("127.0.0.1", lab.port))
        slow.sendall(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.settimeout(web.HEADER_TIMEOUT_S + 5)
        assert slow.recv(1) == b""  # closed by the lab once HEADER_TIMEOUT_S passed
        slow.close()
        status, answer = lab.request("/api/train", method="POST", body=b"{" + b" " * 2**17 + b"}")
        assert status == 413 and answer["error"].startswith("the body is larger than 65,536 bytes")
        lab.process.send_signal(signal.SIGINT)
        assert lab.process.wait(60) == 130
        assert lab.process.stderr.read() == "simplenn: interrupted\n"
    finally:
        lab.stop()


def test_lab_host_values_are_checked_with_the_right_words(tmp_path, capsys):
    runs = ["--runs-dir", str(tmp_path / "runs")]
    cases = [
        ("", "--host is empty; give an address such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"),
        ("no.such.host.invalid", "--host 'no.such.host.invalid' is not an address or a name this machine resolves "
                                 "(Name or service not known); give an address such as 127.0.0.1 or 0.0.0.0"),
    ]
    for host, message in cases:
        assert main(["lab", *runs, "--host", host]) == 2
        assert error_message(capsys.readouterr().err) == message
    port = free_port()
    assert main(["lab", *runs, "--host", "192.0.2.1", "--port", str(port)]) == 2  # TEST-NET-1: no machine's address
    assert error_message(capsys.readouterr().err) == (
        f"cannot listen on 192.0.2.1:{port}: Cannot assign requested address; give an address of this machine as --host")


@pytest.fixture(scope="module")
def lab_client(tmp_path_factory):
    from starlette.testclient import TestClient

    from simplenn.serving.lab import Lab, create_app

    lab = Lab(tmp_path_factory.mktemp("lab") / "runs")
    with TestClient(create_app(lab), base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        client.lab = lab
        yield client


@pytest.mark.parametrize("config, start", [
    ({"dataset": "/etc/passwd"}, "the lab trains on the datasets it offers (digits"),
    ({"dataset": "/"}, "the lab trains on the datasets it offers (digits"),
    ({"layers": [10**12]}, "this network needs about"),
])
def test_the_lab_trains_only_what_it_offers_and_what_fits(config, start, lab_client):
    answer = lab_client.post("/api/train", json={"config": config})
    assert answer.status_code == 400 and answer.json()["error"].startswith(start), answer.text
    assert not lab_client.get("/api/state").json()["training"]


def test_the_labs_event_ids_and_reports_are_not_a_way_in(lab_client):
    log = lab_client.lab.log
    for since in ("%C2%B2", "%D9%A1", "9" * 5000, "-1", ""):  # superscript two and Arabic one are str.isdigit()
        answer = lab_client.get(f"/api/events?follow=0&since={log.token}.{log.generation}.{since}")
        assert answer.status_code == 200, since
    planted = lab_client.lab.runs_dir / "planted"
    planted.mkdir(parents=True)
    (planted / "summary.json").write_text("{}")
    (planted / "report.html").symlink_to("/etc/passwd")
    answer = lab_client.get("/runs/planted/report.html")
    assert answer.status_code == 409 and "root:" not in answer.text
    assert answer.json() == {"error": "planted/report.html is a link to /etc/passwd, not a file simplenn wrote; remove it"}


def test_a_json_string_is_not_a_number_to_serve(small_run):
    from starlette.testclient import TestClient

    from simplenn.runs.loaded_run import load_run

    with TestClient(serving.create_app(load_run(small_run)), base_url="http://localhost") as client:
        for body in ({"instances": [["1"] * 64]}, {"inputs": {"inputs": [["0.5"] * 64]}},
                     {"signature_name": "images", "instances": [[["1"] * 8] * 8]}):
            answer = client.post(f"/v1/models/{serving.MODEL_NAME}:predict", json=body)
            assert answer.status_code == 400, body
            assert answer.json()["error"].startswith("instance 0 holds \"")
