"""`simplenn bench`: FLOPs against TensorFlow's own graph, the report against hand-made
timings, repeats interleaved and summed up by medians, the PyTorch and JAX peers and the
sweep run for real on tiny data, and the command's errors."""

import json
import struct

import pytest
import tensorflow as tf

from cli_messages import error_message
from simplenn.bench import benchmark as bench, sweep as bench_sweep
from simplenn.bench.benchmark import (bench_config, bench_report, format_markdown, format_table, forward_flops,
                            run_bench, run_in_fresh_process, training_flops)
from simplenn.bench.systems import BENCH_EXTRA, SYSTEMS, System, SystemResult
from simplenn.cli import main
from simplenn.config import fit_to_data, preset
from simplenn.training.data import prepare_data
from simplenn.errors import SimplennError
from simplenn.machine.memory import MemoryLimit
from simplenn.nn.network import Network


def graph_matmul_flops(layers, backward: bool) -> int:
    """2 m k n for every `(m, k) @ (k, n)` MatMul that TensorFlow puts in a compiled step on
    one example: the forward pass, and with `backward` the gradients that `tape.gradient`
    adds for the parameters (and only for them: no MatMul for dX)."""
    network = Network(layers)
    X, Y = tf.zeros((1, layers[0])), tf.zeros((1, layers[-1]))

    @tf.function
    def step(X, Y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(Y, network.forward(X)))
        return tape.gradient(loss, network.params) if backward else loss

    flops = 0
    for op in step.get_concrete_function(X, Y).graph.get_operations():
        if op.type == "MatMul":
            (m, k), (_, n) = (
                t.shape.as_list()[::-1] if op.get_attr(f"transpose_{side}") else t.shape.as_list()
                for t, side in zip(op.inputs, "ab")
            )
            flops += 2 * m * k * n
    return flops


@pytest.mark.parametrize("layers", [(784, 100, 30, 10), (64, 32, 10), (5, 3)])
def test_flops_are_those_of_the_matmuls_tensorflow_runs(layers):
    assert forward_flops(layers) == graph_matmul_flops(layers, backward=False)
    assert training_flops(layers) == graph_matmul_flops(layers, backward=True)


def test_flops_of_a_tiny_network_counted_by_hand():
    # 10-5-2, multiply-adds: forward X@W1 10*5 + A1@W2 5*2 = 60;
    # backward dW1 10*5 + dW2 5*2 + dA1 = dZ2 @ W2^T 2*5 = 70 (no dX). Two FLOPs each.
    assert forward_flops((10, 5, 2)) == 120
    assert training_flops((10, 5, 2)) == 260


def test_speed_leaves_out_the_first_epoch():
    # 100 samples per epoch; epochs of 10 s, 1 s and 3 s.
    result = SystemResult("x", epoch_seconds=[10.0, 1.0, 3.0], samples_per_epoch=100, test_accuracy=0.5)
    assert result.samples_per_s == pytest.approx(50.0)  # 200 samples in 4 s
    assert result.samples_per_s_with_first_epoch == pytest.approx(21.428571)  # 300 samples in 14 s
    assert SystemResult("y", [2.0], 100, 0.5).samples_per_s == pytest.approx(50.0)  # one epoch: it counts


def test_first_epoch_extra_is_epoch_1_less_a_steady_epoch():
    assert SystemResult("x", [10.0, 1.0, 3.0, 2.0], 100, 0.5).first_epoch_extra_s == pytest.approx(8.0)  # median 2
    assert SystemResult("x", [10.0], 100, 0.5).first_epoch_extra_s is None  # nothing to compare with
    # scikit-learn reports only its mean epoch: no first epoch to tell apart.
    assert SystemResult("x", [2.0, 2.0], 100, 0.5, epochs_timed=False).first_epoch_extra_s is None


def test_report_from_hand_made_timings():
    config = bench_config("digits", epochs=3, seed=0).replace(layers=(10, 5, 2))  # 260 FLOPs per sample
    fast = SystemResult("simplenn", [9.0, 0.5, 0.5], samples_per_epoch=100, test_accuracy=0.9)  # 200/s
    slow = SystemResult("keras fit", [1.0, 1.0, 1.0], samples_per_epoch=100, test_accuracy=0.8)  # 100/s
    # 2.6e-4 GFLOP/s = 260,000 FLOP/s: at most 1,000 samples/s.
    report = bench_report(config, 100, {"simplenn": [fast], "keras fit": [slow]}, gflops=[2.6e-4], machine={})
    assert report["flop_bound_samples_per_s"] == pytest.approx(1000)
    simplenn, keras = report["systems"]["simplenn"], report["systems"]["keras fit"]
    assert (simplenn["samples_per_s"], keras["samples_per_s"]) == pytest.approx((200, 100))
    assert (simplenn["samples_per_s_with_first_epoch"], keras["samples_per_s_with_first_epoch"]) == pytest.approx((30, 100))
    assert (simplenn["simplenn_speedup"], keras["simplenn_speedup"]) == pytest.approx((1.0, 2.0))
    assert (simplenn["fraction_of_flop_bound"], keras["fraction_of_flop_bound"]) == pytest.approx((0.2, 0.1))
    assert keras["simplenn_speedup_with_first_epoch"] == pytest.approx(0.3)  # 30 against 100 samples/s
    assert (report["layers"], report["epochs"], report["flops_per_sample"]["training"]) == ([10, 5, 2], 3, 260)


@pytest.mark.slow  # four benchmark processes
def test_bench_command_repeats_systems_each_in_its_own_process_and_writes_json(tmp_path, capsys, monkeypatch):
    # Two systems, each run twice in a new process: 4 processes. Every system trains below.
    monkeypatch.setattr(bench, "SYSTEMS", tuple(s for s in SYSTEMS if s.name in ("simplenn", "scikit-learn")))
    path = tmp_path / "bench.json"
    assert main(["bench", "--dataset", "digits", "--epochs", "2", "--repeat", "2", "--json", str(path)]) == 0
    table = capsys.readouterr().out
    report = json.loads(path.read_text())

    assert report["layers"] == [64, 100, 30, 10]  # the first layer sized to 8x8 digits
    assert (report["batch_size"], report["optimizer"]) == (128, "adam lr 0.001")  # whatever `fixed` tunes
    # multiply-adds: 64x100 forward and dW1; 100x30 and 30x10 forward, dW and dA
    assert (report["n_train"], report["flops_per_sample"]["training"]) == (1347, 2 * (2 * 64 * 100 + 3 * 100 * 30 + 3 * 30 * 10))
    assert report["repeats"] == len(report["matmul_gflops_runs"]) == 2
    assert report["matmul_gflops"] > 0
    assert set(report["systems"]) == {"simplenn", "scikit-learn"} and report["skipped"] == {}
    for name, system in report["systems"].items():
        assert len(system["runs"]) == 2, name
        for run in system["runs"]:
            assert len(run["epoch_seconds"]) == 2 and all(seconds > 0 for seconds in run["epoch_seconds"]), name
            # Two epochs of 1347 images each: speed leaves out the first.
            assert run["samples_per_s"] == pytest.approx(1347 / run["epoch_seconds"][1]), name
        # The median of two repeats is their mean.
        assert system["samples_per_s"] == pytest.approx(sum(run["samples_per_s"] for run in system["runs"]) / 2), name
        assert 0 < system["fraction_of_flop_bound"] <= 1, name  # no system beats its own matmuls
        assert 0.2 < system["test_accuracy"] <= 1, name  # 22 Adam steps lift every system above chance (0.1)
        assert name in table
    # A run in a new process compiles again: its first epoch is the slower (simplenn compiles, 2 epochs).
    assert all(run["first_epoch_extra_s"] > 0 for run in report["systems"]["simplenn"]["runs"])
    assert report["systems"]["simplenn"]["simplenn_speedup"] == 1.0
    assert "medians of 2 interleaved repeats" in table
    assert f"report written to {path}" in table


def fake_system(name: str, calls: list[str], epoch_seconds: list[list[float]], accuracy: float = 0.5) -> System:
    """A system that records its calls and returns one of `epoch_seconds` per repeat, in turn."""
    repeats = iter(epoch_seconds)

    def train(config, data):
        calls.append(name)
        return SystemResult(name, next(repeats), samples_per_epoch=100, test_accuracy=accuracy)

    return System(name, train)


def train_here(system, config, threads, memory_limit) -> SystemResult:
    """`run_in_fresh_process` for fake systems: they train in this process."""
    return system.train(config, None)


def test_repeats_run_interleaved_and_report_medians(monkeypatch):
    calls: list[str] = []
    systems = (
        # steady 1000, 500, 2000 samples/s -> median 1000; with epoch 1: 250, 125, 187.5 -> 187.5;
        # epoch 1's extra time 0.9, 1.8, 1.45 -> 1.45
        fake_system("simplenn", calls, [[1.0, 0.1, 0.1], [2.0, 0.2, 0.2], [1.5, 0.05, 0.05]]),
        # steady 100, 200, 400 -> 200; with epoch 1: 300 / 3, 300 / 1.5, 300 / 0.75 -> 200
        fake_system("b", calls, [[1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]]),
        fake_system("c", calls, [[0.5, 0.5, 0.5]] * 3),  # 200 samples/s, each way
    )
    monkeypatch.setattr(bench, "run_in_fresh_process", train_here)
    gflops = iter([4e-5, 1e-5, 2e-5])  # median 2e-5 GFLOP/s = 20,000 FLOP/s
    monkeypatch.setattr(bench, "matmul_gflops", lambda layers, batch_size: calls.append("matmuls") or next(gflops))
    monkeypatch.setattr(bench, "training_flops", lambda layers: 10)  # so the bound is 2,000 samples/s
    lines: list[str] = []
    report = run_bench("digits", epochs=3, repeat=3, systems=systems, log=lines.append)

    assert calls == ["simplenn", "b", "c", "matmuls"] * 3  # A B C A B C A B C, not A A A B B B
    assert lines[0] == "repeat 1/3: training simplenn ..." and lines[-1] == "repeat 3/3: measuring matmul speed ..."
    simplenn, b, c = (report["systems"][name] for name in ("simplenn", "b", "c"))
    assert (simplenn["samples_per_s"], simplenn["samples_per_s_range"]) == (pytest.approx(1000), pytest.approx([500, 2000]))
    assert simplenn["samples_per_s_with_first_epoch"] == pytest.approx(187.5)
    assert simplenn["first_epoch_extra_s"] == pytest.approx(1.45)
    assert (b["samples_per_s"], b["samples_per_s_with_first_epoch"]) == (pytest.approx(200), pytest.approx(200))
    # Ratios divide medians: 1000 / 200 steady, 187.5 / 200 counting epoch 1.
    assert (b["simplenn_speedup"], b["simplenn_speedup_with_first_epoch"]) == (pytest.approx(5), pytest.approx(0.9375))
    assert c["simplenn_speedup"] == pytest.approx(5)
    assert report["matmul_gflops"] == pytest.approx(2e-5) and report["flop_bound_samples_per_s"] == pytest.approx(2000)
    assert simplenn["fraction_of_flop_bound"] == pytest.approx(0.5)
    assert [run["samples_per_s"] for run in simplenn["runs"]] == pytest.approx([1000, 500, 2000])  # every repeat kept
    assert len(report["machine"]["load_averages"]) == 4  # before, and after each repeat

    table = format_table(report)
    assert "1,000 (500–2,000)" in table and "1.45 s" in table and "5.00x" in table
    markdown = format_markdown(report).splitlines()
    assert "| **simplenn** | **1,000 (500–2,000)** | **188 (125–250)** | **1.45 s** |" in markdown[4]
    assert markdown[5].startswith("| b | 200 (100–400) | 200 (100–400) | 0.00 s | 50.00 % | 5.00× | 0.94× | 10 % |")


def test_one_repeat_keeps_the_table_of_one_run_and_a_missing_library_skips_its_system(monkeypatch):
    calls: list[str] = []
    ghost = System("ghost", lambda config, data: calls.append("ghost"), needs=("simplenn_no_such_module",))
    systems = (fake_system("simplenn", calls, [[1.0, 0.1]]), ghost)
    monkeypatch.setattr(bench, "run_in_fresh_process", train_here)
    monkeypatch.setattr(bench, "matmul_gflops", lambda layers, batch_size: 1.0)
    report = run_bench("digits", epochs=2, systems=systems, log=lambda line: None)

    assert calls == ["simplenn"]  # the ghost never trains
    reason = f"skipped: simplenn_no_such_module not installed ({BENCH_EXTRA})"
    assert report["skipped"] == {"ghost": reason} and set(report["systems"]) == {"simplenn"}
    table = format_table(report).splitlines()
    assert table[3].split() == ["system", "samples/s", "with", "ep.", "1", "test", "acc", "simplenn", "is",
                                "FLOP", "bound", "note"]
    assert table[4].split()[:3] == ["simplenn", "1,000", "182"]  # no ranges after one run
    assert table[5] == f"ghost         {reason}"
    assert f"| ghost | {reason} |" in format_markdown(report)


@pytest.mark.slow  # a fresh process importing TensorFlow
def test_a_system_that_fails_in_its_process_is_one_line():
    config = bench_config("digits", epochs=1, seed=0).replace(dataset="/nonexistent/images.npz")
    with pytest.raises(SimplennError) as raised:
        run_in_fresh_process(SYSTEMS[0], config, threads=None, memory_limit=MemoryLimit.of(None))
    message = str(raised.value)
    assert message.startswith("simplenn failed in its process (exit status 2): ")
    assert "/nonexistent/images.npz" in message and "\n" not in message


def tiny_data(epochs: int):
    config = bench_config("digits", epochs=epochs, seed=0)
    data = prepare_data(config)
    return fit_to_data(config, data.n_features, data.n_classes, layers_given=False), data


@pytest.mark.slow  # each peer's real training
@pytest.mark.parametrize("system", SYSTEMS, ids=[system.name for system in SYSTEMS])
def test_every_system_trains_the_network_on_tiny_data(system):
    if system.missing():
        pytest.skip(f"{system.name}: {system.missing()}")
    config, data = tiny_data(epochs=3)
    result = system.train(config, data)
    assert result.name == system.name and result.samples_per_epoch == 1347
    assert len(result.epoch_seconds) == 3 and all(seconds > 0 for seconds in result.epoch_seconds)
    assert 0.3 < result.test_accuracy <= 1  # 33 Adam steps: far above chance (0.1)


def sweep_plan():
    return bench_sweep.SweepPlan(width=(16, 48), depth=(2,), batch_size=(256,), keras_at=(("width", 48),),
                                 n_train=500, matmul_repeats=1)


@pytest.mark.slow  # a benchmark sweep
def test_sweep_command_writes_its_json_and_figure_and_nothing_else(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench_sweep, "PLAN", sweep_plan())
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sweep"
    assert main(["bench", "sweep", "--dataset", "digits", "--epochs", "2", "--out", str(out), "--markdown"]) == 0
    printed = capsys.readouterr().out

    assert sorted(path.name for path in tmp_path.iterdir()) == ["sweep"]
    assert sorted(path.name for path in out.iterdir()) == ["sweep.json", "sweep.png"]
    sweep = json.loads((out / "sweep.json").read_text())
    assert [(p["axis"], p["value"], p["layers"], p["batch_size"]) for p in sweep["points"]] == [
        ("width", 16, [64, 16, 30, 10], 128), ("width", 48, [64, 48, 30, 10], 128),
        ("depth", 2, [64, 100, 100, 10], 128), ("batch_size", 256, [64, 100, 30, 10], 256),
    ]
    assert [sorted(p["systems"]) for p in sweep["points"]] == [["simplenn"], ["keras fit", "simplenn"], ["simplenn"], ["simplenn"]]
    for point in sweep["points"]:
        assert point["flops_per_sample"] == training_flops(point["layers"])
        for system in point["systems"].values():
            assert len(system["epoch_seconds"]) == 2
            assert system["samples_per_s"] == pytest.approx(500 / system["epoch_seconds"][1])
            assert system["fraction_of_flop_bound"] == pytest.approx(
                system["samples_per_s"] / point["flop_bound_samples_per_s"])
            assert 0 < system["fraction_of_flop_bound"] <= 1
    assert (sweep["n_train"], sweep["epochs"]) == (500, 2)
    png = (out / "sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 1000 and height > 600  # three axes side by side, two rows
    assert "| width | 48 | 64-48-30-10 | 128 |" in printed
    assert f"written to {out / 'sweep.json'}, {out / 'sweep.png'}" in printed


@pytest.mark.parametrize("argv, message", [
    (["--repeat", "0"], "argument --repeat: must be a positive whole number, got 0"),
    (["--repeat", "x"], "argument --repeat: must be a whole number, got 'x'"),
    (["--sweep"], "--sweep writes sweep.json and sweep.png: name their folder with --out DIR"),
    (["--out", "{tmp}/sweep"], "--out is the folder `simplenn bench sweep` writes into; use that, or drop --out"),
    (["sweep"], "the following arguments are required: --out (see `simplenn bench sweep --help`)"),
    (["sweep", "--out", "{tmp}/sweep", "--repeat", "3"], "unrecognized arguments: --repeat 3"),
    (["--repeat", "3", "sweep", "--out", "{tmp}/sweep"], "--repeat is for the comparison, not the sweep"),
    (["sweep", "--out", "{tmp}/notes.txt"], "argument --out: cannot write into {tmp}/notes.txt: it is a file; give a folder"),
    (["strategies"], "the following arguments are required: --strategy (see `simplenn bench strategies --help`)"),
    (["strategies", "--strategy", "default"], "argument --strategy: invalid choice: 'default'"),
    (["strategies", "--strategy", "mirrored", "--out", "{tmp}/sweep"], "unrecognized arguments: --out"),
    (["--sweep", "--out", "{tmp}/sweep", "--repeat", "3"], "--repeat is for the comparison, not --sweep"),
    (["--sweep", "--out", "{tmp}/sweep", "--json", "{tmp}/x.json"], "--json is for the comparison, not --sweep"),
    (["--sweep", "--out", "{tmp}/notes.txt"], "argument --out: cannot write into {tmp}/notes.txt: it is a file; give a folder"),
    (["--sweep", "--out", "{tmp}/notes.txt/sweep"], "argument --out: cannot write into {tmp}/notes.txt/sweep: {tmp}/notes.txt is not a writable folder"),
    (["--sweep", "--out", "{tmp}/linked"], "--out folder {tmp}/linked holds a link {tmp}/linked/sweep.png -> {tmp}/notes.txt"),
])
def test_bad_bench_flags_exit_2_with_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "sweep.png").symlink_to(tmp_path / "notes.txt")
    assert main(["bench", "--dataset", "digits", *(arg.format(tmp=tmp_path) for arg in argv)]) == 2
    assert message.format(tmp=tmp_path) in error_message(capsys.readouterr().err)
    assert (tmp_path / "notes.txt").read_text() == "mine\n"  # nothing written through the link
    assert not (tmp_path / "sweep").exists()


def test_a_systems_process_calls_set_up_before_tensorflow_loads(monkeypatch, capsys):
    """`python -m simplenn.bench.systems` is an entry point: it starts as the CLI does (`simplenn.set_up()`)."""
    import io
    import subprocess
    import sys

    from simplenn.bench import systems

    imported = subprocess.run([sys.executable, "-c", "import sys, simplenn.bench.systems; "
                               "print('tensorflow' in sys.modules)"], capture_output=True, text=True, timeout=120)
    assert imported.stdout == "False\n", imported.stderr  # so that `main` can call set_up before TensorFlow loads
    calls = []
    monkeypatch.setattr(systems, "set_up", lambda one_command=False: calls.append(("set_up", one_command)))
    monkeypatch.setattr(systems, "train_requested_system",
                        lambda request: calls.append("train") or SystemResult("scikit-learn", [1.0], 10, 0.5))
    monkeypatch.setattr(sys, "stdin", io.StringIO("{}"))
    assert systems.main() == 0 and calls == [("set_up", True), "train"]
    request = {"system": "scikit-learn", "config": preset("fixed").replace(dataset="digits", epochs=1).to_dict(),
               "threads": None, "memory_limit": {"bytes": 2**31, "origin": "a test"}}
    done = subprocess.run([sys.executable, "-m", "simplenn.bench.systems"], input=json.dumps(request),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "oneDNN custom operations" not in done.stderr  # TensorFlow's import-time lines muted, as under the CLI
    assert json.loads(done.stdout.splitlines()[-1])["name"] == "scikit-learn"


@pytest.mark.parametrize("old, new, note", [
    (["--sweep", "--out", "{tmp}/sweep"], ["sweep", "--out", "{tmp}/sweep"],
     "`simplenn bench --sweep` is now `simplenn bench sweep`"),
    (["--strategy", "mirrored", "--cpu-devices", "2"], ["strategies", "--strategy", "mirrored", "--cpu-devices", "2"],
     "`simplenn bench --strategy mirrored` is now `simplenn bench strategies --strategy mirrored`"),
])
def test_the_modes_old_spelling_runs_the_same_mode_and_names_its_new_form(old, new, note, tmp_path, capsys,
                                                                          monkeypatch):
    from simplenn.bench import strategies

    calls = []
    monkeypatch.setattr(bench_sweep, "run_sweep", lambda *a, **k: calls.append(("sweep", a, k)) or ({}, []))
    monkeypatch.setattr(bench_sweep, "format_sweep", lambda sweep, markdown: "the sweep")
    monkeypatch.setattr(strategies, "run_strategy_bench", lambda *a, **k: calls.append(("strategies", a, k)) or {})
    monkeypatch.setattr(strategies, "format_scaling_table", lambda report: "the scaling")
    common = ["bench", "--dataset", "digits", "--epochs", "2", "--max-memory", "8G"]
    assert main([*common, *(arg.format(tmp=tmp_path) for arg in new)]) == 0
    assert capsys.readouterr().err == ""
    assert main([*common, *(arg.format(tmp=tmp_path) for arg in old)]) == 0
    assert capsys.readouterr().err == f"simplenn: note: {note}\n"
    assert len(calls) == 2 and calls[0] == calls[1] and calls[0][0] == new[0]


def test_strategies_json_to_standard_output_prints_the_report_and_writes_no_file(tmp_path, capsys, monkeypatch):
    from simplenn.bench import strategies

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(strategies, "run_strategy_bench", lambda *a, **k: {"replicas": [1]})
    monkeypatch.setattr(strategies, "format_scaling_table", lambda report: "the scaling")
    assert main(["bench", "strategies", "--dataset", "digits", "--strategy", "mirrored", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == {"replicas": [1]}
    assert list(tmp_path.iterdir()) == []
