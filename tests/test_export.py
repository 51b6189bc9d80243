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

# Run in a fresh interpreter that never imports simplenn: the files must stand alone.
STANDALONE = r"""
import json, sys
import numpy as np
import tensorflow as tf
kind, path, data = sys.argv[1:4]
arrays = np.load(data)
images, inputs = arrays["images"], arrays["inputs"]
out = {}
if kind == "saved_model":
    model = tf.saved_model.load(path)
    assert sorted(model.signatures) == ["images", "serving_default"], sorted(model.signatures)
    for name, x in (("serving_default", inputs), ("images", images)):
        result = model.signatures[name](tf.constant(x))
        out[name] = {key: value.numpy().tolist() for key, value in result.items()}
else:
    interpreter = tf.lite.Interpreter(model_path=path)
    for name, key, x in (("serving_default", "inputs", inputs), ("images", "images", images)):
        runner = interpreter.get_signature_runner(name)
        result = runner(**{key: x})
        out[name] = {k: v.tolist() for k, v in result.items()}
assert "simplenn" not in sys.modules
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def test_images():
    _, (x_test, _) = load_dataset("digits")
    return x_test[:50]  # (50, 8, 8) uint8


def run_standalone(kind, path, run, images, tmp_path):
    data = tmp_path / "data.npz"
    np.savez(data, images=images, inputs=run.inputs(images))
    completed = subprocess.run([sys.executable, "-c", STANDALONE, kind, str(path), str(data)],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind, name", [("saved_model", "model"), ("tflite", "model.tflite")])
def test_export_round_trips_without_simplenn(kind, name, digits_run_dir, test_images, tmp_path, capsys):
    out = tmp_path / name
    assert main(["export", str(digits_run_dir), str(out), "--format", kind]) == 0
    assert "written to" in capsys.readouterr().out
    run = load_run(digits_run_dir)
    expected = run.predict_proba(test_images)  # (50, 10)
    outputs = run_standalone(kind, out, run, test_images, tmp_path)
    for signature in ("serving_default", "images"):
        np.testing.assert_allclose(outputs[signature]["probabilities"], expected, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(outputs[signature]["classes"], run.predict(test_images))


def test_saved_model_holds_no_training_code(digits_run_dir, tmp_path):
    out = tmp_path / "model"
    assert main(["export", str(digits_run_dir), str(out)]) == 0
    graph = (out / "saved_model.pb").read_bytes()
    for training_only in (b"_XlaMustCompile", b"XlaLaunch", b"ResourceApplyAdam", b"StatelessRandom"):
        assert training_only not in graph
    assert len(list((out / "variables").iterdir())) == 2  # index + data: the weights alone


def test_export_refuses_an_existing_path_and_a_missing_run(digits_run_dir, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    assert main(["export", str(digits_run_dir), str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert bool(error_message(err)) and "already exists; choose a new path" in error_message(err)
    assert main(["export", str(tmp_path / "no-run"), str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert bool(error_message(err)) and "cannot load run" in error_message(err)
    assert not (tmp_path / "m").exists()
