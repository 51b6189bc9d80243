"""`simplenn bench`: how fast simplenn trains the post's network, next to the usual tools.

In one process, on the same data (pixels scaled to 0-1, `X (n, n0)`) and the same
network (n0-100-30-10, ReLU, softmax cross-entropy averaged over each batch), with Adam
at lr 1e-3, batches of 128 and the same number of epochs, it trains

- simplenn: `bench_config()` (He initialisation, the compiled loop), through `fit`;
- Keras: a `Sequential` of `Dense` layers and `model.fit`, Keras's defaults otherwise
  (Glorot initialisation, its own shuffling);
- scikit-learn: `MLPClassifier(hidden_layer_sizes=(100, 30), solver="adam", ...)`;
- the post's style: one eager `tf.GradientTape` step per mini-batch from a Python loop;

and measures how fast this machine multiplies matrices of the network's shapes, which
bounds every system: a training step cannot beat its own matrix products.

Speeds leave out the first epoch, which compiles TensorFlow's graphs and warms caches
(`samples_per_s_with_first_epoch` keeps it). scikit-learn compiles nothing and reports
no per-epoch times, so its speed is that of all its epochs.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from simplenn.quiet_tensorflow import tf  # `import tensorflow as tf`, quietly

from simplenn.config import Config, fit_to_data
from simplenn.data import PreparedData, prepare_data
from simplenn.memory import MemoryLimit
from simplenn.metrics import loss_and_accuracy
from simplenn.training import Trainer, fit, train_step

# The eager loop runs at Python speed; beyond this many epochs it would dominate the bench.
EAGER_MAX_EPOCHS = 3


def bench_config(dataset: str, epochs: int, seed: int) -> Config:
    """What every system trains, every field spelled out so that tuning a preset leaves
    the bench alone: the post's network on scaled inputs, softmax cross-entropy averaged
    over batches of 128, He initialisation, Adam at a constant lr 1e-3 and no
    regularisation, as Keras and scikit-learn do by default."""
    return Config(
        preset="bench", dataset=dataset, layers=(784, 100, 30, 10), activation="relu", init="he",
        dropout=0.0, scale_inputs=True, loss="softmax", reduction="mean", label_smoothing=0.0,
        weight_decay=0.0, optimizer="adam", lr=1e-3, schedule="constant", warmup_epochs=0.0,
        clip_norm=0.0, batch_size=128, validation_split=0.0, patience=0, grad="tape",
        jit_compile=True, epochs=epochs, seed=seed,
    )


def forward_flops(layers) -> int:
    """Multiply-adds of one example's forward pass, counted as 2 FLOPs: 2 sum n_in n_out."""
    return 2 * sum(n_in * n_out for n_in, n_out in zip(layers[:-1], layers[1:]))


def backward_flops(layers) -> int:
    """One example's backward pass: dW_l = A_{l-1}^T dZ_l and dA_{l-1} = dZ_l W_l^T for
    every layer, twice the forward, less dX = dZ_1 W_1^T, which nothing needs."""
    return 2 * forward_flops(layers) - 2 * layers[0] * layers[1]


def training_flops(layers) -> int:
    """FLOPs of the matrix products that train on one example (biases and activations,
    a few hundred FLOPs, are left out)."""
    return forward_flops(layers) + backward_flops(layers)


@dataclass
class SystemResult:
    """One system's run: seconds of each epoch (or the mean epoch) and the test score."""

    name: str
    epoch_seconds: list[float]
    samples_per_epoch: int
    test_accuracy: float
    note: str = ""

    @property
    def samples_per_s(self) -> float:
        """Speed without the first epoch, when there is more than one."""
        timed = self.epoch_seconds[1:] or self.epoch_seconds
        return self.samples_per_epoch * len(timed) / sum(timed)

    @property
    def samples_per_s_with_first_epoch(self) -> float:
        return self.samples_per_epoch * len(self.epoch_seconds) / sum(self.epoch_seconds)


def bench_simplenn(config: Config, data: PreparedData) -> SystemResult:
    """simplenn's compiled training loop, as `simplenn train` runs it."""
    trainer = Trainer(config, data.train.size, data.image_shape)
    history = fit(trainer, data.train, log=lambda line: None)
    _, accuracy = loss_and_accuracy(trainer.forward, data.test, config)
    return SystemResult("simplenn", [r.seconds for r in history], data.train.size, accuracy,
                        f"{config.init} init, compiled loop")


def bench_keras(config: Config, data: PreparedData) -> SystemResult:
    """`keras.Sequential` + `compile` + `fit`, timed epoch by epoch by a callback."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    keras.utils.set_random_seed(config.seed)
    layers = config.layers
    model = keras.Sequential(
        [keras.Input((layers[0],))]
        + [keras.layers.Dense(n, activation=config.activation) for n in layers[1:-1]]
        + [keras.layers.Dense(layers[-1])]  # logits, as in simplenn
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config.lr),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    timer = EpochTimer()
    model.fit(data.train.X.numpy(), data.train.Y.numpy(), batch_size=config.batch_size,
              epochs=config.epochs, shuffle=True, verbose=0, callbacks=[timer])
    logits = model.predict(data.test.X.numpy(), batch_size=10_000, verbose=0)  # (n, K)
    accuracy = float(np.mean(np.argmax(logits, 1) == data.test.labels))
    return SystemResult("keras fit", timer.seconds, data.train.size, accuracy, "glorot init, Keras defaults")


def bench_sklearn(config: Config, data: PreparedData) -> SystemResult:
    """`MLPClassifier` with the same layers, optimizer, batch and epochs, on float32 data."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=config.layers[1:-1], activation=config.activation, solver="adam",
        batch_size=config.batch_size, learning_rate_init=config.lr, max_iter=config.epochs,
        shuffle=True, random_state=config.seed,
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the epoch budget here
        model.fit(data.train.X.numpy(), data.train.labels)
    seconds = time.perf_counter() - started
    accuracy = float(model.score(data.test.X.numpy(), data.test.labels))
    epochs = model.n_iter_
    return SystemResult("scikit-learn", [seconds / epochs] * epochs, data.train.size, accuracy,
                        "glorot init; mean of all epochs")


def bench_eager(config: Config, data: PreparedData) -> SystemResult:
    """The post's style: a Python loop calling an eager GradientTape step per mini-batch."""
    epochs = min(config.epochs, EAGER_MAX_EPOCHS)
    trainer = Trainer(config, data.train.size)  # its network and optimizer; not its compiled loop
    network, optimizer = trainer.network, trainer.optimizer
    order_of = np.random.default_rng(config.seed).permutation
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = order_of(data.train.size)
        for first in range(0, data.train.size, config.batch_size):
            rows = order[first : first + config.batch_size]
            X, Y = tf.gather(data.train.X, rows), tf.gather(data.train.Y, rows)  # (B, n0), (B, K)
            train_step(network, optimizer, config, X, Y, step_seed=None)
        seconds.append(time.perf_counter() - started)
    _, accuracy = loss_and_accuracy(network.forward, data.test, config)
    note = f"{config.init} init"
    if epochs < config.epochs:
        note += f"; only {epochs} epochs (Python speed), so its accuracy is not comparable"
    return SystemResult("post (eager)", seconds, data.train.size, accuracy, note)


def matmul_gflops(layers, batch_size: int, steps: int = 32, repeats: int = 20) -> float:
    """GFLOP/s of one training step's matrix products on `batch_size` rows, best of runs.

    Each step multiplies `A_{l-1} (B, n_{l-1}) @ W_l (n_{l-1}, n_l)` forward,
    `A_{l-1}^T @ dZ_l` for every weight gradient and `dZ_l @ W_l^T` for every input
    gradient but the first: exactly `training_flops(layers) * B`. The faster of
    TensorFlow's two CPU paths (XLA, and oneDNN without it) counts.
    """
    random = tf.random.Generator.from_seed(0)
    A0 = random.uniform((batch_size, layers[0]))
    Ws = [random.normal((n_in, n_out)) for n_in, n_out in zip(layers[:-1], layers[1:])]
    dZs = [random.normal((batch_size, n_out)) for n_out in layers[1:]]

    def products(A0, Ws, dZs):
        total = tf.zeros(())
        for _ in tf.range(steps):
            A = [A0 + total]  # depends on the last step, so no step can be skipped
            for W in Ws:
                A.append(tf.matmul(A[-1], W))  # (B, n_{l-1}) @ (n_{l-1}, n_l) -> (B, n_l)
            dWs = [tf.matmul(A_in, dZ, transpose_a=True) for A_in, dZ in zip(A[:-1], dZs)]
            dAs = [tf.matmul(dZ, W, transpose_b=True) for dZ, W in zip(dZs[1:], Ws[1:])]
            # Every product is summed whole: XLA would skip any part that nothing reads.
            total += 1e-30 * tf.add_n([tf.reduce_sum(M) for M in A[1:] + dWs + dAs])
        return total

    best = float("inf")
    for jit_compile in (True, False):
        compiled = tf.function(products, jit_compile=jit_compile)
        compiled(A0, Ws, dZs).numpy()  # compile
        for _ in range(repeats):
            started = time.perf_counter()
            compiled(A0, Ws, dZs).numpy()
            best = min(best, time.perf_counter() - started)
    return training_flops(layers) * batch_size * steps / best / 1e9


SYSTEMS: dict[str, Callable[..., SystemResult]] = {
    "simplenn": bench_simplenn,
    "keras": bench_keras,
    "sklearn": bench_sklearn,
    "eager": bench_eager,
}


def run_bench(dataset: str = "fashion-mnist", epochs: int = 5, seed: int = 0, threads: int | None = None,
              log: Callable[[str], None] = print, memory_limit: MemoryLimit | None = None) -> dict:
    """Train every system on `dataset` and return the report that `format_table` prints.

    threads: run every system's arithmetic on this many threads (TensorFlow's pools and
    the BLAS under scikit-learn); None keeps each library's default. On a machine shared
    with other work, threads that wait for each other can slow a library tenfold.
    memory_limit: as for `train_and_evaluate` (default: half the available memory).
    """
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    if threads is not None:  # before TensorFlow's first op, which fixes its thread pools
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    config = bench_config(dataset, epochs, seed)
    data = prepare_data(config, memory_limit)
    config = fit_to_data(config, data.n_features, data.n_classes, layers_given=False)
    load_before = os.getloadavg()[0]
    results = []
    with threadpool_limits(threads):
        for name, bench in SYSTEMS.items():
            log(f"training {name} ...")
            results.append(bench(config, data))
    log("measuring matmul speed ...")
    gflops = matmul_gflops(config.layers, config.batch_size)
    machine = {"cpus": os.cpu_count(), "threads": threads, "load_average_before": load_before,
               "load_average_after": os.getloadavg()[0], "tensorflow": tf.__version__}
    return bench_report(config, data.train.size, results, gflops, machine)


def bench_report(config: Config, n_train: int, results: list[SystemResult], gflops: float, machine: dict) -> dict:
    """The report of `results` (simplenn's first), measured at `gflops` GFLOP/s of matmuls."""
    flops = training_flops(config.layers)
    simplenn = results[0].samples_per_s
    systems = {}
    for result in results:
        systems[result.name] = {
            "samples_per_s": result.samples_per_s,
            "samples_per_s_with_first_epoch": result.samples_per_s_with_first_epoch,
            "test_accuracy": result.test_accuracy,
            "epochs": len(result.epoch_seconds),
            "epoch_seconds": result.epoch_seconds,
            "simplenn_speedup": simplenn / result.samples_per_s,
            "fraction_of_flop_bound": result.samples_per_s * flops / (gflops * 1e9),
            "note": result.note,
        }
    return {
        "dataset": config.dataset,
        "n_train": n_train,
        "layers": list(config.layers),
        "batch_size": config.batch_size,
        "optimizer": f"{config.optimizer} lr {config.lr:g}",
        "epochs": config.epochs,
        "timing": "samples_per_s leaves out epoch 1 (compilation, warm-up) when there are more",
        "flops_per_sample": {"forward": forward_flops(config.layers),
                             "backward": backward_flops(config.layers), "training": flops},
        "matmul_gflops": gflops,
        "flop_bound_samples_per_s": gflops * 1e9 / flops,
        "systems": systems,
        "machine": machine,
    }


def format_table(report: dict) -> str:
    """The report as the table `simplenn bench` prints."""
    layers = "-".join(map(str, report["layers"]))
    machine = report["machine"]
    lines = [
        f"{report['dataset']}: {report['n_train']:,} training images, {layers}, {report['optimizer']}, "
        f"batch {report['batch_size']}, {report['epochs']} epochs",
        f"samples/s leave out epoch 1 (compilation and warm-up); {machine['cpus']} CPUs, "
        f"threads: {machine['threads'] or 'library defaults'}, load average {machine['load_average_before']:.1f} before, "
        f"{machine['load_average_after']:.1f} after; TensorFlow {machine['tensorflow']}",
        "",
        f"{'system':<14}{'samples/s':>11}{'with ep. 1':>12}{'test acc':>10}{'simplenn is':>13}"
        f"{'FLOP bound':>12}  note",
    ]
    for name, s in report["systems"].items():
        lines.append(
            f"{name:<14}{s['samples_per_s']:>11,.0f}{s['samples_per_s_with_first_epoch']:>12,.0f}"
            f"{100 * s['test_accuracy']:>9.2f}%{s['simplenn_speedup']:>12.2f}x"
            f"{100 * s['fraction_of_flop_bound']:>11.0f}%  {s['note']}"
        )
    lines.append(
        f"{'FLOP bound':<14}{report['flop_bound_samples_per_s']:>11,.0f}{'':>35}{100:>11}%  "
        f"matmuls of these shapes at {report['matmul_gflops']:.0f} GFLOP/s, "
        f"{report['flops_per_sample']['training']:,} FLOPs per sample"
    )
    return "\n".join(lines)


