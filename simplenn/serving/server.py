"""`simplenn serve`: a draw-a-digit page and a JSON API in TensorFlow Serving's REST shape.

    GET  /                              the page (simplenn/static/draw.html; no CDN)
    GET  /healthz                       {"status": "ok"}
    GET  /v1/models/simplenn            the model's status, as TF Serving answers it
    GET  /v1/models/simplenn/metadata   signatures, classes, image size, the run
    POST /v1/models/simplenn:predict    {"instances": [...]} -> {"predictions": [...]}
                                        {"inputs": ...} -> {"outputs": {...}}
    POST /api/image                     an image file as the body -> the page's view of it

`:predict` takes TensorFlow Serving's REST predict API for the exported SavedModel's two
signatures (`export.py`), chosen by "signature_name": "serving_default" (input `inputs`:
the run's own inputs, `h*w` numbers each, pixels / 255 when it trained on scaled inputs)
and "images" (input `images`: `h x w` nested lists of pixels 0-255). Both of TF
Serving's request formats:

    row       {"instances": [x1, x2]}  or  {"instances": [{"images": x1}, {"images": x2}]}
              -> {"predictions": [{"probabilities": [...], "classes": k}, ...]}
    columnar  {"inputs": [x1, x2]}     or  {"inputs": {"images": [x1, x2]}}
              -> {"outputs": {"probabilities": [[...], ...], "classes": [k, ...]}}

The answers come from the same graph that `export` saves, so a client written for
either works against both. Values outside what the run reads (0-1 fractions where it
reads pixels 0-255, pixels where it reads pixels / 255) are refused (`contract.py`).
`/api/image` runs an uploaded photo or the page's drawing through
`preprocessing.preprocess` with the run's recorded recipe, and also returns what the
network saw and its hidden layers' activations, from the same one forward pass.

Every mistake in a request is answered with a 4xx status and `{"error": "..."}`:
a `Host` the server was not started for (421), bodies over `MAX_BODY_BYTES` (413) or
slower than `BODY_TIMEOUT_S` (408), JSON that does not parse, instances of the wrong
shape, non-numbers, and images that cannot be read, are too large or show no ink (400).

The limits a public-facing server needs: the Host check, header sizes and times and the
number of connections are `web.py`'s, shared with `simplenn lab`; the rest, each a constant below:
    body           at most `MAX_BODY_BYTES`, sent within `BODY_TIMEOUT_S`
    image decodes  an upload's pixels counted from its header before decoding (at most
                   `MAX_UPLOAD_PIXELS`), `MAX_DECODES` decoded at once, the memory handed
                   back to the system after each
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import warnings
from importlib import resources

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from simplenn.errors import SimplennError
from simplenn.serving.export import ServingModel
from simplenn.machine.memory import return_freed_memory
from simplenn.machine.quiet_tensorflow import tf
from simplenn.serving.web import (LOOPBACK_NAMES, RequestError, check_host, check_port, json_app, read_body,
                                  run_server)
from simplenn.images.preprocessing import preprocess, style_of

MODEL_NAME = "simplenn"
MAX_BODY_BYTES = 8 * 2**20  # a phone photo fits; 1,000 instances of 784 numbers as JSON fit
MAX_INSTANCES = 1000
SIGNATURES = ("serving_default", "images")
INPUT_NAMES = {"serving_default": "inputs", "images": "images"}  # each signature's one input, as exported
MAX_UPLOAD_PIXELS = 24_000_000  # a 6000x4000 photo; checked from the image's header, before decoding
MAX_DECODES = 2  # uploads decoded at once; the others wait their turn


def create_app(run, recipe: str | None = None, allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES):
    """The Starlette app serving the `LoadedRun` `run`, answering requests whose `Host` is one of
    `allowed_hosts`; `/api/image` follows the run's recorded recipe, or `recipe` when the user
    names one (`--recipe`)."""
    model = ServingModel(run)
    decodes = asyncio.Semaphore(MAX_DECODES)
    style = style_of(run, recipe)
    h, w = run.image_shape
    page = resources.files("simplenn.serving").joinpath("static/draw.html").read_text(encoding="utf-8")
    metadata = model_metadata(run)

    async def index(request: Request):
        return HTMLResponse(page)

    async def health(request: Request):
        return JSONResponse({"status": "ok"})

    async def status(request: Request):
        return JSONResponse({"model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]})

    async def model_metadata_route(request: Request):
        return JSONResponse(metadata)

    # The traced graphs themselves: calling one skips tf.function's argument matching.
    batchers = {name: Batcher(getattr(model, name).get_concrete_function()) for name in SIGNATURES}

    async def predict(request: Request):
        body = await read_body(request, MAX_BODY_BYTES, "send a smaller image or fewer instances")
        signature, batch, columnar = parse_request(body, run.image_shape)  # (n, h*w) float32 or (n, h, w) uint8
        if signature == "serving_default":
            try:
                run.contract.check_network_range(batch, "the inputs")
            except SimplennError as error:
                raise RequestError(str(error)) from None
        probabilities, classes = await batchers[signature](batch)  # (n, K), (n,)
        if columnar:  # TF Serving answers the columnar format by output name
            return JSONResponse({"outputs": {"probabilities": probabilities.tolist(), "classes": classes.tolist()}})
        return JSONResponse({"predictions": [
            {"probabilities": p.tolist(), "classes": int(k)} for p, k in zip(probabilities, classes)
        ]})

    async def image(request: Request):
        body = await read_body(request, MAX_BODY_BYTES, "send a smaller image or fewer instances")
        if not body:
            raise RequestError("the request has no body; send an image file (PNG, JPEG, ...) as the body")
        invert = request.query_params.get("invert")
        if invert not in (None, "true", "false"):
            raise RequestError(f"invert must be true or false, got {invert!r}")
        require_decodable(body)
        async with decodes:
            try:
                seen = await run_in_threadpool(preprocess, body, style, None if invert is None else invert == "true")
            except SimplennError as error:
                raise RequestError(str(error)) from None
            finally:
                await run_in_threadpool(return_freed_memory)
        forward = run.network.forward_pass(run.inputs(seen[None]))  # the one forward pass
        probabilities = run.scores(forward.Z[-1])[0]  # (K,), from its logits
        return JSONResponse({
            "seen": seen.tolist(),  # (h, w) 0-255, what the network read
            "probabilities": probabilities.tolist(),
            "class_names": run.class_names,
            "hidden": [A.numpy()[0].tolist() for A in forward.A[1:]],  # each hidden layer (n_l,)
        })

    routes = [
        Route("/", index),
        Route("/healthz", health),
        Route(f"/v1/models/{MODEL_NAME}", status),
        Route(f"/v1/models/{MODEL_NAME}/metadata", model_metadata_route),
        Route(f"/v1/models/{MODEL_NAME}:predict", predict, methods=["POST"]),
        Route("/api/image", image, methods=["POST"]),
    ]
    return json_app(routes, allowed_hosts, "start the server with --allowed-hosts NAME to answer it")


def require_decodable(body: bytes) -> None:
    """Refuse an upload whose header declares more than `MAX_UPLOAD_PIXELS`, before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # Pillow warns of 89-179 M pixels; the size is refused below, in a line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body)) as image:  # reads the header only
                width, height = image.size
    except Image.DecompressionBombError:  # Pillow's own refusal, past twice its MAX_IMAGE_PIXELS
        raise RequestError(f"the image has far more than the {MAX_UPLOAD_PIXELS:,} pixels this server decodes; "
                           "send a smaller image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return  # `preprocess` explains what cannot be read
    if width * height > MAX_UPLOAD_PIXELS:
        raise RequestError(f"the image is {width}x{height}, more than the {MAX_UPLOAD_PIXELS:,} pixels this server "
                           "decodes; send a smaller image")


class Batcher:
    """One signature's calls, gathered: requests that arrive while the network is busy are
    answered together by its next call.

    A call costs a fraction of a millisecond whether it scores one image or a hundred, so
    under load the queue is served in a few calls instead of one each; a lone request waits
    for nothing. The call runs on a worker thread, and the event loop goes on reading requests.
    """

    def __init__(self, graph):
        self.graph = graph  # batch -> {"probabilities": (n, K), "classes": (n,)}
        self.waiting: list[tuple[np.ndarray, asyncio.Future]] = []
        self.busy = False

    async def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, K), classes (n,)) for `batch` (n, ...), n of the call's rows."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((batch, future))
        if not self.busy:
            self.busy = True
            asyncio.get_running_loop().create_task(self._answer_waiting())
        return await future

    async def _answer_waiting(self) -> None:
        try:
            while self.waiting:
                taken, self.waiting = self.waiting, []
                try:
                    probabilities, classes = await run_in_threadpool(self._scores, np.concatenate([b for b, _ in taken]))
                except Exception as error:  # every request of the call gets it: the server's 500
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(error)
                    continue
                first = 0
                for batch, future in taken:
                    if not future.done():  # a client that hung up has cancelled its future
                        future.set_result((probabilities[first : first + len(batch)], classes[first : first + len(batch)]))
                    first += len(batch)
        finally:
            self.busy = False

    def _scores(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.graph(tf.constant(batch))
        return outputs["probabilities"].numpy(), outputs["classes"].numpy()


def model_metadata(run) -> dict:
    """TF Serving's metadata answer, shortened to what a client needs, and the run's facts."""
    h, w = run.image_shape
    outputs = {"probabilities": ["-1", str(len(run.class_names))], "classes": ["-1"]}
    return {
        "model_spec": {"name": MODEL_NAME, "version": "1"},
        "metadata": {"signature_def": {
            "serving_default": {"inputs": {"inputs": {"dtype": "DT_FLOAT", "shape": ["-1", str(h * w)]}}, "outputs": outputs},
            "images": {"inputs": {"images": {"dtype": "DT_UINT8", "shape": ["-1", str(h), str(w)]}}, "outputs": outputs},
        }},
        "simplenn": {
            "run_dir": str(run.run_dir),
            "dataset": run.config.dataset,
            "class_names": run.class_names,
            "image_shape": [h, w],
            "scale_inputs": run.config.scale_inputs,  # serving_default's inputs are pixels / 255 when true
            "input": run.contract.to_dict(),  # what one input is, its scaling and recipe (data.json)
            "loss": run.config.loss,
            "layers": list(run.config.layers),
            "test_accuracy": (run.summary or {}).get("test_accuracy"),
        },
    }


def parse_request(body: bytes, image_shape: tuple[int, int]) -> tuple[str, np.ndarray, bool]:
    """`(signature, batch, columnar)` from a TF Serving predict body, row or columnar.

    serving_default -> float32 `(n, h*w)`; images -> uint8 `(n, h, w)`; columnar: the body
    used "inputs" (answered with "outputs") rather than "instances" ("predictions").
    """
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, bad UTF-8, 5,000-digit numbers, deep nesting
        raise RequestError(f"the body is not JSON ({type(error).__name__}); send {{\"instances\": [...]}}") from None
    if not isinstance(request, dict) or ("instances" in request) == ("inputs" in request):
        raise RequestError('the body must be a JSON object with "instances" (a list of inputs) or "inputs" '
                           '(the columnar format), one of the two')
    signature = request.get("signature_name", "serving_default")
    if signature not in SIGNATURES:
        raise RequestError(f"unknown signature_name {signature!r}; choose one of {', '.join(SIGNATURES)}")
    name = INPUT_NAMES[signature]
    columnar = "inputs" in request
    if columnar:
        instances = request["inputs"]
        if isinstance(instances, dict):  # {"inputs": {"images": [...]}}: named, as the signature names it
            instances = _named_input(instances, name, signature, '"inputs"')
    else:
        instances = request["instances"]
        if isinstance(instances, list) and instances and all(isinstance(i, dict) for i in instances):
            instances = [_named_input(instance, name, signature, f"instance {i}") for i, instance in enumerate(instances)]
    where = '"inputs"' if columnar else '"instances"'
    if not isinstance(instances, list) or not 1 <= len(instances) <= MAX_INSTANCES:
        raise RequestError(f"{where} must be a list of 1 to {MAX_INSTANCES} inputs")
    h, w = image_shape
    shape = (h * w,) if signature == "serving_default" else (h, w)
    # JSON's true and false would pass NumPy's conversion as 1 and 0: such a body takes the
    # slow path, which checks each value and names the instance at fault.
    batch = None if b"true" in body or b"false" in body else _plain_numbers(instances, shape)
    if batch is None:
        batch = _checked_numbers(instances, signature, h, w)
    if signature == "serving_default":
        return signature, batch.astype(np.float32), columnar  # (n, h*w)
    if batch.min() < 0 or batch.max() > 255 or (batch != np.round(batch)).any():
        raise RequestError("signature images takes whole pixel values from 0 to 255")
    return signature, batch.astype(np.uint8), columnar


def _named_input(value: dict, name: str, signature: str, where: str):
    """The one input `name` of an object of named inputs, or a `RequestError` naming the one expected."""
    if set(value) != {name}:
        found = ", ".join(map(json.dumps, value)) or "none"
        raise RequestError(f'{where} must name the one input "{name}" of signature {signature}, found {found}')
    return value[name]


def _plain_numbers(instances: list, shape: tuple[int, ...]) -> np.ndarray | None:
    """`instances` as float64 `(n, *shape)` when every value is a finite number, in one NumPy
    conversion; None for anything else, which `_checked_numbers` then explains."""
    try:
        batch = np.array(instances)  # no dtype: NumPy would read the string "1" as the number 1
    except (ValueError, TypeError, OverflowError):  # ragged, 10**400
        return None
    if batch.dtype.kind not in "iuf" or batch.shape[1:] != shape:  # strings, null, objects: explained value by value
        return None
    batch = batch.astype(np.float64)
    if not np.isfinite(batch).all():
        return None
    return batch


def _checked_numbers(instances: list, signature: str, h: int, w: int) -> np.ndarray:
    """`instances` as float64 `(n, h*w)` or `(n, h, w)`, checked value by value: a
    `RequestError` names the first instance that is not all finite numbers of the right shape."""
    if signature == "serving_default":
        return np.array([_numbers(instance, i, h * w, f"{h * w} numbers") for i, instance in enumerate(instances)],
                        dtype=np.float64)
    images = []
    for i, instance in enumerate(instances):
        if not isinstance(instance, list) or len(instance) != h:
            raise RequestError(f"instance {i} must be {h} rows of {w} pixels (0-255) for signature images")
        images.append([_numbers(row, i, w, f"{h} rows of {w} pixels") for row in instance])
    return np.array(images, dtype=np.float64)


def _numbers(values, index: int, length: int, expected: str) -> list[float]:
    """`values` if it is a list of `length` finite numbers, else a `RequestError` naming the instance."""
    if not isinstance(values, list) or len(values) != length:
        got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        raise RequestError(f"instance {index} must be {expected}, got {got}")
    for value in values:
        if not _is_finite_number(value):
            raise RequestError(f"instance {index} holds {json.dumps(value)[:40]}, not a finite number")
    return values


def _is_finite_number(value) -> bool:
    """Whether a parsed JSON value is a number a float holds: not true, NaN, Infinity or 10**400."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def serve(run, host: str = "127.0.0.1", port: int = 8000, recipe: str | None = None,
          allowed_hosts: tuple[str, ...] = ()) -> None:
    """Serve `run` with uvicorn until Ctrl-C, answering the loopback names, `host` and `allowed_hosts`
    (`recipe`: see `create_app`)."""
    host, loopback = check_host(host)
    check_port(host, port)
    if not loopback:
        print(f"warning: listening on {host}: other machines can reach this server")
    names = LOOPBACK_NAMES + (() if host in ("0.0.0.0", "::") else (host,)) + tuple(allowed_hosts)
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {run.run_dir} at http://{shown}:{port}/ (Ctrl-C stops)", flush=True)
    run_server(create_app(run, recipe, names), host, port)
