"""`simplenn export`: the SavedModel and TFLite files, run by TensorFlow alone in a subprocess."""

import json
import subprocess
import sys

import numpy as np
import pytest

from simplenn.cli import main
from simplenn.datasets import load_dataset
from simplenn.runs.loaded_run import load_run
from cli_messages import error_message

# Run in a fresh interpreter that never imports simplenn: the files must stand alone. One
# interpreter reads both formats (`kind=path` arguments): TensorFlow's import is most of its time.
STANDALONE = r"""
import json, sys
import numpy as np
import tensorflow as tf
data, exported = sys.argv[1], dict(argument.split("=", 1) for argument in sys.argv[2:])
arrays = np.load(data)
images, inputs = arrays["images"], arrays["inputs"]
out = {}
for kind, path in exported.items():
    out[kind] = {}
    if kind == "saved_model":
        model = tf.saved_model.load(path)
        assert sorted(model.signatures) == ["images", "serving_default"], sorted(model.signatures)
        for name, x in (("serving_default", inputs), ("images", images)):
            result = model.signatures[name](tf.constant(x))
            out[kind][name] = {key: value.numpy().tolist() for key, value in result.items()}
    else:
        interpreter = tf.lite.Interpreter(model_path=path)
        for name, key, x in (("serving_default", "inputs", inputs), ("images", "images", images)):
            runner = interpreter.get_signature_runner(name)
            result = runner(**{key: x})
            out[kind][name] = {k: v.tolist() for k, v in result.items()}
assert "simplenn" not in sys.modules
print(json.dumps(out))
"""
FORMATS = {"saved_model": "model", "tflite": "model.tflite"}  # --format -> the path exported to


@pytest.fixture(scope="module")
def test_images():
    _, (x_test, _) = load_dataset("digits")
    return x_test[:50]  # (50, 8, 8) uint8


@pytest.fixture(scope="module")
def standalone_outputs(digits_run, test_images, tmp_path_factory):
    """Both formats written by `simplenn export`, then run by TensorFlow alone: {format: {signature: outputs}}."""
    folder = tmp_path_factory.mktemp("export")
    for kind, name in FORMATS.items():
        assert main(["export", str(digits_run), str(folder / name), "--format", kind]) == 0
    data = folder / "data.npz"
    np.savez(data, images=test_images, inputs=load_run(digits_run).inputs(test_images))
    completed = subprocess.run([sys.executable, "-c", STANDALONE, str(data),
                                *(f"{kind}={folder / name}" for kind, name in FORMATS.items())],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # TensorFlow alone, in a fresh process
@pytest.mark.parametrize("kind", FORMATS)
def test_export_round_trips_without_simplenn(kind, standalone_outputs, digits_run, test_images):
    run = load_run(digits_run)
    expected = run.predict_proba(test_images)  # (50, 10)
    for signature in ("serving_default", "images"):
        outputs = standalone_outputs[kind][signature]
        np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(outputs["classes"], run.predict(test_images))


def test_saved_model_holds_no_training_code(digits_run, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["export", str(digits_run), str(out)]) == 0
    assert f"SavedModel written to {out}" in capsys.readouterr().out
    graph = (out / "saved_model.pb").read_bytes()
    for training_only in (b"_XlaMustCompile", b"XlaLaunch", b"ResourceApplyAdam", b"StatelessRandom"):
        assert training_only not in graph
    assert len(list((out / "variables").iterdir())) == 2  # index + data: the weights alone


def test_export_refuses_an_existing_path_and_a_missing_run(digits_run, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    assert main(["export", str(digits_run), str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert bool(error_message(err)) and "already exists; choose a new path" in error_message(err)
    assert main(["export", str(tmp_path / "no-run"), str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert bool(error_message(err)) and "cannot load run" in error_message(err)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name, taken_by", [("model", "folder"), ("model.tflite", "file")])
def test_a_path_created_while_the_model_is_written_is_left_as_it_is(digits_run, tmp_path, monkeypatch, capsys,
                                                                      name, taken_by):
    from simplenn.serving import export

    out = tmp_path / name
    write_model = export.tf.saved_model.save

    def save_while_someone_takes_the_name(*args, **kwargs):
        write_model(*args, **kwargs)
        if taken_by == "folder":
            out.mkdir()  # an empty folder: a plain rename would replace it
        else:
            out.write_text("the user's own file")

    monkeypatch.setattr(export.tf.saved_model, "save", save_while_someone_takes_the_name)
    assert main(["export", str(digits_run), str(out)]) == 2
    message = error_message(capsys.readouterr().err)
    assert message == (f"{out} was created while the model was being written; it is left as it is: "
                       "choose a new path, or remove it and export again")
    if taken_by == "folder":
        assert out.is_dir() and not any(out.iterdir())
    else:
        assert out.read_text() == "the user's own file"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # the staging folder is gone too
