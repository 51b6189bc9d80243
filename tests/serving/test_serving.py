"""`simplenn serve`'s app: TF Serving's REST shape, the page's image route, and every bad request."""

import asyncio
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

from simplenn.serving import server as serving
from simplenn.datasets import load_dataset
from simplenn.runs.loaded_run import load_run
from simplenn.images.photos import draw_digit
from simplenn.machine.quiet_tensorflow import tf
from simplenn.serving.server import Batcher

PREDICT = "/v1/models/simplenn:predict"


@pytest.fixture(scope="module")
def test_images():
    _, (x_test, _) = load_dataset("digits")
    return x_test[:5]  # (5, 8, 8)


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_page_health_status_and_metadata(client, run):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "touch-action: none" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/v1/models/simplenn").json()["model_version_status"][0]["state"] == "AVAILABLE"
    metadata = client.get("/v1/models/simplenn/metadata").json()
    assert metadata["metadata"]["signature_def"]["images"]["inputs"]["images"]["shape"] == ["-1", "8", "8"]
    assert metadata["simplenn"]["class_names"] == run.class_names


def test_predict_both_signatures_match_load_run(client, run, test_images):
    expected = run.predict_proba(test_images)
    rows = client.post(PREDICT, json={"instances": run.inputs(test_images).tolist()})
    images = client.post(PREDICT, json={"signature_name": "images", "instances": test_images.tolist()})
    for response in (rows, images):
        assert response.status_code == 200
        predictions = response.json()["predictions"]
        np.testing.assert_allclose([p["probabilities"] for p in predictions], expected, atol=1e-5)
        assert [p["classes"] for p in predictions] == run.predict(test_images).tolist()


def test_image_route_returns_the_view_scores_and_hidden_layers(client, run):
    answer = client.post("/api/image", content=png(draw_digit("7", size=200, thickness=16)))
    assert answer.status_code == 200
    body = answer.json()
    seen = np.array(body["seen"])
    assert seen.shape == (8, 8) and seen.max() > 150 and seen[0].any() and seen[-1].any()  # fills the frame
    assert abs(sum(body["probabilities"]) - 1) < 1e-5
    assert [len(layer) for layer in body["hidden"]] == list(run.config.layers[1:-1])


BAD_PREDICT_BODIES = [
    (b"{", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[" * 100_000, "not JSON"),  # nesting deep enough to overflow the parser's stack
    (b'{"instances": [1' + b"0" * 5000 + b"]}", "not JSON"),  # an integer too long to parse
    (b"[1, 2]", 'must be a JSON object with "instances"'),
    (b'{"inputs": [[1]], "instances": [[1]]}', 'or "inputs" (the columnar format), one of the two'),
    (b'{"inputs": [[1]]}', "instance 0 must be 64 numbers, got 1 values"),
    (b'{"inputs": {"images": [[1]]}}', 'must name the one input "inputs" of signature serving_default, found "images"'),
    (b'{"instances": [{"inputs": [1], "x": 2}]}', 'instance 0 must name the one input "inputs"'),
    (json.dumps({"instances": [[255] * 64]}).encode(), "reads pixels / 255 (0-1) there"),
    (b'{"instances": []}', "list of 1 to 1000"),
    (b'{"inputs": []}', '"inputs" must be a list of 1 to 1000'),
    (b'{"instances": 5}', "list of 1 to 1000"),
    (json.dumps({"instances": [[0] * 64] * 1001}).encode(), "list of 1 to 1000"),
    (b'{"instances": [[1, 2, 3]]}', "instance 0 must be 64 numbers, got 3 values"),
    (b'{"instances": [5]}', "instance 0 must be 64 numbers, got int"),
    (json.dumps({"instances": [[0] * 63 + ["x"]]}).encode(), 'holds "x", not a finite number'),
    (json.dumps({"instances": [[0] * 63 + [True]]}).encode(), "holds true, not a finite number"),
    (json.dumps({"instances": [[0] * 63 + [None]]}).encode(), "holds null, not a finite number"),
    (b'{"instances": [[' + b"0," * 63 + b"NaN]]}", "holds NaN, not a finite number"),
    (b'{"instances": [[' + b"0," * 63 + b"1e999]]}", "not a finite number"),
    (b'{"instances": [[' + b"0," * 63 + b"1" + b"0" * 400 + b"]]}", "not a finite number"),
    (json.dumps({"signature_name": "train", "instances": [[0] * 64]}).encode(), "unknown signature_name 'train'"),
    (json.dumps({"signature_name": "images", "instances": [[0] * 64]}).encode(), "instance 0 must be 8 rows of 8"),
    (json.dumps({"signature_name": "images", "instances": [[[0] * 8] * 7]}).encode(), "instance 0 must be 8 rows"),
    (json.dumps({"signature_name": "images", "instances": [[[300] * 8] * 8]}).encode(), "whole pixel values from 0 to 255"),
    (json.dumps({"signature_name": "images", "instances": [[[0.5] * 8] * 8]}).encode(), "whole pixel values from 0 to 255"),
]


@pytest.mark.parametrize("body, message", BAD_PREDICT_BODIES, ids=[m for _, m in BAD_PREDICT_BODIES])
def test_bad_predict_requests_get_400_and_a_json_error(client, body, message):
    response = client.post(PREDICT, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]


def bomb(side: int) -> bytes:
    """A PNG of `side` x `side` pixels in a few hundred kilobytes."""
    return png(Image.new("1", (side, side), 0))


@pytest.mark.parametrize("body, message", [
    (b"", "has no body"),
    (b"not an image", "cannot read the file as an image"),
    (png(draw_digit("2"))[:300], "cannot read the file as an image"),
    (png(Image.new("RGB", (60, 60), "white")), "found no ink"),
    (bomb(8000), "the image is 8000x8000, more than the 24,000,000 pixels this server decodes"),
    (bomb(20_000), "the image has far more than the 24,000,000 pixels this server decodes"),
])
def test_bad_images_get_400_and_a_json_error(client, body, message):
    response = client.post("/api/image", content=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_bodies_over_the_cap_get_413_before_they_are_read(client, monkeypatch):
    monkeypatch.setattr(serving, "MAX_BODY_BYTES", 1000)
    response = client.post("/api/image", content=b"x" * 1001)
    assert response.status_code == 413 and "larger than 1,000 bytes" in response.json()["error"]

    def chunks():  # no Content-Length: the cap is enforced while reading
        for _ in range(10):
            yield b"y" * 200

    response = client.post(PREDICT, content=chunks())
    assert response.status_code == 413 and "larger than 1,000 bytes" in response.json()["error"]


def test_unknown_paths_and_methods_get_json_errors(client):
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()
    response = client.get(PREDICT)
    assert response.status_code == 405 and "error" in response.json()
    response = client.post("/api/image?invert=maybe", content=png(draw_digit("1")))
    assert response.status_code == 400 and "invert must be true or false" in response.json()["error"]


def test_requests_that_arrive_during_a_call_are_answered_by_the_next_call_each_with_its_own_rows():
    calls, running, finish = [], threading.Event(), threading.Event()

    def graph(batch):  # (n, 2): probabilities = the rows, classes = their sums
        calls.append(int(batch.shape[0]))
        running.set()
        assert finish.wait(60)  # busy until the test lets it finish
        return {"probabilities": batch, "classes": tf.reduce_sum(tf.cast(batch, tf.int64), axis=1)}

    batcher = Batcher(graph)
    batches = [np.full((i % 3 + 1, 2), i, np.float32) for i in range(12)]

    async def send_all():
        first = asyncio.ensure_future(batcher(batches[0]))
        assert await asyncio.to_thread(running.wait, 60)  # the first call is running
        rest = [asyncio.ensure_future(batcher(batch)) for batch in batches[1:]]
        await asyncio.sleep(0)  # each of them joins the queue
        finish.set()
        return await asyncio.gather(first, *rest)

    for batch, (probabilities, classes) in zip(batches, asyncio.run(send_all())):
        np.testing.assert_array_equal(probabilities, batch)
        np.testing.assert_array_equal(classes, batch.sum(axis=1))
    assert calls == [len(batches[0]), sum(len(batch) for batch in batches[1:])]


def test_a_failed_call_fails_each_of_its_requests_and_the_next_call_works():
    failures = iter([RuntimeError("broken once")])

    def graph(batch):
        for failure in failures:
            raise failure
        return {"probabilities": batch, "classes": tf.zeros(batch.shape[0], tf.int64)}

    batcher = Batcher(graph)

    async def send(n):
        return await asyncio.gather(*(batcher(np.ones((1, 2), np.float32)) for _ in range(n)), return_exceptions=True)

    assert all(isinstance(answer, RuntimeError) for answer in asyncio.run(send(3)))
    assert all(isinstance(answer, tuple) for answer in asyncio.run(send(2)))


@pytest.mark.parametrize("signature, shape", [("serving_default", (64,)), ("images", (8, 8))])
def test_one_numpy_conversion_reads_instances_as_the_checks_one_by_one_do(signature, shape):
    rng = np.random.default_rng(0)
    instances = rng.integers(0, 256, (3, *shape)).tolist()
    instances[1] = (np.asarray(instances[1]) / 7).tolist() if signature == "serving_default" else instances[1]
    body = json.dumps({"signature_name": signature, "instances": instances}).encode()
    _, fast, columnar = serving.parse_request(body, (8, 8))
    assert not columnar
    slow = serving._checked_numbers(instances, signature, 8, 8)
    np.testing.assert_array_equal(fast, slow.astype(fast.dtype))
    assert fast.dtype == (np.float32 if signature == "serving_default" else np.uint8)
