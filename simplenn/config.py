"""One frozen config for a training run, and the named presets.

`Config` is the single source of every training setting: each field carries its help
text, its limits and its flag in its metadata, and the CLI's flags, the presets, the
checkpoint metadata and every report are built from it. A preset is a named `Config`,
never a separate code path. A run directory stores `config.json`, and `--resume`
rebuilds the run from it. Adding a knob means adding one field here and using it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from simplenn.errors import SimplennError

ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid")
INITIALIZERS = ("normal", "he", "glorot")
LOSSES = ("sigmoid", "softmax")
REDUCTIONS = ("sum", "mean")
PRECISIONS = ("float32", "mixed_bfloat16")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
GRADIENTS = ("tape", "manual")
STRATEGIES = ("default", "mirrored", "multiworker")  # see distribution.py

# The groups `simplenn train --help` shows the flags in, in this order.
GROUPS = ("data", "network", "optimisation", "regularisation", "run")

# A field's limits: (test, what the value must be). Floats must also be finite.
LIMITS = {
    "positive": (lambda v: v > 0, "must be a positive {kind}"),
    "non_negative": (lambda v: v >= 0, "must be 0 or more"),
    "fraction": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "gamma": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
}
MAX_SEED = 2**63 - 1  # TensorFlow's stateless seeds are int64
MAX_EPOCHS = 100_000  # a typo guard: a million epochs of anything is not a plan


class ConfigError(SimplennError):
    """A field of a `Config` that makes no sense: `field`, and what is wrong with it."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def knob(default: Any, help: str, group: str, *, limit: str | None = None, choices: tuple[str, ...] = (),
         maximum: float | None = None, flags: tuple[str, ...] = (), whole_run: bool = False) -> Any:
    """A `Config` field with what the CLI and `validate` need to know about it.

    flags: the flag names, `--field-name` by default; a bool field gets a pair that
    turns it on and off, `(--name, --no-name)` by default.
    whole_run: the field governs a whole training run (when it stops, what it keeps), not
    what a step computes, so commands that take a few steps (`diagnose`) offer no flag for it.
    """
    metadata = {"help": help, "group": group, "limit": limit, "choices": choices,
                "maximum": maximum, "flags": flags, "whole_run": whole_run}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    """Everything that decides what a run computes.

    `layers` lists the sizes of every layer, input first: `(784, 100, 30, 10)` is the
    post's network, with weight matrices `W1 (784, 100)`, `W2 (100, 30)`, `W3 (30, 10)`.
    """

    preset: str = knob("custom", "the named config to start from; the other flags change it", "run")
    dataset: str = knob("digits", "digits, mnist, fashion-mnist, kmnist, emnist-letters, emnist-balanced, "
                        "emnist-digits, or a path: a folder of IDX files, a .npz, a .csv or a folder of them, "
                        "or a folder of class folders of images", "data")
    # Network
    layers: tuple[int, ...] = knob((784, 100, 30, 10), "layer sizes, input first, e.g. 784,100,30,10; without "
                                   "the class count at the end the data adds it", "network")
    activation: str = knob("relu", "hidden-layer activation", "network", choices=ACTIVATIONS)
    init: str = knob("normal", "weight initialiser", "network", choices=INITIALIZERS)
    init_stddev: float = knob(0.1, "standard deviation for --init normal (the post's 0.1)", "network",
                              limit="positive")
    dropout: float = knob(0.0, "fraction of hidden units dropped while training", "regularisation",
                          limit="fraction")
    # Data
    scale_inputs: bool = knob(False, "divide pixels by 255, or feed raw 0-255 pixels as the post does",
                              "data", flags=("--scale-inputs", "--raw-inputs"))
    # Data that comes as one file or one folder of class folders has no test split of its own.
    test_split: float = knob(0.2, "fraction held out for testing when the dataset is one CSV or one folder of "
                             "class folders (always the same examples); 0 trains on every example and gives "
                             "no test score", "data", limit="fraction")
    image_size: int = knob(28, "side in pixels that images in class folders are resized to", "data",
                           limit="positive", maximum=1024)
    validation_split: float = knob(0.0, "fraction of the training images held out for early stopping", "data",
                                   limit="fraction")
    # Augmentation: each training step sees moved or mirrored images; evaluation never does
    flip_images: bool = knob(False, "mirror each training image left to right with probability 1/2",
                             "regularisation")
    shift_pixels: int = knob(0, "move each training image by up to this many pixels per axis", "regularisation",
                             limit="non_negative")
    # Loss
    loss: str = knob("sigmoid", "sigmoid: the post's ten yes/no outputs; softmax: one class of ten",
                     "optimisation", choices=LOSSES)
    reduction: str = knob("sum", "sum the loss over the batch (the post) or average it", "optimisation",
                          choices=REDUCTIONS)
    label_smoothing: float = knob(0.0, "move this much of each target's mass to uniform", "regularisation",
                                  limit="fraction")
    weight_decay: float = knob(0.0, "L2 penalty for sgd/momentum/adam, decoupled decay for adamw",
                               "regularisation", limit="non_negative")
    # Optimisation
    optimizer: str = knob("sgd", "Keras optimizer", "optimisation", choices=OPTIMIZERS)
    lr: float = knob(0.01, "learning rate (the peak learning rate with a schedule)", "optimisation",
                     limit="positive")
    momentum: float = knob(0.9, "momentum for --optimizer momentum or nesterov", "optimisation", limit="fraction")
    schedule: str = knob("constant", "learning-rate schedule", "optimisation", choices=SCHEDULES)
    warmup_epochs: float = knob(0.0, "linear warm-up, for cosine and onecycle", "optimisation",
                                limit="non_negative", maximum=MAX_EPOCHS)
    step_every_epochs: int = knob(10, "for --schedule step: lr *= step-gamma every this many epochs",
                                  "optimisation", limit="positive", maximum=MAX_EPOCHS)
    step_gamma: float = knob(0.1, "for --schedule step: the factor", "optimisation", limit="gamma")
    clip_norm: float = knob(0.0, "clip the global gradient norm to this; 0 turns clipping off", "optimisation",
                            limit="non_negative")
    batch_size: int = knob(0, "rows per step; 0 = the whole training set in one step, as in the post",
                           "optimisation", limit="non_negative")
    epochs: int = knob(5, "number of epochs", "optimisation", limit="positive", maximum=MAX_EPOCHS)
    patience: int = knob(0, "early stopping after this many epochs without a better validation accuracy; "
                         "0 turns it off", "regularisation", limit="non_negative", whole_run=True)
    grad: str = knob("tape", "tape: tf.GradientTape; manual: the chain rule written out", "optimisation",
                     choices=GRADIENTS)
    # None ("auto"): XLA when the run's arithmetic pays back compiling it (`training.uses_xla`).
    jit_compile: bool | None = knob(None, "compile steps with XLA, or run them as plain graphs; neither flag: "
                                    "XLA when the run is large enough to pay back compiling", "run",
                                    flags=("--xla", "--no-xla"))
    # Keras's mixed_bfloat16 policy: bfloat16 halves the bytes a matmul reads and uses the
    # CPU's AVX512_BF16 or a GPU's tensor cores; float32 master weights keep small updates.
    precision: str = knob("float32", "mixed_bfloat16: matmuls and activations in bfloat16, weights, loss, "
                          "gradients and optimizer state in float32", "run", choices=PRECISIONS)
    seed: int = knob(0, "seed for initial weights, shuffling, augmentation and dropout", "run",
                     limit="non_negative", maximum=MAX_SEED)
    # Durability
    checkpoint_every_steps: int = knob(0, "also checkpoint inside epochs, every this many steps; 0 = once per "
                                       "epoch", "run", limit="non_negative", whole_run=True)
    max_to_keep: int = knob(3, "how many of the newest checkpoints to keep", "run", limit="positive",
                            whole_run=True)
    # Devices: where the steps run. The global batch is `batch_size` whatever the replica count.
    strategy: str = knob("default", "default: one device; mirrored: every local GPU, or --cpu-devices logical CPUs; "
                         "multiworker: the workers named in TF_CONFIG", "run", choices=STRATEGIES, whole_run=True)
    cpu_devices: int = knob(0, "for --strategy mirrored on a machine without GPUs: split the CPU into this many "
                            "logical devices; 0 = leave it whole", "run", limit="non_negative", maximum=64,
                            whole_run=True)
    # Presets that exist to show a failure do not stop on NaN; they warn and carry on.
    stop_on_nan: bool = knob(True, "stop when the loss becomes NaN or infinite, or warn and carry on as the "
                             "blog preset does", "run", whole_run=True)

    def __post_init__(self) -> None:
        if isinstance(self.layers, list):  # a notebook's [784, 100, 30, 10] means the same
            object.__setattr__(self, "layers", tuple(self.layers))
        self.validate()

    @property
    def augments(self) -> bool:
        """Whether training steps see moved or mirrored images."""
        return self.flip_images or self.shift_pixels > 0

    def replace(self, **changes: Any) -> "Config":
        """A copy with `changes` applied and validated."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise SimplennError(f"unknown config field(s) {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["layers"] = list(self.layers)
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        """The config a run's config.json holds; fields it lacks take their defaults."""
        if not isinstance(values, dict):
            raise SimplennError(f"a config must be a JSON object of fields, got {type(values).__name__}")
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SimplennError(f"config has unknown field(s) {', '.join(unknown)}")
        return cls(**values)

    def validate(self) -> None:
        """Raise `ConfigError` naming the first field that makes no sense.

        Each field is checked against its type and the limits in its metadata; then the
        rules that tie fields together.
        """
        for field in dataclasses.fields(self):
            _check_field(field, getattr(self, field.name))
        for size in self.layers:
            _require(
                isinstance(size, int) and not isinstance(size, bool) and size > 0, "layers",
                f"must be positive integers, got {size!r} in {','.join(map(str, self.layers))}",
            )
        _require(len(self.layers) >= 2, "layers",
                 "needs at least an input and an output size, e.g. 784,100,30,10")
        _require(self.precision == "float32" or self.grad == "tape", "precision",
                 f"{self.precision} needs --grad tape: the hand-written gradients are float32 only")
        _require(self.patience == 0 or self.validation_split > 0, "patience",
                 "needs a validation split for early stopping, e.g. --validation-split 0.1")
        _require(self.cpu_devices == 0 or self.strategy == "mirrored", "cpu_devices",
                 "splits the CPU for --strategy mirrored; add --strategy mirrored or drop --cpu-devices")
        if self.strategy != "default":
            # Keras 3 clips each replica's gradients, then sums them (its TF optimizer's _backend_update_step);
            # clipping before the sum is "usually wrong" (tensorflow/tensorflow#33929).
            _require(self.clip_norm == 0, "clip_norm", f"would be applied to each replica's part of the gradient "
                     f"under --strategy {self.strategy}, not to the whole; use --clip-norm 0 or --strategy default")
            _require(self.grad == "tape", "grad", "manual writes the backward pass for one device; use --grad tape "
                     f"with --strategy {self.strategy}")


def _check_field(field: dataclasses.Field, value: Any) -> None:
    """Raise `ConfigError` unless `value` has the field's type and lies within its limits."""
    meta, name, default = field.metadata, field.name, field.default
    shown = f"{value:g}" if isinstance(value, float) else repr(value)  # 1e-05, inf; 'five'; 3
    kinds = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
             tuple: "a list of layer sizes", type(None): "true, false or null (automatic)"}
    if default is None:  # a switch that may also be left to the library: jit_compile
        fits = value is None or isinstance(value, bool)
    elif isinstance(default, bool) or isinstance(value, bool):
        fits = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        fits = isinstance(value, (int, float))
    else:
        fits = isinstance(value, type(default))
    _require(fits, name, f"must be {kinds[type(default)]}, got {value!r}")
    if meta["choices"]:
        _require(value in meta["choices"], name, f"is {value!r}; choose one of {', '.join(meta['choices'])}")
    finite = not isinstance(default, float) or math.isfinite(value)
    if meta["limit"]:
        test, must = LIMITS[meta["limit"]]
        kind = "whole number" if isinstance(default, int) else "number"
        _require(test(value) and finite, name, f"{must.format(kind=kind)}, got {shown}")
    _require(finite, name, f"must be a finite number, got {shown}")
    if meta["maximum"] is not None:
        _require(value <= meta["maximum"], name, f"must be at most {meta['maximum']:,}, got {shown}")


def _require(condition: bool, field: str, problem: str) -> None:
    if not condition:
        raise ConfigError(field, problem)


def config_fields() -> tuple[dataclasses.Field, ...]:
    """The fields of `Config`, each with its metadata: what the CLI builds its flags from."""
    return dataclasses.fields(Config)


def flags_of(field: dataclasses.Field) -> tuple[str, ...]:
    """A field's flags: `--field-name`, or for a bool the pair that turns it on and off."""
    if field.metadata["flags"]:
        return field.metadata["flags"]
    name = field.name.replace("_", "-")
    return (f"--{name}", f"--no-{name}") if is_switch(field) else (f"--{name}",)


def is_switch(field: dataclasses.Field) -> bool:
    """A bool field, set by a pair of flags; `jit_compile` may also be None, neither flag."""
    return isinstance(field.default, bool) or field.default is None


def flags_for(config: Config, base: Config) -> list[str]:
    """The `simplenn train` flags that turn `base` into `config`, e.g. `["--lr", "0.001", "--no-xla"]`."""
    words = []
    for field in config_fields():
        value = getattr(config, field.name)
        if field.name == "preset" or value == getattr(base, field.name):
            continue
        flags = flags_of(field)
        if value is None:  # neither flag: the library chooses (only `jit_compile`)
            continue
        if isinstance(value, bool):
            words.append(flags[0] if value else flags[1])
        else:
            words += [flags[0], ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return words


# The post, step for step: raw pixels, the ten-sigmoid loss summed over every element,
# one full-batch SGD step per epoch. It ends at chance; `simplenn diagnose` shows why.
BLOG = Config(
    preset="blog",
    layers=(784, 100, 30, 10),
    activation="relu",
    init="normal",
    init_stddev=0.1,
    scale_inputs=False,
    loss="sigmoid",
    reduction="sum",
    optimizer="sgd",
    lr=0.01,
    batch_size=0,
    epochs=5,
    jit_compile=False,  # the post runs eagerly
    stop_on_nan=False,  # its overflow is the lesson, so it warns and carries on
)

# The same architecture made to work. `simplenn ablate` measures the changes one at a
# time; the values below won a sweep on digits and Fashion-MNIST (see the README).
FIXED = BLOG.replace(
    preset="fixed",
    scale_inputs=True,  # pixels in [0, 1]: the first step no longer overflows
    reduction="mean",  # the step size no longer grows with the batch
    batch_size=256,  # 235 steps an epoch on 60,000 images instead of one
    loss="softmax",  # one class per image, as the labels say
    init="he",  # variance 2 / n_in keeps ReLU activations at a steady scale
    optimizer="adamw",  # Adam with decoupled weight decay
    lr=5e-3,  # the one-cycle peak; the schedule starts at lr / 25 and ends near 0
    schedule="onecycle",
    weight_decay=0.05,  # AdamW's decay: w -= lr * 0.05 * w each step
    label_smoothing=0.1,  # less confident targets generalise better on both datasets
    epochs=30,
    jit_compile=None,  # XLA when the run is large enough to pay back compiling it (not digits)
    stop_on_nan=True,
)

# The most accurate MLP found that this machine trains in under five minutes (3.2 on two
# cores): wider layers with GELU, dropout so that they do not memorise the training set,
# and fixed's recipe otherwise. The README lists the variants measured.
BEST = FIXED.replace(
    preset="best",
    layers=(784, 1024, 1024, 10),
    activation="gelu",  # 91.32 % on Fashion-MNIST; ReLU 90.92 % in the same time
    dropout=0.3,
    lr=1e-3,  # the one-cycle peak; with ReLU, 1e-3 scored 90.92 % and 2e-3 (60 epochs) 90.19 %
    epochs=40,
)

PRESETS: dict[str, Config] = {c.preset: c for c in (BLOG, FIXED, BEST)}


def preset(name: str) -> Config:
    """The named preset, or `SimplennError` listing the ones that exist."""
    if name not in PRESETS:
        raise SimplennError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def fit_to_data(config: Config, n_features: int, n_classes: int, layers_given: bool) -> Config:
    """Match the input and output sizes to the data.

    Presets are written for 28x28 images and ten classes; on 8x8 digits their first layer
    is 64 wide, on EMNIST letters their last is 26. Layers the user typed must start with
    the data's feature count, so a mistake is reported; they may end with its class
    count, or leave it to the data, which then adds the output layer.
    """
    if layers_given:
        _check(
            config.layers[0] == n_features,
            f"--layers starts with {config.layers[0]} inputs but {config.dataset} has "
            f"{n_features} features per image; use --layers {n_features},"
            f"{','.join(map(str, config.layers[1:]))}",
        )
        if config.layers[-1] == n_classes:
            return config
        return config.replace(layers=(*config.layers, n_classes))
    return config.replace(layers=(n_features, *config.layers[1:-1], n_classes))


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SimplennError(message)


def parse_layers(text: str) -> tuple[int, ...]:
    """`"784,100,30,10"` -> `(784, 100, 30, 10)`, or `SimplennError`."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise SimplennError(
            f"--layers {text!r} is not a comma-separated list of integers, e.g. 784,100,30,10"
        ) from None
    return sizes


__all__ = [
    "Config",
    "ConfigError",
    "PRESETS",
    "preset",
    "config_fields",
    "flags_for",
    "flags_of",
    "fit_to_data",
    "parse_layers",
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "REDUCTIONS",
    "PRECISIONS",
    "OPTIMIZERS",
    "SCHEDULES",
    "GRADIENTS",
    "STRATEGIES",
]
