"""`simplenn serve` speaks TensorFlow Serving's REST predict API in both of its formats, and
answers as the exported SavedModel's signatures do when called directly; the README's
requests run as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from simplenn.serving import server as serving
from simplenn.datasets import load_dataset
from simplenn.serving.export import export_run
from simplenn.machine.quiet_tensorflow import tf

PREDICT = "/v1/models/simplenn:predict"
README = Path(__file__).resolve().parents[2] / "docs" / "using.md"  # where the REST requests are written out


@pytest.fixture(scope="module")
def saved_model(run, tmp_path_factory):
    return tf.saved_model.load(str(export_run(run, tmp_path_factory.mktemp("export") / "model")))


@pytest.fixture(scope="module")
def images():
    _, (x_test, _) = load_dataset("digits")
    return x_test[:4]  # (4, 8, 8) uint8


def signature_outputs(saved_model, signature: str, batch: np.ndarray) -> dict:
    """The exported signature called directly: {"probabilities": (n, K), "classes": (n,)}."""
    outputs = saved_model.signatures[signature](tf.constant(batch))
    return {name: value.numpy() for name, value in outputs.items()}


def requests_for(signature: str, batch: list) -> dict[str, dict]:
    """TF Serving's four request shapes for `batch` (a list of inputs) of one signature."""
    name = serving.INPUT_NAMES[signature]
    return {
        "rows as lists": {"signature_name": signature, "instances": batch},
        "rows as named objects": {"signature_name": signature, "instances": [{name: x} for x in batch]},
        "columnar list": {"signature_name": signature, "inputs": batch},
        "columnar object": {"signature_name": signature, "inputs": {name: batch}},
    }


@pytest.mark.parametrize("signature", serving.SIGNATURES)
@pytest.mark.parametrize("shape", ["rows as lists", "rows as named objects", "columnar list", "columnar object"])
def test_each_request_shape_answers_as_the_saved_models_signature(signature, shape, client, run, saved_model, images):
    batch = run.inputs(images) if signature == "serving_default" else images  # (4, 64) float32 or (4, 8, 8) uint8
    expected = signature_outputs(saved_model, signature, batch)
    response = client.post(PREDICT, json=requests_for(signature, batch.tolist())[shape])
    assert response.status_code == 200, response.text
    if shape.startswith("rows"):
        predictions = response.json()["predictions"]
        probabilities = [p["probabilities"] for p in predictions]
        classes = [p["classes"] for p in predictions]
    else:
        outputs = response.json()["outputs"]
        probabilities, classes = outputs["probabilities"], outputs["classes"]
    np.testing.assert_allclose(probabilities, expected["probabilities"], atol=1e-6)
    assert classes == expected["classes"].tolist() == run.predict(images).tolist()


def test_signature_name_is_answered_for_both_signatures_and_load_run_agrees(client, run, images):
    proba = run.predict_proba(images)
    for signature, batch in (("serving_default", run.inputs(images)), ("images", images)):
        body = client.post(PREDICT, json={"signature_name": signature, "instances": batch.tolist()}).json()
        np.testing.assert_allclose([p["probabilities"] for p in body["predictions"]], proba, atol=1e-6)


def readme_requests() -> list[str]:
    """The bodies of the README's `curl ... :predict -d '...'` requests, as written there."""
    return re.findall(r"curl -s localhost:8000/v1/models/simplenn:predict -d '([^']*)'", README.read_text())


def test_the_readmes_requests_run_as_written(client, run):
    bodies = readme_requests()
    assert len(bodies) >= 4 and not any("…" in body or "..." in body for body in bodies)
    for body in bodies:
        request = json.loads(body)
        response = client.post(PREDICT, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 200, (body, response.text)
        answer = response.json()
        assert ("outputs" in answer) == ("inputs" in request) and ("predictions" in answer) == ("instances" in request)


def test_image_route_runs_one_forward_pass_whose_scores_match_predict_proba(client, run, images):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(images[0]).resize((80, 80)).save(buffer, format="PNG")
    body = client.post("/api/image", content=buffer.getvalue()).json()
    seen = np.array(body["seen"], dtype=np.uint8)[None]
    np.testing.assert_allclose(body["probabilities"], run.predict_proba(seen)[0], atol=1e-6)
