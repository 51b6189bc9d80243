"""The notebooks, English and Korean, are stored with their outputs, and running them again gives the numbers they show.

The Korean notebook is the English one with its text translated: the same code, so the same
checks. To store fresh outputs after a change to a notebook or to what it calls:

    .venv/bin/python tests/docs/test_notebook.py                              # both
    .venv/bin/python tests/docs/test_notebook.py notebooks/simplenn.ko.ipynb  # one

It runs each notebook exactly as the test does and writes it back with its outputs.
"""

import json
import re
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat
import pytest

from simplenn.explain.ablate import STEPS

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = [REPO / "notebooks" / "simplenn.ipynb", REPO / "notebooks" / "simplenn.ko.ipynb"]

# Accuracies, in percentage points. Training is deterministic on the CPU, so the same
# machine and TensorFlow reproduce every number exactly; another TensorFlow or CPU may
# add differently and change a few of the 450 test images (0.22 points each). Drift
# beyond two images means the notebook no longer shows what the package does: store
# fresh outputs (above) and check that its text still says what the numbers say.
ACCURACY_TOLERANCE = 0.5
# Tape and hand-written gradients agree to float32 rounding (about 1e-7, relative);
# a wrong step in the chain rule makes them differ by order 1.
GRADIENT_TOLERANCE = 1e-5
pytestmark = pytest.mark.slow  # runs both notebooks, every cell

# Paths of this machine that stored outputs must not show (the venv, the checkout, temp files).
LOCAL_PATHS = ("/work/", "/tmp/", "/home/", "/root/", "/Users/", "site-packages",
               str(REPO), sys.prefix, str(Path.home()))


def execute(notebook, folder: Path):
    """Run every cell in a fresh `python3` kernel, started in `folder`."""
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        record_timing=False,  # no timestamps in the stored cells
        # TensorFlow's C++ start-up lines go to the kernel's own stderr, not into the cells
        extra_arguments=["--IPKernelApp.capture_fd_output=False"],
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    return notebook


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def printed(cell) -> str:
    return "".join(output.text for output in cell.outputs
                   if output.output_type == "stream" and output.name == "stdout")


def tagged(notebook, tag: str):
    cells = [cell for cell in code_cells(notebook) if tag in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one code cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def number(pattern: str, text: str, what: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{what}: nothing matches {pattern!r} in:\n{text}"
    return float(match.group(1))


def key_numbers(notebook) -> dict:
    """The numbers the notebook's text relies on, parsed from its printed outputs."""
    accuracy = r"^test accuracy (\d+\.\d+) %"
    rows = re.findall(r"^(\S.*?) +(\d+\.\d+) %", printed(tagged(notebook, "ablation")), re.MULTILINE)
    assert len(rows) == len(STEPS), f"the ablation table has {len(rows)} rows, not {len(STEPS)}: {rows}"
    return {
        "blog": number(accuracy, printed(tagged(notebook, "blog-result")), "blog preset"),
        "fixed": number(accuracy, printed(tagged(notebook, "fixed-result")), "fixed preset"),
        "gradient": number(r"^largest relative difference (\S+)$",
                           printed(tagged(notebook, "gradient-check")), "tape vs hand"),
        "ablation": [(change, float(value)) for change, value in rows],
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_stored_with_its_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    # run top to bottom in one kernel, as `execute` does
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    for cell in cells:
        assert cell.outputs, f"no stored output for:\n{cell.source}"
        assert "sys.executable" not in cell.source
        for output in cell.outputs:
            assert output.output_type != "error", f"stored error in:\n{cell.source}"
            assert output.get("name") != "stderr", f"stored stderr in:\n{cell.source}\n{output.text}"
            text = json.dumps({key: value for key, value in output.get("data", {}).items() if key != "image/png"}) \
                + output.get("text", "")
            for path in LOCAL_PATHS:
                assert path not in text, f"{path!r} stored in the output of:\n{cell.source}"
    figures = [cell for cell in cells
               if any("image/png" in output.get("data", {}) for output in cell.outputs)]
    assert len(figures) == 2  # the post's sample and the ablation chart
    assert "sample_figure(" in figures[0].source and figures[1] is tagged(notebook, "ablation")


def test_korean_notebook_runs_the_english_code():
    english, korean = (nbformat.read(path, as_version=4) for path in NOTEBOOKS)
    assert [cell.cell_type for cell in korean.cells] == [cell.cell_type for cell in english.cells]
    assert [cell.source for cell in code_cells(korean)] == [cell.source for cell in code_cells(english)]
    assert [cell.metadata.get("tags") for cell in code_cells(korean)] \
        == [cell.metadata.get("tags") for cell in code_cells(english)]
    hangul = re.compile("[\uac00-\ud7a3]")
    untranslated = [cell.source[:60] for cell in korean.cells if cell.cell_type == "markdown" and not hangul.search(cell.source)]
    assert not untranslated, f"markdown cells of the Korean notebook with no Korean: {untranslated}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_reproduces_its_numbers(path, tmp_path):
    stored = key_numbers(nbformat.read(path, as_version=4))
    notebook = nbformat.read(path, as_version=4)
    # First make sure the "python3" kernel is this interpreter (the one with simplenn installed).
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    execute(notebook, tmp_path)
    assert Path(printed(notebook.cells[0]).strip()).resolve() == Path(sys.executable).resolve()
    assert "ReLUs die" in printed(tagged(notebook, "blog-diagnosis"))
    assert "logits overflow" in printed(tagged(notebook, "blog-diagnosis"))
    assert "No problems found" in printed(tagged(notebook, "fixed-diagnosis"))

    fresh = key_numbers(notebook)
    assert abs(stored["blog"] - 10) < 1, "the text says the post's network stays at chance"
    assert abs(fresh["blog"] - stored["blog"]) <= ACCURACY_TOLERANCE, (fresh["blog"], stored["blog"])
    assert abs(fresh["fixed"] - stored["fixed"]) <= ACCURACY_TOLERANCE, (fresh["fixed"], stored["fixed"])
    assert stored["gradient"] < GRADIENT_TOLERANCE and fresh["gradient"] < GRADIENT_TOLERANCE
    assert [change for change, _ in fresh["ablation"]] == [change for change, _ in stored["ablation"]]
    for (change, now), (_, then) in zip(fresh["ablation"], stored["ablation"]):
        assert abs(now - then) <= ACCURACY_TOLERANCE, f"{change}: {now} % now, {then} % stored"


if __name__ == "__main__":
    for path in [Path(arg).resolve() for arg in sys.argv[1:]] or NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as folder:
            execute(notebook, Path(folder))
        nbformat.write(notebook, path)
        print(f"stored fresh outputs in {path.relative_to(REPO)}:", json.dumps(key_numbers(notebook)))
