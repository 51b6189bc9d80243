"""`simplenn bench`: FLOPs against TensorFlow's own graph, the report against hand-made
timings, and the real command run on tiny data."""

import json

import pytest
import tensorflow as tf

from simplenn.bench import SystemResult, bench_config, bench_report, forward_flops, training_flops
from simplenn.cli import main
from simplenn.network import Network


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


def test_report_from_hand_made_timings():
    config = bench_config("digits", epochs=3, seed=0).replace(layers=(10, 5, 2))  # 260 FLOPs per sample
    fast = SystemResult("simplenn", [9.0, 0.5, 0.5], samples_per_epoch=100, test_accuracy=0.9)  # 200/s
    slow = SystemResult("keras fit", [1.0, 1.0, 1.0], samples_per_epoch=100, test_accuracy=0.8)  # 100/s
    # 2.6e-4 GFLOP/s = 260,000 FLOP/s: at most 1,000 samples/s.
    report = bench_report(config, 100, [fast, slow], gflops=2.6e-4, machine={})
    assert report["flop_bound_samples_per_s"] == pytest.approx(1000)
    simplenn, keras = report["systems"]["simplenn"], report["systems"]["keras fit"]
    assert (simplenn["samples_per_s"], keras["samples_per_s"]) == pytest.approx((200, 100))
    assert (simplenn["samples_per_s_with_first_epoch"], keras["samples_per_s_with_first_epoch"]) == pytest.approx((30, 100))
    assert (simplenn["simplenn_speedup"], keras["simplenn_speedup"]) == pytest.approx((1.0, 2.0))
    assert (simplenn["fraction_of_flop_bound"], keras["fraction_of_flop_bound"]) == pytest.approx((0.2, 0.1))
    assert (report["layers"], report["epochs"], report["flops_per_sample"]["training"]) == ([10, 5, 2], 3, 260)


def test_bench_command_runs_every_system_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--dataset", "digits", "--epochs", "2", "--json", str(path)]) == 0
    table = capsys.readouterr().out
    report = json.loads(path.read_text())

    assert report["layers"] == [64, 100, 30, 10]  # the first layer sized to 8x8 digits
    assert (report["batch_size"], report["optimizer"]) == (128, "adam lr 0.001")  # whatever `fixed` tunes
    # multiply-adds: 64x100 forward and dW1; 100x30 and 30x10 forward, dW and dA
    assert (report["n_train"], report["flops_per_sample"]["training"]) == (1347, 2 * (2 * 64 * 100 + 3 * 100 * 30 + 3 * 30 * 10))
    assert report["matmul_gflops"] > 0
    assert set(report["systems"]) == {"simplenn", "keras fit", "scikit-learn", "post (eager)"}
    for name, system in report["systems"].items():
        assert system["epochs"] == len(system["epoch_seconds"]) == 2, name
        assert all(seconds > 0 for seconds in system["epoch_seconds"]), name
        # Two epochs of 1347 images each: speed leaves out the first.
        assert system["samples_per_s"] == pytest.approx(1347 / system["epoch_seconds"][1]), name
        assert 0 < system["fraction_of_flop_bound"] <= 1, name  # no system beats its own matmuls
        assert 0.2 < system["test_accuracy"] <= 1, name  # 22 Adam steps lift every system above chance (0.1)
        assert name in table
    assert report["systems"]["simplenn"]["simplenn_speedup"] == 1.0
    assert "leave out epoch 1" in table
    assert f"report written to {path}" in table
