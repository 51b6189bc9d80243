"""XLA's persistent compilation cache: where it lives, when it is off, how it is pruned, and that a
second run loads what the first compiled and ends with the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from simplenn.machine.compile_cache import FLAG, compile_cache_dir, prune, use_compile_cache


@pytest.fixture
def clean_environment(monkeypatch):
    for name in ("SIMPLENN_COMPILE_CACHE", "XDG_CACHE_HOME", "TF_XLA_FLAGS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_cache_lives_under_xdg_cache_home(clean_environment, tmp_path):
    clean_environment.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache_dir() == tmp_path / "simplenn" / "xla"
    assert use_compile_cache() == tmp_path / "simplenn" / "xla"
    assert os.environ["TF_XLA_FLAGS"] == f"{FLAG}={tmp_path / 'simplenn' / 'xla'}"
    assert (tmp_path / "simplenn" / "xla").is_dir()


def test_simplenn_compile_cache_names_the_folder_or_turns_it_off(clean_environment, tmp_path):
    clean_environment.setenv("SIMPLENN_COMPILE_CACHE", str(tmp_path / "mine"))
    assert use_compile_cache() == tmp_path / "mine"
    clean_environment.delenv("TF_XLA_FLAGS")
    clean_environment.setenv("SIMPLENN_COMPILE_CACHE", "off")
    assert use_compile_cache() is None
    assert "TF_XLA_FLAGS" not in os.environ


def test_a_cache_folder_chosen_in_tf_xla_flags_is_left_alone(clean_environment, tmp_path):
    clean_environment.setenv("XDG_CACHE_HOME", str(tmp_path))
    clean_environment.setenv("TF_XLA_FLAGS", f"--tf_xla_auto_jit=0 {FLAG}=/elsewhere")
    assert use_compile_cache() is None
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 {FLAG}=/elsewhere"
    assert not (tmp_path / "simplenn").exists()


def test_other_xla_flags_are_kept(clean_environment, tmp_path):
    clean_environment.setenv("SIMPLENN_COMPILE_CACHE", str(tmp_path))
    clean_environment.setenv("TF_XLA_FLAGS", "--tf_xla_auto_jit=0")
    use_compile_cache()
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 {FLAG}={tmp_path}"


def test_a_folder_that_cannot_be_made_means_no_cache(clean_environment, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    clean_environment.setenv("SIMPLENN_COMPILE_CACHE", str(tmp_path / "a-file" / "xla"))
    assert use_compile_cache() is None
    assert "TF_XLA_FLAGS" not in os.environ


def test_a_symlinked_cache_folder_is_not_followed(clean_environment, tmp_path):
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    clean_environment.setenv("SIMPLENN_COMPILE_CACHE", str(tmp_path / "link"))
    assert use_compile_cache() is None


def test_prune_keeps_the_newest_entries_and_touches_nothing_else(tmp_path):
    for age in range(5):
        entry = tmp_path / f"xla_compile_cache__{age}__XLA_CPU_JIT.pb"
        entry.write_bytes(b"x")
        os.utime(entry, (1_000_000 - age, 1_000_000 - age))  # entry 0 is the newest
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "xla_compile_cache__link").symlink_to(tmp_path / "notes.txt")
    prune(tmp_path, keep=2)
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == ["notes.txt", "xla_compile_cache__0__XLA_CPU_JIT.pb", "xla_compile_cache__1__XLA_CPU_JIT.pb",
                    "xla_compile_cache__link"]


def run_train(tmp_path, run_name: str, cache) -> dict:
    environment = dict(os.environ, SIMPLENN_COMPILE_CACHE=str(cache))
    environment.pop("TF_XLA_FLAGS", None)
    done = subprocess.run(
        [sys.executable, "-m", "simplenn.cli", "train", "--preset", "fixed", "--dataset", "digits", "--epochs", "2", "--xla",
         "--quiet", "--run-dir", str(tmp_path / run_name)],
        capture_output=True, text=True, timeout=300, env=environment,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return json.loads((tmp_path / run_name / "summary.json").read_text())


@pytest.mark.slow  # two runs in fresh processes
def test_a_second_run_loads_the_first_runs_programs_and_ends_with_the_same_weights(tmp_path):
    cache = tmp_path / "xla"
    first = run_train(tmp_path, "first", cache)
    programs = {path.name: path.stat().st_mtime_ns for path in cache.iterdir()}
    assert programs, "the first run compiled nothing into the cache"
    second = run_train(tmp_path, "second", cache)
    # Nothing was compiled again: the same files, none rewritten.
    assert {path.name: path.stat().st_mtime_ns for path in cache.iterdir()} == programs
    assert second["weights_sha256"] == first["weights_sha256"]
