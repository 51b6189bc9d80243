"""`simplenn diagnose`, `ablate`, `evaluate`, `plot`, `report` and `compare`: looking inside runs."""

from __future__ import annotations

import argparse
import sys

from simplenn import config as configs
from simplenn.cli.flags import (
    SwitchAction,
    add_command,
    add_comparison_flags,
    add_config_flags,
    add_force_flag,
    add_json_flag,
    add_memory_flag,
    add_run_argument,
    add_run_dataset_flag,
    check_run_before_tensorflow,
    config_from_args,
    image_file,
    memory_limit_of,
    output_file,
    positive_int,
    print_table_and_json,
)
from simplenn.machine.safe_text import terminal_text


def add_diagnose_parser(commands) -> None:
    parser = add_command(
        commands, "diagnose", "run a few steps and explain what goes wrong, with numbers",
        ("simplenn diagnose --preset blog --dataset digits",
         "simplenn diagnose --run-dir runs/fixed-digits-20261127-201500 --lr 0.1 --steps 10"),
    )
    add_config_flags(parser, whole_run=False)
    parser.add_argument("--run-dir", default=None,
                        help="diagnose the config of this run (instead of --preset; other flags still apply)")
    parser.add_argument("--steps", type=positive_int, default=3, help="training steps to take (default 3)")
    add_memory_flag(parser)
    parser.set_defaults(handler=_diagnose)


def _diagnose(args: argparse.Namespace) -> int:
    from simplenn.datasets import check_dataset_name
    from simplenn.runs.run_directory import RunDirectory

    base = RunDirectory(args.run_dir).read_config() if args.run_dir else None
    config = config_from_args(args, base)
    check_dataset_name(config.dataset)
    memory_limit = memory_limit_of(args)
    from simplenn.explain.diagnose import diagnose, format_diagnosis

    print(format_diagnosis(diagnose(config, args.steps, adapt_layers=args.layers is None, memory_limit=memory_limit)))
    return 0


def add_ablate_parser(commands) -> None:
    parser = add_command(
        commands, "ablate", "from the blog preset to fixed, one change at a time",
        ("simplenn ablate --dataset digits --epochs 5 --no-xla",
         "simplenn ablate --dataset fashion-mnist --json ablation.json --out ablation.png"),
    )
    add_comparison_flags(parser, "run", dataset="digits", epochs=configs.preset("fixed").epochs,
                          json_help="every row, with its config,")
    parser.add_argument("--out", type=image_file, default=None,
                        help="write the bar chart here, a PNG (default: none; the chart opens in a window when "
                             "there is a display, and only the table is printed when there is not)")
    parser.add_argument("--xla", "--no-xla", dest="jit_compile", action=SwitchAction, default=None,
                        help="compile every run's steps with XLA, or none; neither flag: each run "
                             "compiles when it is large enough to pay back compiling (not on digits)")
    add_force_flag(parser, "json", "out")
    parser.set_defaults(handler=_ablate)


def _ablate(args: argparse.Namespace) -> int:
    from simplenn.datasets import check_dataset_name

    check_dataset_name(args.dataset)
    memory_limit = memory_limit_of(args)
    from simplenn.explain.ablate import ablate, format_table
    from simplenn.explain.figures import ablation_chart, draw_into_files_only, has_display

    if args.out:
        draw_into_files_only()

    rows = ablate(args.dataset, args.epochs, args.seed, args.jit_compile, memory_limit=memory_limit)
    print_table_and_json(format_table(rows), [row.to_dict() for row in rows], args.json, "rows")
    written = ablation_chart([row.change for row in rows], [row.test_accuracy for row in rows], args.out)
    if written:
        print(f"chart written to {written}")
    elif not has_display():
        print("no chart drawn: there is no display to show it on; --out FILE.png writes it",
              file=sys.stderr if args.json == "-" else sys.stdout)  # standard output holds only the JSON
    return 0


def add_evaluate_parser(commands) -> None:
    parser = add_command(
        commands, "evaluate", "score a trained run again, class by class",
        ("simplenn evaluate runs/fixed-digits-20261127-201500",
         "simplenn evaluate runs/fixed-mnist-20261127-201500 --dataset kmnist --json kmnist-scores.json"),
    )
    add_run_argument(parser)
    parser.add_argument("--dataset", default=None, metavar="NAME|PATH",
                        help="score on this catalogue dataset's test split (e.g. kmnist for an MNIST run), or "
                             "where the run's own data is now, when it was moved: a path must hash to the sha256 "
                             "the run recorded (default: the run's own data, where it trained)")
    add_json_flag(parser, "the scores", "RUN/evaluation.json")
    add_force_flag(parser, "json")
    parser.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    check_run_before_tensorflow(args.run_dir)
    from simplenn.machine.file_safety import STDOUT
    from simplenn.runs.evaluation import evaluation_json, format_evaluation, write_evaluation
    from simplenn.runs.loaded_run import load_run

    run = load_run(args.run_dir)
    evaluation = run.evaluate(args.dataset)
    if args.json == STDOUT:
        print(evaluation_json(evaluation, run))
        return 0
    print(terminal_text(format_evaluation(evaluation), keep="\n"))  # class names are data
    print(f"scores written to {write_evaluation(evaluation, args.json or run.run_dir / 'evaluation.json', run)}")
    return 0


def add_plot_parser(commands) -> None:
    parser = add_command(
        commands, "plot", "a trained run's figures as PNG files",
        ("simplenn plot runs/fixed-digits-20261127-201500",
         "simplenn plot runs/fixed-digits-20261127-201500 --out figures/fixed"),
    )
    add_run_argument(parser)
    parser.add_argument("--out", default=None, help="folder for the figures (default RUN/figures)")
    add_run_dataset_flag(parser)
    add_force_flag(parser)  # --out is a folder: plot_run checks each figure it would replace there
    parser.set_defaults(handler=_plot)


def _plot(args: argparse.Namespace) -> int:
    check_run_before_tensorflow(args.run_dir)
    from simplenn.explain.figures import draw_into_files_only, plot_run
    from simplenn.runs.loaded_run import load_run

    draw_into_files_only()
    written = plot_run(load_run(args.run_dir, dataset=args.dataset), out_dir=args.out, force=args.force)
    for path in written.values():
        print(f"figure written to {path}")
    return 0


def add_report_parser(commands) -> None:
    parser = add_command(
        commands, "report", "a trained run on one self-contained HTML page",
        ("simplenn report runs/fixed-digits-20261127-201500",
         "simplenn report runs/fixed-digits-20261127-201500 --lang ko --out report-ko.html"),
    )
    add_run_argument(parser)
    parser.add_argument("--out", type=output_file, default=None, help="the HTML file (default RUN/report.html)")
    add_force_flag(parser, "out")
    parser.add_argument("--lang", choices=("en", "ko"), default="en", help="language of the headings (ko: Korean)")
    add_run_dataset_flag(parser)
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    check_run_before_tensorflow(args.run_dir)
    from simplenn.runs.loaded_run import load_run
    from simplenn.explain.figures import draw_into_files_only
    from simplenn.explain.report import write_report

    draw_into_files_only()

    print(f"report written to {write_report(load_run(args.run_dir, dataset=args.dataset), args.out, args.lang)}")
    return 0


def add_compare_parser(commands) -> None:
    parser = add_command(
        commands, "compare", "runs side by side: the settings that differ, scores, curves",
        ("simplenn compare runs/blog-digits-20261127-201500 runs/fixed-digits-20261127-201800",
         "simplenn compare runs/*-fashion-mnist-* --out curves.png"),
    )
    parser.add_argument("run_dirs", metavar="RUN", nargs="+", help="two or more --run-dir folders")
    parser.add_argument("--out", type=image_file, default=None,
                        help="also write the overlaid learning curves here, a PNG (default: none; no run folder "
                             "is written into)")
    add_force_flag(parser, "out")
    parser.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from simplenn.explain.compare import compare_runs, format_comparison, plot_comparison

    comparison = compare_runs(args.run_dirs)  # reads the runs' records: a mistake answers before matplotlib loads
    from simplenn.explain.figures import draw_into_files_only

    draw_into_files_only()
    print(terminal_text(format_comparison(comparison), keep="\n"))  # run names are data
    if args.out:
        print(f"learning curves written to {plot_comparison(comparison, args.out)}")
    return 0
