"""`rename_new` renames onto a name that must not exist, and never replaces what took it."""

from __future__ import annotations

import errno

import pytest

from simplenn.machine import file_safety
from simplenn.machine.file_safety import rename_new


@pytest.fixture(params=["renameat2", "fallback"])
def way(request, monkeypatch):
    """Both ways of renaming: the one system call, and the link-or-check fallback where it is missing."""
    if request.param == "fallback":
        monkeypatch.setattr(file_safety, "_rename_noreplace", lambda source, destination: False)
    return request.param


def test_a_file_and_a_folder_take_a_free_name(tmp_path, way):
    (tmp_path / "a").write_text("model")
    rename_new(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "model" and not (tmp_path / "a").exists()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "inside").write_text("x")
    rename_new(tmp_path / "d", tmp_path / "e")
    assert (tmp_path / "e" / "inside").read_text() == "x" and not (tmp_path / "d").exists()


@pytest.mark.parametrize("taken_by", ["file", "empty folder", "link"])
@pytest.mark.parametrize("moved", ["file", "folder"])
def test_a_taken_name_is_never_replaced(tmp_path, way, taken_by, moved):
    source, destination = tmp_path / "new", tmp_path / "taken"
    if moved == "file":
        source.write_text("model")
    else:
        source.mkdir()
    if taken_by == "file":
        destination.write_text("the user's")
    elif taken_by == "empty folder":
        destination.mkdir()
    else:
        destination.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError) as raised:
        rename_new(source, destination)
    assert raised.value.errno == errno.EEXIST
    assert source.exists()  # still there, under its own name
    if taken_by == "file":
        assert destination.read_text() == "the user's"
    elif taken_by == "empty folder":
        assert destination.is_dir() and not any(destination.iterdir())
    else:
        assert destination.is_symlink()


def test_on_linux_one_system_call_checks_and_renames(tmp_path):
    (tmp_path / "a").write_text("model")
    assert file_safety._rename_noreplace(tmp_path / "a", tmp_path / "b")  # not the fallback
    (tmp_path / "c").write_text("other")
    with pytest.raises(FileExistsError):
        file_safety._rename_noreplace(tmp_path / "c", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "model"
