"""The notebook runs top to bottom on `digits`, in the test's own Python, and is stored without outputs."""

import sys
from pathlib import Path

import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "simplenn.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_executes_top_to_bottom(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # First make sure the "python3" kernel is this interpreter (the one with simplenn installed).
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    printed = [
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "stream" and output.name == "stdout"
    ]
    assert Path(printed[0].strip()).resolve() == Path(sys.executable).resolve()
    text = "".join(printed)
    assert "ReLUs die" in text and "logits overflow" in text  # the diagnosis of the post
    assert "No problems found" in text  # and of the fixed network
    assert "test accuracy" in text
    warnings = "".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "stream" and output.name == "stderr"
    )
    for noise in ("oneDNN", "cuda", "absl", "retracing"):  # TensorFlow's start-up lines and warnings
        assert noise not in warnings, warnings
