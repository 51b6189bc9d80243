"""`simplenn predict`, `export`, `serve` and `lab`: a trained run put to use."""

from __future__ import annotations

import argparse
import sys

from simplenn.cli.flags import (
    add_command,
    add_force_flag,
    add_json_flag,
    add_memory_flag,
    add_recipe_flag,
    add_run_argument,
    check_run_before_tensorflow,
    output_file,
    output_folder,
    positive_int,
    write_json_output,
)
from simplenn.errors import SimplennError


def add_predict_parser(commands) -> None:
    parser = add_command(
        commands, "predict", "a trained run's top classes for your own images",
        ("simplenn predict runs/fixed-digits-20261127-201500 my_digit.png",
         "simplenn predict RUN photos/ --top-k 3 --save-input seen/ --json -"),
    )
    add_run_argument(parser)
    parser.add_argument("images", metavar="IMAGE", nargs="+",
                        help="image files, or folders of them; or one table of the run's inputs, a CSV "
                             "(Kaggle's test.csv) or a .npy, predicted row by row")
    parser.add_argument("--top-k", type=positive_int, default=3, help="how many classes to list (default 3)")
    add_json_flag(parser, "the predictions as JSON", default="none: lines on standard output")
    parser.add_argument("--save-input", metavar="DIR", default=None,
                        help="write each image beside the image the network saw, as NAME.seen.png into DIR "
                             "(default: none)")
    add_recipe_flag(parser)
    parser.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                        help="the ink is dark on light paper (--invert) or not (--no-invert); default: decided per image")
    parser.add_argument("--out", type=output_file, default=None,
                        help="for a CSV or .npy: also write Kaggle's ImageId,Label file here (default: none)")
    add_force_flag(parser, "json", "out")
    parser.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    check_run_before_tensorflow(args.run_dir)
    from simplenn.runs.loaded_run import load_run
    from simplenn.serving.prediction import (
        check_save_inputs,
        format_predictions,
        is_image_table,
        predict_images,
        predict_table,
        predictions_json,
        save_inputs,
        write_submission,
    )

    table = len(args.images) == 1 and is_image_table(args.images[0])
    if args.out and not table:
        raise SimplennError("--out writes the ImageId,Label file of a CSV or .npy; drop it for image files")
    if table and args.recipe:
        raise SimplennError("--recipe turns image files into inputs; a CSV or .npy already holds them, drop --recipe")
    if args.save_input:  # every name it will write, checked before the work
        check_save_inputs(args.images, args.save_input, force=args.force)
    run = load_run(args.run_dir)
    predictions = predict_table(run, args.images[0]) if table else \
        predict_images(run, args.images, args.invert, args.recipe)
    if args.json:
        write_json_output(args.json, predictions_json(predictions, args.top_k))
    else:
        print(format_predictions(predictions, args.top_k))
    if args.out:
        print(f"predictions written to {write_submission(predictions, args.out)}", file=sys.stderr if args.json == "-" else sys.stdout)
    if args.save_input:
        written = save_inputs(predictions, args.save_input, force=args.force)
        if args.json != "-":
            print(f"{len(written)} network view(s) written to {args.save_input}")
    return 0


def add_export_parser(commands) -> None:
    parser = add_command(
        commands, "export", "a trained run as a TensorFlow SavedModel or TFLite file",
        ("simplenn export runs/fixed-digits-20261127-201500 exported/simplenn/1",
         "simplenn export RUN model.tflite --format tflite"),
    )
    add_run_argument(parser)
    parser.add_argument("out", metavar="OUT", help="the SavedModel folder, or the .tflite file, to write")
    parser.add_argument("--format", choices=("saved_model", "tflite"), default=None,
                        help="saved_model (for TensorFlow Serving) or tflite (default: tflite when OUT ends in "
                             ".tflite, else saved_model; a contradiction is refused)")
    parser.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    check_run_before_tensorflow(args.run_dir)
    from simplenn.serving.export import export_format, export_run, export_summary
    from simplenn.runs.loaded_run import load_run

    format = export_format(args.out, args.format)  # a contradiction is refused before the run loads
    run = load_run(args.run_dir)
    print(export_summary(run, export_run(run, args.out, format), format))
    return 0


def add_serve_parser(commands) -> None:
    parser = add_command(
        commands, "serve", "a draw-a-digit page and a TF Serving-style JSON API for a run",
        ("simplenn serve runs/fixed-digits-20261127-201500", "simplenn serve RUN --port 8080"),
    )
    add_run_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=positive_int, default=8000, help="port (default 8000)")
    add_recipe_flag(parser)
    parser.add_argument("--allowed-hosts", default="", metavar="NAMES",
                        help="comma-separated Host names to answer besides localhost, 127.0.0.1, ::1 and --host, "
                             "e.g. mybox.lan (requests naming any other host get 421: no DNS rebinding)")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    check_run_before_tensorflow(args.run_dir)
    from simplenn.runs.loaded_run import load_run
    from simplenn.serving.server import serve
    from simplenn.serving.web import check_host

    allowed = tuple(name.strip() for name in args.allowed_hosts.split(",") if name.strip())
    check_host(args.host)  # before the run loads
    serve(load_run(args.run_dir), args.host, args.port, args.recipe, allowed)
    return 0


def add_lab_parser(commands) -> None:
    parser = add_command(
        commands, "lab", "train in the browser: flip the post's mistakes one at a time and watch the run",
        ("simplenn lab", "simplenn lab --port 8080 --runs-dir runs/lab"),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=positive_int, default=8000, help="port (default 8000)")
    parser.add_argument("--runs-dir", type=output_folder, default="runs/lab",
                        help="where each run's folder is written (default runs/lab)")
    add_memory_flag(parser)
    parser.set_defaults(handler=_lab)


def _lab(args: argparse.Namespace) -> int:
    from simplenn.serving.lab import serve_lab

    serve_lab(args.runs_dir, args.host, args.port, args.max_memory)
    return 0
