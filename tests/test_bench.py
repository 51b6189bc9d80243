"""`simplenn bench`: FLOPs counted exactly, and the real command run on tiny data."""

import json

import pytest

from simplenn.bench import SystemResult, backward_flops, forward_flops, training_flops
from simplenn.cli import main


def matmul_flops(layers, per_layer):
    return sum(2 * n_in * n_out for l, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:]), start=1)
               if per_layer(l))


@pytest.mark.parametrize("layers", [(784, 100, 30, 10), (64, 32, 10), (5, 3)])
def test_flops_are_those_of_every_matrix_product(layers):
    every_layer = matmul_flops(layers, lambda l: True)  # Z_l = A_{l-1} @ W_l, and dW_l
    past_the_first = matmul_flops(layers, lambda l: l > 1)  # dA_{l-1} = dZ_l @ W_l^T, no dX
    assert forward_flops(layers) == every_layer
    assert backward_flops(layers) == every_layer + past_the_first
    assert training_flops(layers) == 2 * every_layer + past_the_first


def test_the_posts_network_costs_333_400_flops_per_example():
    assert forward_flops((784, 100, 30, 10)) == 2 * (784 * 100 + 100 * 30 + 30 * 10) == 163_400
    assert backward_flops((784, 100, 30, 10)) == 2 * 163_400 - 2 * 784 * 100 == 170_000
    assert training_flops((784, 100, 30, 10)) == 333_400


def test_speed_leaves_out_the_first_epoch():
    result = SystemResult("x", epoch_seconds=[10.0, 1.0, 3.0], samples_per_epoch=100, test_accuracy=0.5)
    assert result.samples_per_s == pytest.approx(200 / 4)
    assert result.samples_per_s_with_first_epoch == pytest.approx(300 / 14)
    assert SystemResult("y", [2.0], 100, 0.5).samples_per_s == pytest.approx(50)


def test_bench_command_runs_every_system_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--dataset", "digits", "--epochs", "2", "--json", str(path)]) == 0
    table = capsys.readouterr().out
    report = json.loads(path.read_text())

    assert report["layers"] == [64, 100, 30, 10]  # the first layer sized to 8x8 digits
    assert (report["batch_size"], report["optimizer"]) == (128, "adam lr 0.001")  # whatever `fixed` tunes
    assert report["flops_per_sample"]["training"] == training_flops((64, 100, 30, 10))
    assert report["matmul_gflops"] > 0
    assert set(report["systems"]) == {"simplenn", "keras fit", "scikit-learn", "post (eager)"}
    for name, system in report["systems"].items():
        assert system["samples_per_s"] > 0, name
        assert 0 <= system["test_accuracy"] <= 1, name
        assert system["epochs"] == 2, name
        speedup = report["systems"]["simplenn"]["samples_per_s"] / system["samples_per_s"]
        assert system["simplenn_speedup"] == pytest.approx(speedup)
        bound = system["samples_per_s"] / report["flop_bound_samples_per_s"]
        assert system["fraction_of_flop_bound"] == pytest.approx(bound)
        assert name in table
    assert "leave out epoch 1" in table
    assert f"report written to {path}" in table
