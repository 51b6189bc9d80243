"""The systems `simplenn bench` trains, each written the way its own users write it.

Every system trains the same network (n0-100-30-10 by default, ReLU, softmax
cross-entropy averaged over each batch) with Adam at lr 1e-3, batches of 128 and the
same number of epochs on the same data (`X (n, n0)` pixels scaled to 0-1), and returns
a `SystemResult`: the seconds of each epoch and the test accuracy.

- simplenn: `Trainer` and `fit`, as `simplenn train` runs them (He initialisation);
- Keras: a `Sequential` of `Dense` layers and `model.fit`, Keras's defaults otherwise
  (Glorot initialisation, its own shuffling);
- scikit-learn: `MLPClassifier(hidden_layer_sizes=(100, 30), solver="adam", ...)`;
- PyTorch eager: `nn.Sequential`, `torch.optim.Adam`, `CrossEntropyLoss`, batches taken by
  shuffled indices from tensors in memory, He initialisation as simplenn's;
- JAX: the epoch as one jitted `lax.scan` over batches, optax's Adam, He initialisation;
- the post's style: one eager `tf.GradientTape` step per mini-batch from a Python loop.

PyTorch and JAX are optional (`pip install "simplenn-tf[bench]"`); `System.missing` says
which library is absent, and the bench skips that system with that line.

`python -m simplenn.bench.systems` trains one system in a process of its own: it reads
`{"system", "config", "threads", "memory_limit"}` as JSON on stdin and prints the
`SystemResult` as JSON, the last line on stdout. The bench runs every system that way,
so that each run starts as a user's would, with nothing compiled or cached by another.
That process starts as the CLI does, with `simplenn.set_up()`; so that the call comes
before TensorFlow's import, the modules that import TensorFlow are imported inside the
functions that use them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from simplenn.config import Config
from simplenn.errors import SimplennError
from simplenn.machine.memory import MemoryLimit
from simplenn.machine.quiet_tensorflow import set_up

if TYPE_CHECKING:
    from simplenn.training.data import PreparedData

# The eager loop runs at Python speed; beyond this many epochs it would dominate the bench.
EAGER_MAX_EPOCHS = 3
BENCH_EXTRA = 'pip install "simplenn-tf[bench]"'  # the optional peers: PyTorch, JAX and optax


@dataclass
class SystemResult:
    """One system's run: seconds of each epoch (or the mean epoch) and the test score."""

    name: str
    epoch_seconds: list[float]
    samples_per_epoch: int
    test_accuracy: float
    note: str = ""
    epochs_timed: bool = True  # False when the library reports only the mean epoch (scikit-learn)

    @property
    def samples_per_s(self) -> float:
        """Speed without the first epoch, when there is more than one."""
        timed = self.epoch_seconds[1:] or self.epoch_seconds
        return self.samples_per_epoch * len(timed) / sum(timed)

    @property
    def samples_per_s_with_first_epoch(self) -> float:
        return self.samples_per_epoch * len(self.epoch_seconds) / sum(self.epoch_seconds)

    @property
    def first_epoch_extra_s(self) -> float | None:
        """What the first epoch cost beyond a steady one (compilation, warm-up): epoch 1 less the
        median later epoch; None without separate epoch times to compare."""
        if not self.epochs_timed or len(self.epoch_seconds) < 2:
            return None
        return self.epoch_seconds[0] - float(np.median(self.epoch_seconds[1:]))

    def figures(self) -> dict:
        """What a report keeps of this run: its epoch times and the figures drawn from them."""
        return {"epoch_seconds": self.epoch_seconds, "samples_per_s": self.samples_per_s,
                "samples_per_s_with_first_epoch": self.samples_per_s_with_first_epoch,
                "first_epoch_extra_s": self.first_epoch_extra_s, "test_accuracy": self.test_accuracy}


@dataclass(frozen=True)
class System:
    """A system the bench can train: its name in the table, how it trains, what it imports."""

    name: str
    train: Callable[[Config, PreparedData], SystemResult]
    needs: tuple[str, ...] = ()  # modules beyond simplenn's own dependencies

    def missing(self) -> str | None:
        """Why this system cannot run here (one line), or None when it can."""
        absent = [module for module in self.needs if importlib.util.find_spec(module) is None]
        if absent:
            return f"skipped: {' and '.join(absent)} not installed ({BENCH_EXTRA})"
        return None


def bench_simplenn(config: Config, data: PreparedData) -> SystemResult:
    """simplenn's compiled training loop, as `simplenn train` runs it."""
    from simplenn.nn.metrics import loss_and_accuracy
    from simplenn.training.trainer import Trainer, fit

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
                        "glorot init; mean of all epochs", epochs_timed=False)


def bench_pytorch(config: Config, data: PreparedData) -> SystemResult:
    """PyTorch as its tutorials train: eager modules, `torch.optim.Adam`, a loop over batches."""
    import torch

    torch.manual_seed(config.seed)
    layers = config.layers
    modules = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        linear = torch.nn.Linear(n_in, n_out)  # weight (n_out, n_in): PyTorch computes X @ W.T + b
        torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")  # N(0, 2 / n_in), simplenn's He
        torch.nn.init.zeros_(linear.bias)
        modules += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules[:-1])  # the last layer returns logits
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_function = torch.nn.CrossEntropyLoss()  # softmax cross-entropy, mean over the batch
    X = torch.from_numpy(data.train.X.numpy())  # (n, n0), resident: no DataLoader workers
    y = torch.from_numpy(data.train.labels.astype(np.int64))  # (n,) class indices
    shuffle = torch.Generator().manual_seed(config.seed)
    seconds = []
    for _ in range(config.epochs):
        started = time.perf_counter()
        for rows in torch.randperm(len(X), generator=shuffle).split(config.batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(model(X[rows]), y[rows])  # (B, n0) -> logits (B, K) -> ()
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - started)
    with torch.no_grad():
        logits = model(torch.from_numpy(data.test.X.numpy()))  # (n_test, K)
    accuracy = float(np.mean(logits.argmax(1).numpy() == data.test.labels))
    return SystemResult("pytorch eager", seconds, data.train.size, accuracy,
                        f"he init, torch {torch.__version__}, {torch.get_num_threads()} threads")


def bench_jax(config: Config, data: PreparedData) -> SystemResult:
    """JAX as its examples train: pure functions, optax's Adam, the whole epoch one jitted `lax.scan`.

    The last batch of an epoch is padded to the batch size with row 0 and a mask that
    gives the padding no weight, so that every step has one shape (one compilation) and
    the loss is the mean over the real rows, as PyTorch's and simplenn's last batch.
    """
    import jax
    import jax.numpy as jnp
    import optax

    layers, B = config.layers, config.batch_size
    n = data.train.size
    steps = -(-n // B)  # ceil(n / B)
    he_normal = jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal")  # N(0, 2 / n_in), untruncated
    key = jax.random.key(config.seed)
    keys = jax.random.split(key, len(layers))
    params = [(he_normal(k, (n_in, n_out), jnp.float32), jnp.zeros((n_out,), jnp.float32))
              for k, n_in, n_out in zip(keys[1:], layers[:-1], layers[1:])]
    optimizer = optax.adam(config.lr)

    def forward(params, X):
        A = X
        for W, b in params[:-1]:
            A = jax.nn.relu(A @ W + b)  # (B, n_{l-1}) @ (n_{l-1}, n_l) + (n_l,) -> (B, n_l)
        W, b = params[-1]
        return A @ W + b  # logits (B, K)

    def loss_fn(params, X, Y, weight):
        per_example = optax.softmax_cross_entropy(forward(params, X), Y)  # (B,)
        return jnp.sum(weight * per_example) / jnp.sum(weight)  # the mean over real rows

    @jax.jit
    def train_epoch(params, opt_state, X_all, Y_all, epoch_key):
        """One epoch over `X_all (n, n0)`, `Y_all (n, K)`: arguments, not constants of a closure,
        which XLA would copy into the compiled program."""

        def step(carry, batch):
            params, opt_state = carry
            rows, weight = batch  # (B,) indices, (B,) 1 for a real row, 0 for padding
            loss, grads = jax.value_and_grad(loss_fn)(params, X_all[rows], Y_all[rows], weight)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        order = jax.random.permutation(epoch_key, n)  # (n,)
        rows = jnp.zeros(steps * B, order.dtype).at[:n].set(order).reshape(steps, B)
        weight = (jnp.arange(steps * B) < n).astype(jnp.float32).reshape(steps, B)
        (params, opt_state), _ = jax.lax.scan(step, (params, opt_state), (rows, weight))
        return params, opt_state

    X_all, Y_all = jnp.asarray(data.train.X.numpy()), jnp.asarray(data.train.Y.numpy())  # (n, n0), (n, K)
    opt_state = optimizer.init(params)
    seconds = []
    for epoch in range(config.epochs):
        started = time.perf_counter()
        params, opt_state = train_epoch(params, opt_state, X_all, Y_all, jax.random.fold_in(keys[0], epoch))
        jax.block_until_ready(params)  # JAX returns before the work is done
        seconds.append(time.perf_counter() - started)
    logits = jax.jit(forward)(params, jnp.asarray(data.test.X.numpy()))  # (n_test, K)
    accuracy = float(np.mean(np.argmax(np.asarray(logits), 1) == data.test.labels))
    return SystemResult("jax scan", seconds, data.train.size, accuracy,
                        f"he init, jax {jax.__version__}, optax adam, epoch = one jit")


def bench_eager(config: Config, data: PreparedData) -> SystemResult:
    """The post's style: a Python loop calling an eager GradientTape step per mini-batch."""
    from simplenn.nn.metrics import loss_and_accuracy
    from simplenn.training.step import train_eagerly
    from simplenn.training.trainer import Trainer

    epochs = min(config.epochs, EAGER_MAX_EPOCHS)
    trainer = Trainer(config, data.train.size)  # its network and optimizer; not its compiled loop
    network, optimizer = trainer.network, trainer.optimizer
    seconds = []
    for epoch in range(epochs):
        started = time.perf_counter()
        train_eagerly(network, optimizer, config, data.train, epoch + 1, start_epoch=epoch)
        seconds.append(time.perf_counter() - started)
    _, accuracy = loss_and_accuracy(network.forward, data.test, config)
    note = f"{config.init} init"
    if epochs < config.epochs:
        note += f"; only {epochs} epochs (Python speed), so its accuracy is not comparable"
    return SystemResult("post (eager)", seconds, data.train.size, accuracy, note)


SYSTEMS: tuple[System, ...] = (
    System("simplenn", bench_simplenn),
    System("keras fit", bench_keras),
    System("scikit-learn", bench_sklearn),
    System("pytorch eager", bench_pytorch, needs=("torch",)),
    System("jax scan", bench_jax, needs=("jax", "optax")),
    System("post (eager)", bench_eager),
)


def limit_threads(threads: int | None) -> None:
    """Run TensorFlow's and PyTorch's arithmetic on `threads` threads (None: their defaults).

    Call before TensorFlow's first op, which fixes its thread pools. The BLAS under
    scikit-learn is limited by `threadpoolctl` around the runs; JAX's XLA keeps its own pool.
    """
    if threads is None:
        return
    from simplenn.machine.quiet_tensorflow import tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(threads)


def train_requested_system(request: dict) -> SystemResult:
    """Train the system `request` names, on the data its config names: the work of one process."""
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    from simplenn.training.data import prepare_data

    limit_threads(request["threads"])
    config = Config.from_dict(request["config"])
    data = prepare_data(config, MemoryLimit(**request["memory_limit"]))
    [system] = [system for system in SYSTEMS if system.name == request["system"]]
    with threadpool_limits(request["threads"]):
        return system.train(config, data)


def main() -> int:
    set_up(one_command=True)  # as the CLI does: TensorFlow loads quietly, with XLA's cache
    try:
        result = train_requested_system(json.load(sys.stdin))
    except SimplennError as error:
        print(error, file=sys.stderr)
        return 2
    print(json.dumps(dataclasses.asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
