"""`simplenn bench`: simplenn's speed beside its peers; `bench sweep` and `bench strategies`."""

from __future__ import annotations

import argparse
import json

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
)
from simplenn.errors import SimplennError


def add_bench_parser(commands) -> None:
    parser = add_command(
        commands, "bench", "simplenn's training speed next to Keras, scikit-learn, PyTorch, JAX and the post's eager loop",
        ("simplenn bench --dataset fashion-mnist --epochs 5 --repeat 3 --markdown",
         "simplenn bench --sweep --out runs/sweep"),
    )
    add_comparison_flags(parser, "system", dataset="fashion-mnist", epochs=5,
                          json_help="the report, with every repeat's figures,")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="threads for every system's arithmetic (default: each library's own)")
    parser.add_argument("--strategy", choices=configs.STRATEGIES, default="default",
                        help="mirrored or multiworker: instead of the systems, simplenn's samples/s against the "
                             "replica count, with the scaling efficiency")
    parser.add_argument("--cpu-devices", type=non_negative_int, default=0, metavar="N",
                        help="for --strategy mirrored without GPUs: split the CPU into N logical devices")
    parser.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                        help="run the systems N times, interleaved, and report medians with their range (default 1)")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown, for a README")
    parser.add_argument("--sweep", action="store_true",
                        help="measure how speed grows with width, depth and batch size instead; needs --out")
    parser.add_argument("--out", type=output_folder, default=None, metavar="DIR",
                        help="the folder --sweep writes sweep.json and sweep.png into")
    add_force_flag(parser, "json")
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from simplenn.training.cluster import cluster_of
    from simplenn.datasets import check_dataset_name

    if args.sweep and not args.out:
        raise SimplennError("--sweep writes sweep.json and sweep.png: name their folder with --out DIR")
    if args.out and not args.sweep:
        raise SimplennError("--out is the folder --sweep writes into; add --sweep, or drop --out "
                            "(--json FILE keeps the comparison's report)")
    if args.sweep and (args.repeat > 1 or args.json):
        flag = "--repeat" if args.repeat > 1 else "--json"
        raise SimplennError(f"{flag} is for the comparison, not --sweep, which writes its JSON into --out; drop {flag}")
    check_dataset_name(args.dataset)
    memory_limit = memory_limit_of(args)
    cluster = cluster_of(config_from_args(args, base=configs.Config()))  # checks --strategy, --cpu-devices, TF_CONFIG
    if args.strategy != "default":
        return _bench_strategy(args, memory_limit, cluster)
    if args.sweep:
        return _bench_sweep(args, memory_limit)
    from simplenn.bench.benchmark import format_markdown, format_table, run_bench
    from simplenn.machine.file_safety import write_json

    report = run_bench(args.dataset, args.epochs, args.seed, args.threads, args.repeat, memory_limit=memory_limit)
    if args.json == "-":
        print(json.dumps(report, indent=2))
        return 0
    print(format_markdown(report) if args.markdown else format_table(report))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


def _bench_strategy(args: argparse.Namespace, memory_limit, cluster) -> int:
    """`simplenn bench --strategy mirrored|multiworker`: samples/s against the replica count."""
    from simplenn.bench.strategies import format_scaling_table, run_strategy_bench
    from simplenn.machine.file_safety import write_json

    report = run_strategy_bench(args.dataset, args.epochs, args.seed, args.strategy, args.cpu_devices, cluster,
                                memory_limit=memory_limit)
    print(format_scaling_table(report))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


def _bench_sweep(args: argparse.Namespace, memory_limit) -> int:
    from simplenn.bench.sweep import format_sweep, run_sweep
    from simplenn.explain.plots import draw_into_files_only

    draw_into_files_only()
    sweep, written = run_sweep(args.out, args.dataset, args.epochs, args.seed, args.threads,
                               memory_limit=memory_limit)
    print(format_sweep(sweep, markdown=args.markdown))
    print(f"written to {', '.join(map(str, written))}")
    return 0
