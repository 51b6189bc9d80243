"""`simplenn compare`: two runs that differ in one flag show exactly that flag."""

import matplotlib.image
import pytest

from cli_messages import error_message
from shared_runs import DIGITS_RUN_EPOCHS
from simplenn.cli import main


@pytest.fixture(scope="module")
def two_runs(digits_run, tmp_path_factory):
    other = tmp_path_factory.mktemp("compare") / "lr-0.01"
    code = main(["train", "--preset", "fixed", "--dataset", "digits", "--epochs", str(DIGITS_RUN_EPOCHS), "--lr", "0.01",
                 "--run-dir", str(other), "--quiet"])
    assert code == 0
    return digits_run, other


def test_compare_shows_exactly_the_flag_that_differs(two_runs, tmp_path, capsys):
    first, second = two_runs
    capsys.readouterr()
    out_file = tmp_path / "curves.png"
    assert main(["compare", str(first), str(second), "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    table = out.split("-----")[0].splitlines()
    assert table[0].split() == [first.name, second.name]
    assert [line.split() for line in table[1:]] == [["lr", "0.005", "0.01"]]
    assert "test accuracy" in out and "training time" in out and f"{DIGITS_RUN_EPOCHS}/{DIGITS_RUN_EPOCHS}" in out
    pixels = matplotlib.image.imread(out_file)
    assert pixels.shape[1] > 500 and pixels[..., :3].std() > 0.05


def test_compare_needs_real_run_folders(digits_run, tmp_path, capsys):
    assert main(["compare", str(digits_run), str(tmp_path)]) == 2
    assert f"cannot compare {tmp_path}: it holds no config.json" in error_message(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []
    assert main(["compare", str(digits_run)]) == 2
    assert "at least two run folders" in capsys.readouterr().err


def test_compare_runs_refuses_any_run_whose_files_are_links(digits_run, tmp_path):
    import re
    import shutil

    from simplenn.errors import SimplennError
    from simplenn.explain.compare import compare_runs

    linked, mine = tmp_path / "linked", tmp_path / "mine"
    shutil.copytree(digits_run, linked, symlinks=True)
    shutil.rmtree(linked / "figures", ignore_errors=True)
    mine.mkdir()
    (linked / "figures").symlink_to(mine)
    with pytest.raises(SimplennError, match=re.escape(f"run directory {linked} holds a link {linked}/figures -> {mine}")):
        compare_runs([digits_run, linked])  # the second run, and from Python as from the CLI
