"""The `simplenn` command: a thin layer of argparse over functions a notebook can call.

Each subcommand has a `_add_<name>_parser` that declares its flags and a `_<name>`
handler that calls the package and prints. A `SimplennError` anywhere becomes one line
on stderr and exit status 2; argparse's own usage errors exit 2 as well.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter off the CLI

from simplenn import config as configs  # noqa: E402
from simplenn.errors import SimplennError  # noqa: E402


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, without the usage block."""

    def error(self, message: str):
        raise SimplennError(f"{message} (see `{self.prog} --help`)")


def positive_int(text: str) -> int:
    value = _number(text, int, "a whole number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    value = _number(text, float, "a number")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _number(text: str, kind, description: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}") from None


# Config fields that `train` exposes as flags: (flag, field, type, help). The defaults
# come from the preset, so every flag defaults to None ("keep the preset's value").
TRAINING_FLAGS = [
    ("--epochs", "epochs", positive_int, "number of epochs"),
    ("--batch-size", "batch_size", non_negative_int, "rows per step; 0 = the whole training set (the post)"),
    ("--lr", "lr", positive_float, "learning rate (peak learning rate with a schedule)"),
    ("--seed", "seed", non_negative_int, "seed for initial weights, shuffling and dropout"),
    ("--activation", "activation", configs.ACTIVATIONS, "hidden-layer activation"),
    ("--init", "init", configs.INITIALIZERS, "weight initialiser"),
    ("--loss", "loss", configs.LOSSES, "sigmoid: the post's ten yes/no outputs; softmax: one of ten"),
    ("--reduction", "reduction", configs.REDUCTIONS, "sum the loss over the batch (the post) or average it"),
    ("--optimizer", "optimizer", configs.OPTIMIZERS, "keras optimizer"),
    ("--momentum", "momentum", fraction, "momentum for --optimizer momentum or nesterov"),
    ("--schedule", "schedule", configs.SCHEDULES, "learning-rate schedule"),
    ("--warmup-epochs", "warmup_epochs", non_negative_float, "linear warm-up"),
    ("--weight-decay", "weight_decay", non_negative_float, "L2 penalty (decoupled for adamw)"),
    ("--dropout", "dropout", fraction, "fraction of hidden units dropped while training"),
    ("--label-smoothing", "label_smoothing", fraction, "move this much target mass to uniform"),
    ("--clip-norm", "clip_norm", non_negative_float, "clip the global gradient norm; 0 = off"),
    ("--validation-split", "validation_split", fraction, "fraction of training images held out"),
    ("--patience", "patience", non_negative_int, "early stopping after this many epochs without progress"),
    ("--grad", "grad", configs.GRADIENTS, "tape: tf.GradientTape; manual: the chain rule written out"),
    ("--checkpoint-every-steps", "checkpoint_every_steps", non_negative_int, "also checkpoint inside epochs"),
]


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="fixed", help=f"one of {', '.join(configs.PRESETS)} (default fixed)")
    parser.add_argument("--dataset", default=None, help="digits, mnist, fashion-mnist, kmnist, or a path")
    parser.add_argument("--layers", default=None, help="layer sizes, input first, e.g. 784,100,30,10")
    for flag, field, kind, help_text in TRAINING_FLAGS:
        if isinstance(kind, tuple):
            parser.add_argument(flag, dest=field, choices=kind, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=field, type=kind, default=None, help=help_text)
    scaling = parser.add_mutually_exclusive_group()
    scaling.add_argument("--scale-inputs", dest="scale_inputs", action="store_true", default=None,
                         help="divide pixels by 255 (the post does not)")
    scaling.add_argument("--raw-inputs", dest="scale_inputs", action="store_false",
                         help="feed raw 0-255 pixels, as the post does")
    parser.add_argument("--no-xla", dest="jit_compile", action="store_false", default=None,
                        help="do not compile steps with XLA")


def config_from_args(args: argparse.Namespace) -> configs.Config:
    """The preset named by `--preset`, with every flag the user gave applied."""
    config = configs.preset(args.preset)
    changes = {
        field: getattr(args, field)
        for _, field, _, _ in TRAINING_FLAGS
        if getattr(args, field) is not None
    }
    for field in ("scale_inputs", "jit_compile"):
        if getattr(args, field) is not None:
            changes[field] = getattr(args, field)
    if args.dataset is not None:
        changes["dataset"] = args.dataset
    if args.layers is not None:
        changes["layers"] = configs.parse_layers(args.layers)
    return config.replace(**changes)


def _add_train_parser(commands) -> None:
    parser = commands.add_parser("train", help="train a preset on a dataset and report its scores")
    _add_config_flags(parser)
    parser.add_argument("--run-dir", default=None, help="where to write the run (default runs/PRESET-DATASET-TIME)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from simplenn.experiment import default_run_dir, train_and_evaluate

    config = config_from_args(args)
    run_dir = args.run_dir or default_run_dir(config)
    summary = train_and_evaluate(
        config,
        run_dir=run_dir,
        adapt_layers=args.layers is None,
        live_progress=False if args.quiet else None,
    )
    scores = summary["test_scores"]
    print(f"test accuracy {100 * scores['accuracy']:.2f} %  (train {100 * summary['train_accuracy']:.2f} %, "
          f"{summary['train_seconds']:.1f} s of training)")
    for average in ("micro", "macro"):
        print(f"  {average:5}  precision {scores[f'precision_{average}']:.4f}  "
              f"recall {scores[f'recall_{average}']:.4f}  f1 {scores[f'f1_{average}']:.4f}")
    print(f"run written to {run_dir}")
    return 0


def _add_show_parser(commands) -> None:
    parser = commands.add_parser("show", help="the post's figure of one training image")
    parser.add_argument("--dataset", default="digits", help="digits, mnist, fashion-mnist, kmnist, or a path")
    parser.add_argument("--index", type=non_negative_int, default=0, help="which training image (default 0)")
    parser.add_argument("--out", default=None, help="write a PNG here instead of opening a window")
    parser.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    from simplenn.plots import show_sample

    written = show_sample(args.dataset, args.index, args.out)
    if written:
        print(f"figure written to {written}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="simplenn",
        description="The blog post's MNIST network, built from TensorFlow's low-level pieces.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    _add_train_parser(commands)
    _add_show_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except SimplennError as error:
        print(f"simplenn: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
