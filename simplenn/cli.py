"""The `simplenn` command: a thin layer of argparse over functions a notebook can call.

Each subcommand has a `_add_<name>_parser` that declares its flags and a `_<name>`
handler that calls the package and prints. A `SimplennError` anywhere becomes one line
on stderr and exit status 2; argparse's own usage errors exit 2 as well.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

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


def output_file(text: str) -> str:
    """A file a command will write, checked before the command does any work."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: it is a folder; give a file name")
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: {existing} is not a writable folder")
    return text


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
    ("--seed", "seed", non_negative_int, "seed for initial weights, shuffling, augmentation and dropout"),
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
    ("--shift-pixels", "shift_pixels", non_negative_int, "move training images by up to this many pixels"),
    ("--clip-norm", "clip_norm", non_negative_float, "clip the global gradient norm; 0 = off"),
    ("--validation-split", "validation_split", fraction, "fraction of training images held out"),
    ("--patience", "patience", non_negative_int, "early stopping after this many epochs without progress"),
    ("--grad", "grad", configs.GRADIENTS, "tape: tf.GradientTape; manual: the chain rule written out"),
    ("--checkpoint-every-steps", "checkpoint_every_steps", non_negative_int, "also checkpoint inside epochs"),
    ("--max-to-keep", "max_to_keep", positive_int, "how many of the newest checkpoints to keep"),
]


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=None, help=f"one of {', '.join(configs.PRESETS)} (default fixed)")
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
    parser.add_argument("--flip-images", dest="flip_images", action=argparse.BooleanOptionalAction, default=None,
                        help="mirror each training image left to right with probability 1/2")
    parser.add_argument("--no-xla", dest="jit_compile", action="store_false", default=None,
                        help="do not compile steps with XLA")


def config_from_args(args: argparse.Namespace, base: configs.Config | None = None) -> configs.Config:
    """The preset named by `--preset` (or `base`), with every flag the user gave applied."""
    config = base if base is not None else configs.preset(args.preset or "fixed")
    changes = {
        field: getattr(args, field)
        for _, field, _, _ in TRAINING_FLAGS
        if getattr(args, field) is not None
    }
    for field in ("scale_inputs", "flip_images", "jit_compile"):
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
    parser.add_argument("--resume", metavar="RUN_DIR", default=None,
                        help="go on with a stopped run from its config.json and newest checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_train)


def _given_config_flags(args: argparse.Namespace) -> list[str]:
    """The flags of `_add_config_flags` and --run-dir that were given, e.g. ["--preset", "--lr"]."""
    flags = {"preset": "--preset", "dataset": "--dataset", "layers": "--layers",
             "scale_inputs": "--scale-inputs/--raw-inputs", "flip_images": "--[no-]flip-images",
             "jit_compile": "--no-xla", "run_dir": "--run-dir"}
    flags.update({field: flag for flag, field, _, _ in TRAINING_FLAGS})
    return [flag for field, flag in flags.items() if getattr(args, field) is not None]


def _train(args: argparse.Namespace) -> int:
    from simplenn.experiment import default_run_dir, resume_run, train_and_evaluate

    live_progress = False if args.quiet else None
    if args.resume is not None:
        given = _given_config_flags(args)
        if given:
            raise SimplennError(
                f"--resume goes on with the config stored in {args.resume}/config.json; drop {', '.join(given)}"
            )
        run_dir = args.resume
        summary = resume_run(run_dir, live_progress=live_progress)
    else:
        config = config_from_args(args)
        run_dir = args.run_dir or default_run_dir(config)
        summary = train_and_evaluate(
            config, run_dir=run_dir, adapt_layers=args.layers is None, live_progress=live_progress
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
    parser.add_argument("--out", type=output_file, default=None, help="write a PNG here instead of opening a window")
    parser.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    from simplenn.plots import show_sample

    written = show_sample(args.dataset, args.index, args.out)
    if written:
        print(f"figure written to {written}")
    return 0


def _add_data_parser(commands) -> None:
    parser = commands.add_parser("data", help="list, download, verify or import datasets")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="each dataset, its files, and where they are")
    fetch = actions.add_parser("fetch", help="download a dataset, verify it, replace bad copies")
    fetch.add_argument("name", help="mnist, fashion-mnist or kmnist")
    fetch.add_argument("--ca-bundle", default=None,
                       help="PEM file of CA certificates to trust instead of the system's (a proxy's)")
    fetch.add_argument("--timeout", type=positive_float, default=30.0,
                       help="seconds to wait for a connection or for more data (default 30)")
    verify = actions.add_parser("verify", help="hash the dataset files on this machine")
    verify.add_argument("name", nargs="?", default=None, help="one dataset (default: all)")
    imports = actions.add_parser("import", help="verify files obtained elsewhere and copy them into the cache")
    imports.add_argument("name", help="mnist, fashion-mnist or kmnist")
    imports.add_argument("path", help="a folder holding the published files, or one of them")
    parser.set_defaults(handler=_data)


def _data(args: argparse.Namespace) -> int:
    from simplenn import datasets

    if args.action == "list":
        for state in datasets.list_datasets():
            print(f"{state.spec.name:<14} {'ready' if state.ready else 'missing':<8} {state.spec.title}")
            for file in state.files:
                print(f"    {file.data_file.name:<28} {file.path or 'missing'}")
        print(f"cache: {datasets.cache_root()} (set SIMPLENN_DATA or KERAS_HOME to move it)")
    elif args.action == "fetch":
        options = datasets.DownloadOptions(timeout_s=args.timeout, ca_bundle=args.ca_bundle)
        paths = datasets.fetch(args.name, options=options, progress=datasets.show_progress)
        for path in paths:
            print(f"verified {path}")
        if not paths:
            print(f"{args.name} comes with scikit-learn; there is nothing to fetch")
    elif args.action == "verify":
        checks = datasets.verify(args.name)
        for check in checks:
            verdict = "missing" if check.path is None else "BAD" if check.problem else "ok"
            detail = f": {check.problem}" if check.problem else ""
            print(f"{verdict:<8} {check.dataset:<14} {check.path or check.data_file.name}{detail}")
        bad = [check for check in checks if check.problem]
        if bad:
            raise SimplennError(
                f"{len(bad)} file(s) failed verification ({', '.join(str(check.path) for check in bad)}); "
                f"run `simplenn data fetch {bad[0].dataset}` to replace them"
            )
    else:
        for path in datasets.import_files(args.name, args.path):
            print(f"imported {path}")
    return 0


def _add_diagnose_parser(commands) -> None:
    parser = commands.add_parser("diagnose", help="run a few steps and explain what goes wrong, with numbers")
    _add_config_flags(parser)
    parser.add_argument("--run-dir", default=None,
                        help="diagnose the config of this run (instead of --preset; other flags still apply)")
    parser.add_argument("--steps", type=positive_int, default=3, help="training steps to take (default 3)")
    parser.set_defaults(handler=_diagnose)


def _diagnose(args: argparse.Namespace) -> int:
    from simplenn.diagnose import diagnose, format_diagnosis
    from simplenn.run_directory import RunDirectory

    base = RunDirectory(args.run_dir).read_config() if args.run_dir else None
    config = config_from_args(args, base)
    print(format_diagnosis(diagnose(config, args.steps, adapt_layers=args.layers is None)))
    return 0


def _add_ablate_parser(commands) -> None:
    parser = commands.add_parser("ablate", help="from the blog preset to fixed, one change at a time")
    parser.add_argument("--dataset", default="digits", help="digits, mnist, fashion-mnist, kmnist, or a path")
    parser.add_argument("--epochs", type=positive_int, default=configs.preset("fixed").epochs,
                        help="epochs for every run (default: the fixed preset's)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="the same seed for every run")
    parser.add_argument("--out", type=output_file, default=None, help="write the bar chart here (PNG)")
    parser.add_argument("--json", type=output_file, default=None, help="also write every row, with its config, to this file")
    parser.add_argument("--no-xla", dest="jit_compile", action="store_false",
                        help="do not compile steps with XLA (starts faster on tiny data such as digits)")
    parser.set_defaults(handler=_ablate)


def _ablate(args: argparse.Namespace) -> int:
    from simplenn.ablate import ablate, format_table, save_rows
    from simplenn.plots import ablation_chart

    rows = ablate(args.dataset, args.epochs, args.seed, args.jit_compile)
    print(format_table(rows))
    if args.json:
        save_rows(rows, args.json)
        print(f"rows written to {args.json}")
    written = ablation_chart([row.change for row in rows], [row.test_accuracy for row in rows], args.out)
    if written:
        print(f"chart written to {written}")
    return 0


def _add_bench_parser(commands) -> None:
    parser = commands.add_parser(
        "bench", help="simplenn's training speed next to Keras, scikit-learn and the post's eager loop"
    )
    parser.add_argument("--dataset", default="fashion-mnist", help="digits, mnist, fashion-mnist, kmnist, or a path")
    parser.add_argument("--epochs", type=positive_int, default=5, help="epochs for every system (default 5)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="the same seed for every system")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="threads for every system's arithmetic (default: each library's own)")
    parser.add_argument("--json", type=output_file, default=None, help="also write the report to this file")
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from simplenn.bench import format_table, run_bench
    from simplenn.run_directory import write_json

    report = run_bench(args.dataset, args.epochs, args.seed, args.threads)
    print(format_table(report))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with stderr muted.

    TensorFlow 2.21 logs through absl before `TF_CPP_MIN_LOG_LEVEL` takes effect, so its
    start-up lines (CUDA probes, CPU features) would bury the CLI's one-line messages.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved_stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        importlib.import_module("tensorflow")
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)


def _add_predict_parser(commands) -> None:
    parser = commands.add_parser("predict", help="a trained run's top classes for your own images")
    parser.add_argument("run_dir", metavar="RUN", help="a run directory written by `simplenn train`")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files, or folders of them")
    parser.add_argument("--top-k", type=positive_int, default=3, help="how many classes to list (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.add_argument("--save-input", metavar="DIR", default=None,
                        help="write each image beside the 28x28 image the network saw, into DIR")
    parser.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                        help="the ink is dark on light paper (--invert) or not (--no-invert); default: decided per image")
    parser.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    from simplenn.loaded_run import load_run
    from simplenn.prediction import format_predictions, predict_images, predictions_json, save_inputs

    predictions = predict_images(load_run(args.run_dir), args.images, args.invert)
    print(predictions_json(predictions, args.top_k) if args.json else format_predictions(predictions, args.top_k))
    if args.save_input:
        written = save_inputs(predictions, args.save_input)
        if not args.json:
            print(f"{len(written)} network view(s) written to {args.save_input}")
    return 0


def _add_export_parser(commands) -> None:
    parser = commands.add_parser("export", help="a trained run as a TensorFlow SavedModel or TFLite file")
    parser.add_argument("run_dir", metavar="RUN", help="a run directory written by `simplenn train`")
    parser.add_argument("out", metavar="OUT", help="the SavedModel folder, or the .tflite file, to write")
    parser.add_argument("--format", choices=("saved_model", "tflite"), default="saved_model",
                        help="saved_model (for TensorFlow Serving; default) or tflite")
    parser.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from simplenn.export import export_run, export_summary
    from simplenn.loaded_run import load_run

    run = load_run(args.run_dir)
    print(export_summary(run, export_run(run, args.out, args.format), args.format))
    return 0


def _add_serve_parser(commands) -> None:
    parser = commands.add_parser("serve", help="a draw-a-digit page and a TF Serving-style JSON API for a run")
    parser.add_argument("run_dir", metavar="RUN", help="a run directory written by `simplenn train`")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=positive_int, default=8000, help="port (default 8000)")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from simplenn.loaded_run import load_run
    from simplenn.serving import serve

    serve(load_run(args.run_dir), args.host, args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="simplenn",
        description="The blog post's MNIST network, built from TensorFlow's low-level pieces.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    _add_train_parser(commands)
    _add_show_parser(commands)
    _add_data_parser(commands)
    _add_diagnose_parser(commands)
    _add_ablate_parser(commands)
    _add_bench_parser(commands)
    _add_predict_parser(commands)
    _add_export_parser(commands)
    _add_serve_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command != "data":
            import_tensorflow_quietly()
        return args.handler(args)
    except SimplennError as error:
        print(f"simplenn: error: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:  # Ctrl-C outside training, which handles it itself
        print("simplenn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
