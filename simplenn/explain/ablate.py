"""From the post's 10 % to a network that works, one change at a time.

The ablation starts from the `blog` preset and switches its settings to those of the
`fixed` preset in the order of `STEPS`, training after each switch with the same seed
and the same number of epochs, so that each row's test accuracy shows what that one
change adds. The steps are data: each names the `Config` fields it copies from `fixed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from simplenn.config import Config, preset
from simplenn.training.data import PreparedData, prepare_data
from simplenn.runs.experiment import train_and_evaluate
from simplenn.machine.memory import MemoryLimit

FIXED = preset("fixed")

# (what changes, the fields it copies from `fixed`), in the order that tells the story:
# first the two settings that make the gradients explode (they stop the explosion, but the
# few full-batch steps of the post are too few to learn), then mini-batches, which give the
# network its steps, then what makes each step better. Measured on Fashion-MNIST, where
# softmax before He and Adam cost 0.5 points and after them adds nothing; see the README.
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the post (blog preset)", ()),
    ("inputs scaled to 0-1", ("scale_inputs",)),
    ("mean loss instead of sum", ("reduction",)),
    (f"mini-batches of {FIXED.batch_size}", ("batch_size",)),
    ("He initialisation", ("init",)),
    # AdamW still without its weight decay is Adam
    (f"Adam, lr {FIXED.lr:g}", ("optimizer", "lr")),
    ("softmax cross-entropy", ("loss",)),
    (f"{FIXED.schedule} schedule", ("schedule",)),
    (f"decoupled weight decay {FIXED.weight_decay:g}", ("weight_decay",)),
    (f"label smoothing {FIXED.label_smoothing:g} = fixed", ("label_smoothing",)),
)


@dataclass
class AblationRow:
    """One trained step of the ablation; accuracies are fractions in 0-1."""

    change: str
    fields: tuple[str, ...]  # the config fields this step copied from `fixed`
    config: Config
    test_accuracy: float
    train_accuracy: float
    train_seconds: float

    def to_dict(self) -> dict:
        return {
            "change": self.change,
            "changed": {name: getattr(self.config, name) for name in self.fields},
            "test_accuracy": self.test_accuracy,
            "train_accuracy": self.train_accuracy,
            "train_seconds": self.train_seconds,
            "config": self.config.to_dict(),
        }


def ablation_configs(
    dataset: str, epochs: int = FIXED.epochs, seed: int = 0, jit_compile: bool | None = None
) -> list[tuple[str, tuple, Config]]:
    """`(change, fields, config)` for every step: each config is the previous one with one change.

    jit_compile: every run compiled with XLA, or none, or (None) each as its arithmetic warrants; and
    every run carries on past an overflow, as the post does, so that each row is measured
    to the end.
    """
    config = preset("blog").replace(
        preset="ablation", dataset=dataset, epochs=epochs, seed=seed, jit_compile=jit_compile, stop_on_nan=False
    )
    configs = []
    for change, fields in STEPS:
        config = config.replace(**{name: getattr(FIXED, name) for name in fields})
        configs.append((change, fields, config))
    return configs


def ablate(
    dataset: str,
    epochs: int = FIXED.epochs,
    seed: int = 0,
    jit_compile: bool | None = None,
    log: Callable[[str], None] = print,
    memory_limit: MemoryLimit | None = None,
) -> list[AblationRow]:
    """Train every step of the ablation on `dataset` and measure it; one row per step.

    memory_limit: as for `train_and_evaluate` (default: half the available memory).

    Compiling with XLA takes seconds per run: worth it on 60,000 images, not on digits,
    which is what `jit_compile=None` chooses.
    """
    prepared: dict[bool, PreparedData] = {}  # the data differ only in whether they are scaled
    rows = []
    steps = ablation_configs(dataset, epochs, seed, jit_compile)
    for number, (change, fields, config) in enumerate(steps, start=1):
        if config.scale_inputs not in prepared:
            prepared[config.scale_inputs] = prepare_data(config, memory_limit)
        summary = train_and_evaluate(
            config, data=prepared[config.scale_inputs], live_progress=False, log=lambda line: None
        )
        row = AblationRow(
            change,
            fields,
            Config.from_dict(summary["config"]),  # as trained: layers fitted to the data
            summary["test_accuracy"],
            summary["train_accuracy"],
            summary["train_seconds"],
        )
        rows.append(row)
        log(f"{number}/{len(STEPS)} {change}: test accuracy {100 * row.test_accuracy:.2f} % "
            f"({row.train_seconds:.1f} s)")
    return rows


def format_table(rows: list[AblationRow]) -> str:
    """The ablation as a text table: change, test accuracy, gain over the row above, time."""
    width = max(len(row.change) for row in rows)
    lines = [f"{'change':<{width}}  test accuracy  gain       train time"]
    previous = None
    for row in rows:
        gain = "" if previous is None else f"{100 * (row.test_accuracy - previous):+.2f}"
        lines.append(
            f"{row.change:<{width}}  {100 * row.test_accuracy:10.2f} %  {gain:>8}  {row.train_seconds:9.1f} s"
        )
        previous = row.test_accuracy
    return "\n".join(lines)
