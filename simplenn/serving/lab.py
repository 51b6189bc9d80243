"""`simplenn lab`: flip the post's mistakes one at a time and watch a real run train in the browser.

    GET  /                        the page (static/lab.html; no CDN, charts drawn on canvas)
    GET  /api/setup               the switches (`ablate.STEPS`) with their explanations, the presets, the datasets
    GET  /api/state               whether a run is training, and which
    GET  /api/events              the current run's events as server-sent events (`?follow=0`: those so far, then close)
    GET  /api/runs                the runs of the lab's folder, newest first, with their histories
    POST /api/train               {"config": {field: value, ...}} -> starts a run
    POST /api/stop                stops the run after its current chunk of steps, with a checkpoint
    POST /api/resume              {"run": NAME} -> goes on with a stopped run
    GET  /runs/NAME/report.html   `simplenn report` of a finished run (`?lang=ko`: in Korean)

A run is `train_and_evaluate` writing a normal run folder under the lab's runs folder, so
`simplenn report`, `evaluate` and `load_run` work on it. It trains in a process of its own
(`lab_run.py`), started ahead of time so that TensorFlow is loaded when Train is pressed;
Stop sends it SIGINT, which ends it as Ctrl-C ends `simplenn train`: a checkpoint, then a
resumable folder. Every figure the page shows is computed by that process, with
`diagnose.measure` and `run_checks`, and the page only draws it.

One run at a time: a second Train gets 409 and `{"error": ...}`; a config that `Config`
refuses gets 400 and `Config`'s own one-line message; requests whose Host header is not
a name of this server get 421 (a page elsewhere cannot reach the lab by DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from simplenn.config import PRESETS, Config, preset
from simplenn.datasets import check_dataset_name
from simplenn.datasets.manage import list_datasets
from simplenn.errors import SimplennError
from simplenn.explain.ablate import STEPS
from simplenn.explain.diagnose import DEAD_FRACTION, HEALTHY_GRADIENT_NORM, HEALTHY_UPDATE_RATIO, LOGIT_OVERFLOW
from simplenn.machine.file_safety import file_kind
from simplenn.machine.memory import MemoryLimit, network_bytes
from simplenn.runs.run_directory import RunDirectory
from simplenn.serving.web import (LOOPBACK_NAMES, RequestError, check_host, check_port, json_app, read_body,
                                  run_server)

MAX_BODY_BYTES = 64 * 2**10  # a config is a few hundred bytes
RUNS_LISTED = 40  # newest runs the page can overlay and link to
STOP_WAIT_S = 120.0  # on shutdown, how long a stopping run may take to write its checkpoint
BLOG, FIXED = preset("blog"), preset("fixed")

# What each switch of the ablation changes and why it matters: one or two sentences, in
# English and in Korean, keyed by the first field that `ablate.STEPS` names for it.
EXPLANATIONS = {
    "scale_inputs": (
        "Pixels enter as 0-255 in the post. Dividing them by 255 makes the first layer's sums, and its "
        "gradients, about 255 times smaller, so the first step no longer throws the weights far away.",
        "원래 글에서는 픽셀이 0-255 그대로 들어갑니다. 255로 나누면 첫 층의 합과 기울기가 약 255배 작아져 "
        "첫 스텝에 가중치가 멀리 튕겨 나가지 않습니다.",
    ),
    "reduction": (
        "The post sums the loss over every image, so the gradient grows with the batch: thousands of images "
        "make one huge step. Averaging keeps the step the same size whatever the batch.",
        "원래 글은 손실을 모든 이미지에 대해 더합니다. 그래서 배치가 클수록 기울기도 커져 한 번에 거대한 "
        "스텝을 밟습니다. 평균을 내면 배치 크기와 상관없이 스텝 크기가 일정합니다.",
    ),
    "batch_size": (
        "The post takes one step per epoch on the whole training set. Mini-batches give hundreds of smaller "
        "steps per epoch: the network gets enough updates to learn in a few epochs.",
        "원래 글은 에폭마다 전체 학습 데이터로 한 번만 업데이트합니다. 미니배치를 쓰면 에폭마다 수백 번 "
        "업데이트하므로 몇 에폭 만에 배울 수 있습니다.",
    ),
    "init": (
        "normal(0.1) ignores how many inputs a unit has. He initialisation draws weights with variance "
        "2 / inputs, which keeps ReLU activations at a steady scale from layer to layer.",
        "normal(0.1)은 입력 개수를 고려하지 않습니다. He 초기화는 분산을 2 / 입력 수로 맞춰 층을 지나도 "
        "ReLU 활성값의 크기가 일정하게 유지됩니다.",
    ),
    "optimizer": (
        "Plain SGD moves each weight by lr times its gradient, so a huge gradient makes a huge step. Adam "
        "divides by the gradient's running size: each step is about lr, whatever the gradient's scale.",
        "SGD는 기울기에 학습률을 곱한 만큼 움직이므로 기울기가 크면 스텝도 커집니다. Adam은 기울기의 "
        "이동 평균 크기로 나누어, 기울기 규모와 상관없이 스텝이 대략 학습률 정도입니다.",
    ),
    "loss": (
        "The post scores ten independent yes/no sigmoids, although each image has exactly one class. "
        "Softmax cross-entropy makes the ten outputs compete for one answer.",
        "원래 글은 이미지마다 정답이 하나인데도 10개의 독립적인 예/아니오 시그모이드로 점수를 매깁니다. "
        "소프트맥스 교차 엔트로피는 10개 출력이 하나의 답을 두고 경쟁하게 합니다.",
    ),
    "schedule": (
        "One-cycle warms the learning rate up from lr / 25 to its peak, then lowers it to almost 0: big "
        "steps while far from a solution, small ones to settle.",
        "원사이클 스케줄은 학습률을 lr / 25에서 최고점까지 올렸다가 거의 0까지 내립니다. 멀리 있을 때는 "
        "크게, 가까워지면 작게 움직입니다.",
    ),
    "weight_decay": (
        "Decoupled weight decay shrinks every weight a little each step, so no weight grows large unless "
        "the data keep asking for it.",
        "분리된 가중치 감쇠는 스텝마다 모든 가중치를 조금씩 줄여, 데이터가 계속 요구하지 않는 한 가중치가 "
        "커지지 않게 합니다.",
    ),
    "label_smoothing": (
        "Label smoothing moves a tenth of each target to the other classes, so the network is not pushed "
        "to be infinitely sure, and it generalises better.",
        "레이블 스무딩은 정답의 10 %를 다른 클래스에 나눠 주어, 네트워크가 한없이 확신하도록 밀어붙이지 "
        "않게 하고 일반화를 돕습니다.",
    ),
}

# The other controls: (field, English, Korean).
KNOBS = {
    "dataset": ("What the network learns: the 8x8 digits bundled with scikit-learn train in seconds; the "
                "28x28 datasets take longer and show the post's failure the same way.",
                "학습할 데이터: scikit-learn에 들어 있는 8x8 숫자는 몇 초 만에 학습됩니다. 28x28 데이터는 더 "
                "오래 걸리지만 원래 글의 실패를 똑같이 보여 줍니다."),
    "layers": ("Hidden layer sizes between the input and the ten outputs; the post's are 100 and 30.",
               "입력과 10개 출력 사이 은닉층의 크기입니다. 원래 글은 100과 30입니다."),
    "lr": ("The learning rate: how far each step moves the weights (the peak rate with a schedule).",
           "학습률: 한 스텝에 가중치를 얼마나 움직이는지 (스케줄이 있으면 최고 학습률)."),
    "epochs": ("How many passes over the training set.", "학습 데이터를 몇 번 반복해서 볼지."),
    "stop_on_nan": ("Stop when the loss becomes NaN or infinite, with the reason, instead of carrying on "
                    "as the post does.",
                    "손실이 NaN이나 무한대가 되면 이유와 함께 멈춥니다. 끄면 원래 글처럼 계속 진행합니다."),
    "jit_compile": ("Compile the steps with XLA: faster on large data, a second or two to start.",
                    "XLA로 스텝을 컴파일합니다. 큰 데이터에서 빠르지만 시작에 1-2초 걸립니다."),
}
CONTROLLED = ("dataset", "layers", "lr", "epochs", "stop_on_nan", "jit_compile",
              *(name for _, fields in STEPS for name in fields))


def lab_config(fields: dict) -> Config:
    """The `Config` a page's controls give: the post's preset with `fields` changed.

    `layers` may list the hidden sizes only; the data add the input and output sizes. The
    preset is named `blog` or `fixed` when the controls match one (whatever the dataset),
    `lab` otherwise. `ConfigError` and `SimplennError` carry `Config`'s one-line message.
    """
    if not isinstance(fields, dict):
        raise RequestError('send {"config": {field: value, ...}}')
    fields = dict(fields)
    fields.pop("preset", None)
    if isinstance(fields.get("layers"), list) and all(isinstance(n, int) for n in fields["layers"]):
        fields["layers"] = (BLOG.layers[0], *fields["layers"], BLOG.layers[-1])  # ends fitted to the data
    config = BLOG.replace(**fields)
    for name, named in PRESETS.items():
        if config.replace(preset=name, dataset=named.dataset) == named:
            return config.replace(preset=name)
    return config.replace(preset="lab")


def run_name(config: Config, runs_dir: Path) -> str:
    """`PRESET-DATASET-TIME`, e.g. `blog-digits-20261203-041500`; a suffix when that exists already."""
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(config.dataset).name or "data").strip("._") or "data"
    name = f"{config.preset}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    suffix = 1
    while (runs_dir / (name if suffix == 1 else f"{name}-{suffix}")).exists():
        suffix += 1
    return name if suffix == 1 else f"{name}-{suffix}"


class EventLog:
    """The events of the current run, numbered so that a client that reconnects goes on where it was.

    An event's id is `TOKEN.GENERATION.INDEX`: TOKEN is new with every server start and
    GENERATION with every run, so a client of an earlier server or run starts again from
    the current run's first event.
    """

    def __init__(self):
        self.token = secrets.token_hex(4)
        self.generation = 0
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def start_run(self, first: dict) -> None:
        with self.lock:
            self.generation += 1
            self.events = [first]

    def append(self, event: dict) -> None:
        with self.lock:
            self.events.append(event)

    def position_after(self, last_id: str | None) -> tuple[int, int]:
        """(generation, index of the next event) for a client whose last event was `last_id`."""
        parts = (last_id or "").split(".")
        if len(parts) == 3 and parts[:2] == [self.token, str(self.generation)] and re.fullmatch(r"[0-9]{1,9}", parts[2]):
            return self.generation, int(parts[2]) + 1
        return self.generation, 0

    def read(self, position: tuple[int, int]) -> tuple[list[tuple[str, dict]], tuple[int, int]]:
        """The events after `position`, each with its id, and the position after them."""
        with self.lock:
            generation, index = position
            if generation != self.generation:
                generation, index = self.generation, 0
            new = [(f"{self.token}.{generation}.{i}", event) for i, event in enumerate(self.events[index:], index)]
            return new, (generation, index + len(new))


class RunProcess:
    """A `lab_run` process: started ahead of its job, given one, read from until it exits."""

    def __init__(self, on_event, on_exit):
        read_end, write_end = os.pipe()
        # stdout and stderr are not the lab's: the run's live progress bar and TensorFlow's
        # messages would fill the terminal; what the page needs comes on the event pipe.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simplenn.serving.lab_run", str(write_end)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,), text=True,
        )
        os.close(write_end)
        self.ready = threading.Event()
        self.run: str | None = None  # the run folder's name, once it has a job
        self.ended_cleanly = False  # a final event (diagnosis, stopped, failed) came
        self.stop_requested = False
        self._on_event, self._on_exit = on_event, on_exit
        threading.Thread(target=self._read, args=(os.fdopen(read_end, "r"),), daemon=True).start()

    def give(self, job: dict) -> None:
        self.run = Path(job["run_dir"]).name
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.close()

    def stop(self) -> None:
        """SIGINT: a checkpoint after the current chunk, as Ctrl-C in `simplenn train`."""
        if self.process.poll() is None:
            self.stop_requested = True
            os.kill(self.process.pid, signal.SIGINT)

    def close(self) -> None:
        """End a process that has no job: it reads end-of-file and exits."""
        if self.run is None and self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()

    def _read(self, events) -> None:
        for line in events:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("type") == "ready":
                self.ready.set()
                continue
            if event.get("type") in ("diagnosis", "stopped", "failed"):
                self.ended_cleanly = True
            self._on_event(self, event)
        status = self.process.wait()
        self._on_exit(self, status)


class Lab:
    """The lab's one training slot, its runs folder and the current run's events."""

    def __init__(self, runs_dir: str | Path, max_memory: str | None = None, datasets: tuple[str, ...] = ()):
        self.runs_dir = Path(runs_dir)
        self.max_memory = max_memory
        # The user's own data, offered with `simplenn lab --dataset PATH`: absolute, so each run records where it is.
        self.own_datasets = tuple(str(Path(path).expanduser().resolve()) for path in datasets)
        self.log = EventLog()
        self.lock = threading.Lock()
        self.current: RunProcess | None = None
        self.spare: RunProcess | None = None
        self.closing = False

    def open(self) -> None:
        with self.lock:
            self._start_spare()

    def _start_spare(self) -> None:
        if self.spare is None and not self.closing:
            self.spare = RunProcess(self._event, self._exited)

    def _event(self, process: RunProcess, event: dict) -> None:
        if process is self.current:
            self.log.append(event)

    def _exited(self, process: RunProcess, status: int) -> None:
        with self.lock:
            if process is self.current:
                if not process.ended_cleanly:
                    self.log.append({"type": "failed", "error": f"the run's process ended unexpectedly (exit status "
                                     f"{status}); its folder keeps every checkpoint saved so far"})
                self.log.append({"type": "idle"})
                self.current = None
            if process is self.spare:
                self.spare = None
            self._start_spare()

    def datasets(self) -> list[str]:
        """What the page may train on: the catalogue datasets ready here, then the user's own."""
        catalogue = lab_datasets()
        return catalogue + [path for path in self.own_datasets if path not in catalogue]

    def start(self, job: dict) -> None:
        """Give `job` to the spare process; `RequestError` 409 while a run is training."""
        with self.lock:
            if self.current is not None:
                raise RequestError(
                    f"a run is training ({self.current.run}); one training at a time: stop it or wait for it to end", 409
                )
            self._start_spare()
            process, self.spare = self.spare, None
            self.current = process
            self.log.start_run({"type": "queued", "run": Path(job["run_dir"]).name, "action": job["action"]})
            process.give(job)

    def train(self, fields: dict) -> str:
        """Start a run of the config the page's controls give; its folder's name."""
        try:
            config = lab_config(fields)
            check_dataset_name(config.dataset)
            # The weights alone, before a process is given the job: a network too large for the limit is refused here.
            MemoryLimit.of(self.max_memory).require({"the network": network_bytes(config.layers)}, "this network")
        except SimplennError as error:
            raise RequestError(str(error)) from None
        offered = self.datasets()
        if config.dataset not in offered:  # any other path would let whoever reaches the page read any file as data
            raise RequestError(f"the lab trains on the datasets it offers ({', '.join(offered) or 'none ready'}), not "
                               f"{config.dataset[:80]!r}; offer your own data with `simplenn lab --dataset PATH`")
        run_dir = self.runs_dir / run_name(config, self.runs_dir)
        try:
            RunDirectory(run_dir).check_new()
        except SimplennError as error:
            raise RequestError(str(error)) from None
        self.start({"action": "train", "config": config.to_dict(), "run_dir": str(run_dir),
                    "max_memory": self.max_memory})
        return run_dir.name

    def resume(self, name) -> str:
        run = RunDirectory(self.run_path(name))
        try:
            run.open()
        except SimplennError as error:
            raise RequestError(str(error)) from None
        if run.finished:
            raise RequestError(f"{name} finished already; start a new run instead")
        self.start({"action": "resume", "run_dir": str(run.path), "max_memory": self.max_memory})
        return name

    def stop(self) -> None:
        with self.lock:
            if self.current is None:
                raise RequestError("no run is training", 409)
            self.current.stop()

    def run_path(self, name) -> Path:
        """The folder of run `name`, a folder directly in the runs folder; `RequestError` 404 otherwise."""
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.strip(".") == "":
            raise RequestError(f"no run named {str(name)[:80]!r} in {self.runs_dir}", 404)
        path = self.runs_dir / name
        if path.is_symlink() or not path.is_dir():
            raise RequestError(f"no run named {name!r} in {self.runs_dir}", 404)
        return path

    def state(self) -> dict:
        with self.lock:
            return {"training": self.current is not None, "run": self.current and self.current.run,
                    "stopping": bool(self.current and self.current.stop_requested),
                    "warm": bool(self.spare and self.spare.ready.is_set())}

    def runs(self) -> list[dict]:
        """The newest runs of the folder, each with its config, history and scores; unreadable ones skipped."""
        if not self.runs_dir.is_dir():
            return []
        folders = [p for p in self.runs_dir.iterdir() if p.is_dir() and not p.is_symlink()
                   and (p / "config.json").is_file()]
        folders.sort(key=lambda p: (p / "config.json").stat().st_mtime, reverse=True)
        runs = []
        for path in folders[:RUNS_LISTED]:
            run = RunDirectory(path)
            try:
                config, history = run.read_config(), run.read_history()
                summary = run.read_summary() if run.finished else None
            except SimplennError:
                continue  # a folder being written, or not the lab's: the page lists the others
            runs.append({
                "name": path.name, "preset": config.preset, "dataset": config.dataset, "config": config.to_dict(),
                "finished": summary is not None, "test_accuracy": summary and summary["test_accuracy"],
                "history": [{"epoch": r.epoch, "loss": _finite(r.loss), "accuracy": r.accuracy} for r in history],
            })
        return runs

    def close(self) -> None:
        """Stop a training run with its checkpoint, and end the spare process."""
        with self.lock:
            self.closing = True
            current, spare = self.current, self.spare
        if spare is not None:
            spare.close()
        if current is not None:
            current.stop()
            try:
                current.process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                current.process.kill()
        if spare is not None:
            try:
                spare.process.wait(10)
            except subprocess.TimeoutExpired:
                spare.process.kill()


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def lab_datasets() -> list[str]:
    """The catalogue datasets ready on this machine, digits first (the user's own come from `--dataset`)."""
    return sorted((state.spec.name for state in list_datasets() if state.ready), key=lambda name: name != "digits")


def setup(datasets: list[str] | None = None) -> dict:
    """What the page builds its controls from: each switch with its two values and its explanation,
    and the `datasets` it offers (default: the catalogue's ready ones)."""
    switches = []
    for change, fields in STEPS[1:]:
        en, ko = EXPLANATIONS[fields[0]]
        switches.append({
            "id": fields[0], "fields": list(fields), "change": change,
            "post": {name: getattr(BLOG, name) for name in fields},
            "fix": {name: getattr(FIXED, name) for name in fields}, "explain": {"en": en, "ko": ko},
        })
    knobs = {name: {"en": en, "ko": ko} for name, (en, ko) in KNOBS.items()}
    presets = {name: {field: list(value[1:-1]) if field == "layers" else value
                      for field, value in config.to_dict().items() if field in CONTROLLED}
               for name, config in (("blog", BLOG), ("fixed", FIXED))}
    datasets = lab_datasets() if datasets is None else datasets
    # Where `diagnose` draws the line between healthy and not: the page colours a bar red beyond it.
    limits = {"dead_fraction": DEAD_FRACTION, "gradient_norm": HEALTHY_GRADIENT_NORM,
              "update_ratio": HEALTHY_UPDATE_RATIO, "logit_overflow": LOGIT_OVERFLOW}
    return {"switches": switches, "knobs": knobs, "presets": presets, "datasets": datasets, "limits": limits}


def create_app(lab: Lab, host: str = "127.0.0.1") -> Starlette:
    """The lab's Starlette app; `host` is the address it listens on, a name its Host header may give."""
    page = resources.files("simplenn.serving").joinpath("static/lab.html").read_text(encoding="utf-8")
    allowed_hosts = {*LOOPBACK_NAMES, host}
    setup_answer = setup(lab.datasets())

    async def index(request: Request):
        return HTMLResponse(page)

    async def setup_route(request: Request):
        return JSONResponse(setup_answer)

    async def state(request: Request):
        return JSONResponse(lab.state())

    async def runs(request: Request):
        return JSONResponse({"runs": await run_in_threadpool(lab.runs)})

    async def train(request: Request):
        body = await read_json(request)
        name = await run_in_threadpool(lab.train, body.get("config"))
        return JSONResponse({"run": name}, status_code=202)

    async def stop(request: Request):
        lab.stop()
        return JSONResponse({"stopping": True}, status_code=202)

    async def resume(request: Request):
        body = await read_json(request)
        name = await run_in_threadpool(lab.resume, body.get("run"))
        return JSONResponse({"run": name}, status_code=202)

    async def events(request: Request):
        follow = request.query_params.get("follow", "1") != "0"
        position = lab.log.position_after(request.headers.get("last-event-id") or request.query_params.get("since"))

        async def stream():
            nonlocal position
            yield "retry: 1000\n\n"  # EventSource reconnects a second after the server comes back
            quiet_since = time.monotonic()
            while True:
                new, position = lab.log.read(position)
                for event_id, event in new:
                    yield f"id: {event_id}\ndata: {json.dumps(event)}\n\n"
                if not follow:
                    return
                if new:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > 15:  # a comment keeps proxies from closing the stream
                    yield ": still here\n\n"
                    quiet_since = time.monotonic()
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def report(request: Request):
        path = lab.run_path(request.path_params["name"])
        lang = request.query_params.get("lang", "en")
        if lang not in ("en", "ko"):
            raise RequestError(f"lang must be en or ko, got {lang[:20]!r}")
        if not (path / "summary.json").is_file():
            raise RequestError(f"{path.name} has not finished; its report is written once it has", 409)
        out = path / ("report.html" if lang == "en" else "report.ko.html")
        if file_kind(out) is not None:  # a link planted in the run folder would serve any file of the machine
            raise RequestError(f"{path.name}/{out.name} is {file_kind(out)}, not a file simplenn wrote; remove it", 409)
        if not out.exists():
            await run_in_threadpool(write_report, path, out, lang)
        return FileResponse(out, media_type="text/html")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        lab.open()
        try:
            yield
        finally:
            await run_in_threadpool(lab.close)

    routes = [
        Route("/", index),
        Route("/api/setup", setup_route),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/runs", runs),
        Route("/api/train", train, methods=["POST"]),
        Route("/api/stop", stop, methods=["POST"]),
        Route("/api/resume", resume, methods=["POST"]),
        Route("/runs/{name}/report.html", report),
    ]
    return json_app(routes, allowed_hosts, "open the lab as http://127.0.0.1:PORT/ or http://localhost:PORT/",
                    lifespan)


async def read_json(request: Request) -> dict:
    """The request's JSON object body, or `RequestError`."""
    body = await read_body(request, MAX_BODY_BYTES, 'send {"config": {field: value, ...}}')
    try:
        value = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise RequestError("the body is not JSON; send a JSON object") from None
    if not isinstance(value, dict):
        raise RequestError("the body must be a JSON object")
    return value


def write_report(path: Path, out: Path, lang: str) -> None:
    """`simplenn report RUN --lang LANG --out OUT`, in a process of its own (it loads TensorFlow and matplotlib)."""
    done = subprocess.run([sys.executable, "-m", "simplenn.cli", "report", str(path), "--lang", lang, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RequestError(f"simplenn report failed: {(done.stderr.strip().splitlines() or ['no message'])[-1]}", 500)


def serve_lab(runs_dir: str | Path = "runs/lab", host: str = "127.0.0.1", port: int = 8000,
              max_memory: str | None = None, datasets: tuple[str, ...] = ()) -> None:
    """Serve the lab with uvicorn until Ctrl-C; runs are written under `runs_dir`.

    datasets: the user's own data (paths `simplenn train --dataset` accepts) offered beside the catalogue's.
    """
    host, loopback = check_host(host)
    for path in datasets:
        check_dataset_name(path)  # a CSV, npz, IDX file or class folder: one line now, not a failed run later
    check_port(host, port)
    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise SimplennError(f"--runs-dir {runs_dir} is a file; choose a folder")
    if not loopback:
        print(f"warning: listening on {host}: other machines can reach this server and start runs on it")
    print(f"the lab is at http://{host}:{port}/ ; runs are written to {runs_dir} (Ctrl-C stops)", flush=True)
    # Open event streams end within a few seconds of Ctrl-C instead of holding the shutdown.
    run_server(create_app(Lab(runs_dir, max_memory, datasets), host), host, port, graceful_shutdown_s=5)
