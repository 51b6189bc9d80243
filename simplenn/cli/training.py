"""`simplenn train`, `show` and `data`: a run trained, the post's sample image, the datasets on disk."""

from __future__ import annotations

import argparse
import sys

from simplenn.cli.flags import (
    DATASET_HELP,
    ArgumentParser,
    add_command,
    add_config_flags,
    add_force_flag,
    add_memory_flag,
    config_from_args,
    fraction,
    given_config_flags,
    image_file,
    memory_limit_of,
    non_negative_int,
    positive_float,
)


def add_train_parser(commands) -> None:
    parser = add_command(
        commands, "train", "train a preset on a dataset and report its scores",
        ("simplenn train --preset fixed --dataset digits",
         "simplenn train --preset blog --dataset fashion-mnist --epochs 30",
         "simplenn train --resume runs/fixed-digits-20261127-201500"),
        description="Train a preset's Config on a dataset. Each flag in the first five groups changes one "
                    "field of the preset; the presets' own values are shown in brackets.",
    )
    add_config_flags(parser)
    run = parser.add_argument_group("where the run goes")
    run.add_argument("--run-dir", default=None, help="where to write the run (default runs/PRESET-DATASET-TIME)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="go on with a stopped run from its config.json and newest checkpoint")
    run.add_argument("--target-accuracy", type=fraction, default=None, metavar="FRACTION",
                     help="exit with status 1 when the test accuracy ends below this, e.g. 0.95")
    run.add_argument("--quiet", action="store_true", help="print only the result")
    add_memory_flag(run)
    parser.set_defaults(handler=_train)


def print_warnings_only(line: str) -> None:
    """`--quiet`'s log: epoch lines and progress go unsaid; a warning still reaches stderr."""
    if line.startswith("warning"):
        print(line, file=sys.stderr)


def _train(args: argparse.Namespace) -> int:
    from simplenn.runs.run_directory import RunDirectory, default_run_dir
    from simplenn.runs.run_rules import check_run_start

    if args.resume is not None:
        given = given_config_flags(args) + (["--run-dir"] if args.run_dir else [])
        run_dir = args.resume
        cluster = check_run_start(None, run_dir, resume=True, changes=given)  # before TensorFlow loads
    else:
        config = config_from_args(args)
        cluster = check_run_start(config, args.run_dir)
        run_dir = args.run_dir or default_run_dir(config)
        if args.run_dir is None:  # a folder of its own, new unless the clock went back
            RunDirectory(run_dir).check_new()
    memory_limit = memory_limit_of(args)
    from simplenn.runs.experiment import check_target_accuracy, format_result, resume_run, train_and_evaluate

    log = print_warnings_only if args.quiet else print
    live_progress = False if args.quiet else None
    if args.resume is not None:
        summary = resume_run(run_dir, live_progress=live_progress, log=log, memory_limit=memory_limit)
    else:
        summary = train_and_evaluate(
            config, run_dir=run_dir, adapt_layers=args.layers is None, live_progress=live_progress, log=log,
            memory_limit=memory_limit,
        )
    if cluster is None or cluster.is_chief:
        print(format_result(summary, run_dir))
    else:
        print(format_result(summary) + f"\n{cluster.name(cluster.index)} done; the chief, worker 0, writes the run to {run_dir}")
    if args.target_accuracy is not None:
        check_target_accuracy(summary, args.target_accuracy)
    return 0


def add_show_parser(commands) -> None:
    parser = add_command(
        commands, "show", "the post's figure of one training image",
        ("simplenn show --dataset fashion-mnist", "simplenn show --dataset mnist --index 7 --out seven.png"),
    )
    parser.add_argument("--dataset", default="digits", metavar="NAME", help=f"{DATASET_HELP} (default digits)")
    parser.add_argument("--index", type=non_negative_int, default=0, help="which training image (default 0)")
    parser.add_argument("--out", type=image_file, default=None,
                        help="write the figure here, a PNG (default: none; it opens in a window, and without a "
                             "display --out is needed)")
    add_force_flag(parser, "out")
    parser.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    from simplenn.explain.figures import draw_into_files_only, show_sample

    if args.out:
        draw_into_files_only()
    written = show_sample(args.dataset, args.index, args.out)
    if written:
        print(f"figure written to {written}")
    return 0


def add_data_parser(commands) -> None:
    from simplenn.datasets.download import DownloadOptions

    parser = add_command(
        commands, "data", "list, download, verify or import datasets",
        ("simplenn data fetch fashion-mnist", "simplenn data import mnist ~/Downloads/mnist.npz"),
    )
    actions = parser.add_subparsers(dest="action", required=True, parser_class=ArgumentParser)
    add_command(actions, "list", "each dataset, its files, and where they are",
                 ("simplenn data list", "SIMPLENN_DATA=/mnt/datasets simplenn data list"))
    fetch = add_command(actions, "fetch", "download a dataset, verify it, replace bad copies",
                         ("simplenn data fetch mnist",
                          "simplenn data fetch kmnist --ca-bundle /etc/ssl/certs/proxy.pem --deadline 300"))
    fetch.add_argument("name", help="mnist, fashion-mnist or kmnist")
    fetch.add_argument("--ca-bundle", default=None,
                       help="PEM file of CA certificates to trust instead of the system's (a proxy's)")
    patience = DownloadOptions()
    fetch.add_argument("--timeout", type=positive_float, default=patience.timeout_s, metavar="S",
                       help=f"seconds to wait for a connection or for more data (default {patience.timeout_s:g})")
    fetch.add_argument("--deadline", type=positive_float, default=patience.deadline_s, metavar="S",
                       help="give up once this many seconds pass without data, over every retry and mirror "
                            f"(default {patience.deadline_s:g})")
    verify = add_command(actions, "verify", "hash the dataset files on this machine",
                          ("simplenn data verify", "simplenn data verify fashion-mnist"))
    verify.add_argument("name", nargs="?", default=None, help="one dataset (default: all)")
    imports = add_command(
        actions, "import", "verify files obtained elsewhere and copy them into the cache",
        ("simplenn data import fashion-mnist /usr/share/datasets/fashion-mnist",
         "simplenn data import mnist ~/Downloads/mnist.npz"),
    )
    imports.add_argument("name", help="mnist, fashion-mnist or kmnist")
    imports.add_argument("path", help="a folder holding the published files, or one of them")
    parser.set_defaults(handler=_data)


def _data(args: argparse.Namespace) -> int:
    from simplenn import datasets

    if args.action == "list":
        print(datasets.format_dataset_list(datasets.list_datasets()))
    elif args.action == "fetch":
        options = datasets.DownloadOptions(timeout_s=args.timeout, deadline_s=args.deadline, ca_bundle=args.ca_bundle)
        paths = datasets.fetch(args.name, options=options, progress=datasets.show_progress)
        print("\n".join(f"verified {path}" for path in paths)
              or f"{args.name} comes with scikit-learn; there is nothing to fetch")
    elif args.action == "verify":
        checks = datasets.verify(args.name)
        print(datasets.format_checks(checks))
        datasets.require_verified(checks)
    else:
        print("\n".join(f"imported {path}" for path in datasets.import_files(args.name, args.path)))
    return 0
