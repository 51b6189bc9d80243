"""`simplenn bench`: simplenn's speed beside its peers; `bench sweep` and `bench strategies`."""

from __future__ import annotations

import argparse
import sys

from simplenn import config as configs
from simplenn.cli.flags import (
    add_command,
    add_comparison_flags,
    add_force_flag,
    config_from_args,
    memory_limit_of,
    non_negative_int,
    output_folder,
    positive_int,
    print_table_and_json,
)
from simplenn.errors import SimplennError


def add_bench_parser(commands) -> None:
    parser = add_command(
        commands, "bench", "simplenn's training speed next to Keras, scikit-learn, PyTorch, JAX and the post's eager loop",
        ("simplenn bench --dataset fashion-mnist --epochs 5 --repeat 3 --markdown",
         "simplenn bench sweep --out runs/sweep"),
        description="Simplenn's training speed next to Keras, scikit-learn, PyTorch, JAX and the post's eager "
                    "loop. `simplenn bench sweep` measures how the speed grows with the network instead, and "
                    "`simplenn bench strategies` how it grows with the replica count.",
    )
    add_comparison_flags(parser, "system", dataset="fashion-mnist", epochs=5,
                         json_help="the report, with every repeat's figures,")
    add_threads_flag(parser)
    parser.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                        help="run the systems N times, interleaved, and report medians with their range (default 1)")
    add_markdown_flag(parser)
    add_force_flag(parser, "json")
    # The modes' old spelling, `bench --sweep --out DIR` and `bench --strategy NAME`: still read, no longer shown.
    parser.add_argument("--sweep", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=output_folder, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--strategy", choices=configs.STRATEGIES, default="default", help=argparse.SUPPRESS)
    add_cpu_devices_flag(parser, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_bench)

    modes = parser.add_subparsers(title="modes (none: the systems side by side)", dest="mode", metavar="[MODE]",
                                  parser_class=type(parser))
    sweep = add_command(
        modes, "sweep", "how speed, and its share of the FLOP bound, grow with width, depth and batch size",
        ("simplenn bench sweep --out runs/sweep",
         "simplenn bench sweep --dataset fashion-mnist --epochs 5 --out runs/sweep --markdown"),
    )
    add_comparison_flags(sweep, "system", dataset="fashion-mnist", epochs=5)
    add_threads_flag(sweep)
    add_markdown_flag(sweep)
    sweep.add_argument("--out", type=output_folder, required=True, metavar="DIR",
                       help="the folder to write sweep.json and sweep.png into")
    strategies = add_command(
        modes, "strategies", "simplenn's samples/s against the replica count, with the scaling efficiency",
        ("simplenn bench strategies --strategy mirrored --cpu-devices 2",
         "simplenn bench strategies --strategy multiworker --json bench.json"),
        description="Simplenn's samples/s against the replica count, with the scaling efficiency. Under "
                    "multiworker every worker in TF_CONFIG runs the same command.",
    )
    add_comparison_flags(strategies, "run", dataset="fashion-mnist", epochs=5, json_help="the report")
    strategies.add_argument("--strategy", choices=("mirrored", "multiworker"), required=True,
                            help="mirrored: 1 replica, then every device of this machine, in one process; "
                                 "multiworker: the workers of TF_CONFIG, then each alone")
    add_cpu_devices_flag(strategies, help="for --strategy mirrored without GPUs: split the CPU into N logical devices")
    add_force_flag(strategies, "json")
    for mode in (sweep, strategies):  # a flag given before the mode's name (`bench --epochs 2 sweep`) still counts
        for action in mode._actions:
            action.default = argparse.SUPPRESS


def add_threads_flag(parser) -> None:
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="threads for every system's arithmetic (default: each library's own)")


def add_markdown_flag(parser) -> None:
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown, for a README")


def add_cpu_devices_flag(parser, help: str) -> None:
    parser.add_argument("--cpu-devices", type=non_negative_int, default=0, metavar="N", help=help)


def _bench(args: argparse.Namespace) -> int:
    """The mode named after `bench` (or by its old spelling, then named in a line at the end)."""
    from simplenn.training.cluster import cluster_of
    from simplenn.datasets import check_dataset_name

    mode, new_form = (args.mode, None) if args.mode else _mode_of_old_spelling(args)
    if mode == "sweep" and (args.repeat > 1 or args.json):
        flag = "--repeat" if args.repeat > 1 else "--json"
        sweep = "--sweep" if args.sweep else "the sweep"
        raise SimplennError(f"{flag} is for the comparison, not {sweep}, which writes its JSON into --out; drop {flag}")
    check_dataset_name(args.dataset)
    memory_limit = memory_limit_of(args)
    cluster = cluster_of(config_from_args(args, base=configs.Config()))  # checks --strategy, --cpu-devices, TF_CONFIG
    if mode == "strategies":
        _bench_strategies(args, memory_limit, cluster)
    elif mode == "sweep":
        _bench_sweep(args, memory_limit)
    else:
        from simplenn.bench.benchmark import format_markdown, format_table, run_bench

        report = run_bench(args.dataset, args.epochs, args.seed, args.threads, args.repeat, memory_limit=memory_limit)
        print_table_and_json(format_markdown(report) if args.markdown else format_table(report), report, args.json,
                             "report")
    if new_form:
        print(f"simplenn: note: {new_form}", file=sys.stderr)
    return 0


def _mode_of_old_spelling(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The mode that `bench --strategy NAME` or `bench --sweep` asks for, and a line naming its new form."""
    if args.sweep and not args.out:
        raise SimplennError("--sweep writes sweep.json and sweep.png: name their folder with --out DIR")
    if args.out and not args.sweep:
        raise SimplennError("--out is the folder `simplenn bench sweep` writes into; use that, or drop --out "
                            "(--json FILE keeps the comparison's report)")
    if args.strategy != "default":
        return "strategies", (f"`simplenn bench --strategy {args.strategy}` is now "
                              f"`simplenn bench strategies --strategy {args.strategy}`")
    if args.sweep:
        return "sweep", "`simplenn bench --sweep` is now `simplenn bench sweep`"
    return None, None


def _bench_strategies(args: argparse.Namespace, memory_limit, cluster) -> None:
    """`simplenn bench strategies --strategy mirrored|multiworker`: samples/s against the replica count."""
    from simplenn.bench.strategies import format_scaling_table, run_strategy_bench

    report = run_strategy_bench(args.dataset, args.epochs, args.seed, args.strategy, args.cpu_devices, cluster,
                                memory_limit=memory_limit)
    print_table_and_json(format_scaling_table(report), report, args.json, "report")


def _bench_sweep(args: argparse.Namespace, memory_limit) -> None:
    """`simplenn bench sweep --out DIR`: samples/s against width, depth and batch size, as JSON and a figure."""
    from simplenn.bench.sweep import format_sweep, run_sweep
    from simplenn.explain.figures import draw_into_files_only

    draw_into_files_only()
    sweep, written = run_sweep(args.out, args.dataset, args.epochs, args.seed, args.threads,
                               memory_limit=memory_limit)
    print(format_sweep(sweep, markdown=args.markdown))
    print(f"written to {', '.join(map(str, written))}")
