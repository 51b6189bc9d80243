"""One `simplenn lab` run, in a process of its own, reporting as it trains.

    python -m simplenn.serving.lab_run FD      # FD: the file descriptor events are written to

The lab's server starts this process before anyone presses Train, so that TensorFlow is
loaded by then. It reads one job, a JSON line on stdin, trains it with
`train_and_evaluate` into a normal run folder, and writes events, one JSON object a line,
to FD; then it exits and the server starts the next one. A job is

    {"action": "train", "config": {...Config fields...}, "run_dir": "...", "max_memory": "8G" or null}
    {"action": "resume", "run_dir": "...", "max_memory": "8G" or null}

and the events, in order: `ready`; `started` (the run's shape, its test images);
`progress` after each chunk of steps that `fit` runs (the epoch's running loss and
accuracy, and `diagnose.measure`'s figures for the weights as they are now); `epoch`
with each `EpochRecord`; then `finished` and `diagnosis` (`run_checks` in words), or
`stopped`, or `failed` with the one-line message of the error. SIGINT stops the run as
it stops `simplenn train`: a checkpoint after the current chunk, then `stopped`.
Everything shown in the page is computed here, by the run.
"""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import sys
import time

import numpy as np

from simplenn.machine.quiet_tensorflow import set_up

# The engine's modules import TensorFlow, so each function imports them where it needs them,
# after `main` has called `set_up`.

MEASURE_EVERY_S = 0.25  # at most this often inside an epoch; always at an epoch's end
TEST_IMAGES = 10  # test images whose current prediction is shown
WEIGHT_IMAGES = 16  # first-layer units whose weights are drawn


def finite_or_none(value):
    """`value` with every float that is not finite replaced by None: JSON has no NaN or inf."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


class Events:
    """The event stream to the server: one JSON object a line."""

    def __init__(self, stream):
        self.stream = stream
        self.server_gone = False

    def send(self, kind: str, **fields) -> None:
        if self.server_gone:
            return
        try:
            self.stream.write(json.dumps(finite_or_none({"type": kind, **fields}), allow_nan=False) + "\n")
            self.stream.flush()
        except (BrokenPipeError, OSError):
            # The server is gone: stop the run as Ctrl-C would, with a checkpoint, so it can be resumed.
            self.server_gone = True
            signal.raise_signal(signal.SIGINT)


def as_pixels(images: np.ndarray) -> str:
    """Images `(n, h, w)` of 0-255 values as base64 of their uint8 bytes, row by row."""
    return base64.b64encode(np.clip(np.nan_to_num(images), 0, 255).astype(np.uint8).tobytes()).decode("ascii")


def weight_images(W1: np.ndarray, image_shape: tuple[int, int], count: int = WEIGHT_IMAGES) -> np.ndarray:
    """The first `count` columns of `W1 (n0, n1)` as images `(count, h, w)` of 0-255:
    128 is a weight of 0, each unit scaled by its own largest |w|; a weight that is not finite is 0."""
    W = np.nan_to_num(W1[:, :count].T.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)  # (count, n0)
    largest = np.maximum(np.abs(W).max(axis=1, keepdims=True), 1e-30)
    return (128 + 127 * W / largest).reshape(-1, *image_shape)


class Watcher:
    """The `on_chunk` and `on_epoch` of one run: measures the trainer and sends what it finds."""

    def __init__(self, events: Events, data, run_dir: str | None, resumed: bool):
        from simplenn.explain.diagnose import SAMPLE_SIZE

        self.events = events
        self.data = data
        self.run_dir = run_dir
        self.sample = data.train.first(SAMPLE_SIZE)
        self.test = data.test.first(TEST_IMAGES)
        self.batch = None  # the diagnosis batch, `diagnose`'s: the first batch_size training rows
        self.previous_weights = None  # W_l at the last measurement, for the update ratio
        self.previous_step = 0
        self.measured_at = -math.inf  # the first chunk is always measured
        self.resumed = resumed  # a resumed run's weights before its first chunk are not known here

    def start(self, trainer) -> None:
        """On the first chunk: the batch, the weights before it, and the `started` event."""
        from simplenn.nn.network import initial_params
        from simplenn.runs.run_directory import RunDirectory

        config = trainer.config
        self.batch = self.data.train.first(trainer.batch_size)
        if not self.resumed:  # the weights before the first step, as the seed drew them
            starts = initial_params(config.layers, config.init, config.init_stddev, config.seed)
            self.previous_weights = [W.numpy() for W in starts[0::2]]
            self.previous_step = 0
        h, w = self.data.image_shape
        history = RunDirectory(self.run_dir).read_history() if self.run_dir else []  # a resumed run's epochs so far
        test_images = self.test.X.numpy() * (255.0 if config.scale_inputs else 1.0)
        self.events.send(
            "started", run=self.run_dir and os.path.basename(self.run_dir), config=config.to_dict(), epochs=config.epochs,
            steps_per_epoch=trainer.steps_per_epoch, batch_size=trainer.batch_size, n_train=self.data.train.size,
            image_shape=[h, w], class_names=list(self.data.class_names),
            test_images=as_pixels(test_images.reshape(-1, h, w)), test_labels=self.test.labels.tolist(),
            history=[record.__dict__ for record in history],
        )

    def on_chunk(self, trainer) -> None:
        if self.batch is None:
            self.start(trainer)
        end_of_epoch = int(trainer.step_in_epoch.numpy()) == trainer.steps_per_epoch
        if end_of_epoch or time.perf_counter() - self.measured_at >= MEASURE_EVERY_S:
            self.send_progress(trainer)

    def on_epoch(self, trainer, record) -> None:
        self.events.send("epoch", **record.__dict__)

    def send_progress(self, trainer) -> None:
        """The running figures of the epoch and `diagnose.measure`'s on the weights as they are now."""
        from simplenn.explain.diagnose import measure, update_ratio
        from simplenn.nn.network import class_scores

        config = trainer.config
        state = measure(trainer, self.batch, self.sample)
        weights = [W.numpy() for W in trainer.network.weights]
        step = trainer.global_step
        ratios = [None] * len(weights)
        if self.previous_weights is not None:
            ratios = [update_ratio(before, after) for before, after in zip(self.previous_weights, weights)]
        steps = step - self.previous_step
        self.previous_weights, self.previous_step = weights, step
        logits = trainer.forward(self.test.X).numpy()  # (TEST_IMAGES, K)
        scores = class_scores(logits, config.loss).numpy()
        predicted = np.argmax(logits, axis=1)
        loss, accuracy = trainer.epoch_statistics()
        # epoch_statistics is of the epoch so far; at its end step_in_epoch == steps_per_epoch
        epoch, in_epoch = int(trainer.epoch.numpy()), int(trainer.step_in_epoch.numpy())
        self.events.send(
            "progress",
            x=epoch + in_epoch / trainer.steps_per_epoch, epoch=epoch + 1, step=step, steps=steps,
            loss=loss, accuracy=accuracy, lr=trainer.learning_rate(),
            layers=[{"layer": l.layer, "shape": list(l.shape), "dead_fraction": l.dead_fraction,
                     "gradient_norm": l.gradient_norm, "weight_norm": l.weight_norm, "update_ratio": ratio}
                    for l, ratio in zip(state.layers, ratios)],
            overflowing_logits=state.overflowing_logits, nonfinite_logits=state.nonfinite_logits,
            max_abs_logit=state.max_abs_logit, saturated_outputs=state.saturated_outputs,
            weights=as_pixels(weight_images(weights[0], self.data.image_shape)),
            predictions=predicted.tolist(), confidences=scores[np.arange(len(predicted)), predicted].tolist(),
        )
        self.measured_at = time.perf_counter()


def run_job(job: dict, events: Events) -> None:
    """Train or resume the job's run, sending its events; every error ends as `failed` or `stopped`."""
    from simplenn.config import Config
    from simplenn.training.data import prepare_data
    from simplenn.errors import SimplennError
    from simplenn.runs.experiment import train_and_evaluate
    from simplenn.runs.interruption import TrainingInterrupted
    from simplenn.machine.memory import MemoryLimit
    from simplenn.runs.run_directory import RunDirectory

    run_dir = job["run_dir"]
    resume = job["action"] == "resume"
    memory_limit = MemoryLimit.of(job.get("max_memory"))  # half of what is available now, unless the lab was given one
    try:
        config = RunDirectory(run_dir).open().read_config() if resume else Config.from_dict(job["config"])
        data = prepare_data(config, memory_limit)  # checks the memory the run needs before anything is trained
        watcher = Watcher(events, data, run_dir, resumed=resume)
        summary = train_and_evaluate(
            config, run_dir=run_dir, resume=resume, data=data, live_progress=True,
            log=lambda line: events.send("log", line=line), memory_limit=memory_limit,
            on_chunk=watcher.on_chunk, on_epoch=watcher.on_epoch,
        )
    except TrainingInterrupted as stop:
        events.send("stopped", message=str(stop))
        return
    except KeyboardInterrupt:  # before training began: nothing was written that a resume could use
        events.send("stopped", message="stopped before the first step; nothing to resume")
        return
    except SimplennError as error:  # TrainingDiverged, a memory limit, a dataset that cannot be read, ...
        events.send("failed", error=str(error))
        return
    events.send("finished", test_accuracy=summary["test_accuracy"], train_accuracy=summary["train_accuracy"],
                train_seconds=summary["train_seconds"], weights_sha256=summary["weights_sha256"])
    send_diagnosis(run_dir, events)


def send_diagnosis(run_dir: str, events: Events) -> None:
    """`run_checks`'s findings on the finished run, in words, English and Korean."""
    from simplenn.runs.loaded_run import load_run
    from simplenn.explain.run_checks import check_run

    run = load_run(run_dir)
    evaluation = run.evaluate()
    findings = check_run(run, evaluation)
    events.send("diagnosis", test_accuracy=evaluation.accuracy,
                findings=[{"problem": {"en": f.problem, "ko": f.problem_ko}, "fix": {"en": f.fix, "ko": f.fix_ko}}
                          for f in findings])


class WarmedUp(Exception):
    """Raised by `warm_up`'s watcher after its first measurement: the rest of the run is not needed."""


def warm_up() -> None:
    """The first chunk of each preset on digits, watched as a lab run is and written nowhere.

    A process pays TensorFlow's first-call costs once (the first trace, the first eager
    gradient, XLA compiling a config's steps, which its cache then keeps on disk): here,
    before anyone presses Train, rather than between the click and the first point.
    """
    from simplenn.config import preset
    from simplenn.runs.experiment import train_and_evaluate
    from simplenn.training.data import prepare_data

    def stop_after_first(trainer) -> None:
        watcher.on_chunk(trainer)
        raise WarmedUp

    with open(os.devnull, "w") as nowhere:
        for name in ("blog", "fixed"):
            config = preset(name).replace(dataset="digits")
            data = prepare_data(config)
            watcher = Watcher(Events(nowhere), data, run_dir=None, resumed=False)
            try:
                train_and_evaluate(config, data=data, live_progress=True, log=lambda line: None,
                                   on_chunk=stop_after_first)
            except WarmedUp:
                pass


def main() -> int:
    stream = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    events = Events(stream)
    try:
        set_up(one_command=True)  # as the CLI does: TensorFlow loads quietly, with XLA's cache
        warm_up()
        events.send("ready", pid=os.getpid())
        line = sys.stdin.readline()
        if not line:  # the server closed: no job
            return 0
        run_job(json.loads(line), events)
    except KeyboardInterrupt:  # Ctrl-C while waiting for a job
        return 0
    except Exception as error:  # a bug: say what it was, so the page does not wait for ever
        events.send("failed", error=f"internal error in the lab's run ({type(error).__name__}: {error}); "
                                    "this is a bug in simplenn")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
