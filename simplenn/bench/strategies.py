"""`simplenn bench strategies --strategy mirrored|multiworker`: samples/s against the replica count.

simplenn's own loop trains `bench.bench_config` (the bench's network, batch 128, Adam)
under the strategy, then without one; speeds leave out epoch 1 (compilation). The
scaling efficiency of R replicas is their speed over R times the speed of one.

- mirrored: 1 replica, then one on each of this machine's devices (GPUs, or
  `--cpu-devices` logical CPUs), in one process;
- multiworker: the cluster of TF_CONFIG (every worker runs the same command), then each
  worker alone without a strategy, all at the same time: workers that share a machine
  share its cores, so there one worker alone is the baseline only in name.
"""

from __future__ import annotations

import os
from typing import Callable

from simplenn.machine.quiet_tensorflow import tf

from simplenn.bench.benchmark import bench_config
from simplenn.training.cluster import Cluster, read_cluster
from simplenn.config import fit_to_data
from simplenn.training.data import PreparedData, prepare_data
from simplenn.training.distribution import DistributedTrainer, local_devices, mirrored, place
from simplenn.machine.memory import MemoryLimit
from simplenn.nn.metrics import loss_and_accuracy
from simplenn.training.trainer import Trainer, fit


def replica_counts(n_devices: int) -> list[int]:
    """The replica counts a scaling bench measures in one process: 1, and every device.

    One replica needs no collectives; each larger count would open a group of collectives
    of its own size, and TensorFlow refuses groups of different sizes in one process.
    """
    return [1, n_devices] if n_devices > 1 else [1]


def run_strategy_bench(dataset: str, epochs: int, seed: int, strategy: str, cpu_devices: int = 0,
                       cluster: Cluster | None = None, log: Callable[[str], None] = print, memory_limit: MemoryLimit | None = None) -> dict:
    """Train under `strategy` at each replica count, then without a strategy; the report
    `format_scaling_table` prints."""
    config = bench_config(dataset, epochs, seed).replace(strategy=strategy, cpu_devices=cpu_devices)
    if strategy == "mirrored":  # before the data: devices are fixed when TensorFlow starts
        devices = local_devices(cpu_devices)
        placements = [mirrored(devices[:count]) for count in replica_counts(len(devices))]
    else:
        placements = [place(config, cluster or read_cluster())]
    data = prepare_data(config, memory_limit)
    config = fit_to_data(config, data.n_features, data.n_classes, layers_given=False)
    load_before = os.getloadavg()[0]
    rows = {}
    for placement in placements:
        log(f"training {strategy} on {placement.replicas} replica(s) ...")
        trainer = DistributedTrainer(config, data.train.size, data.image_shape, placement)
        rows[f"{strategy} x{placement.replicas}"] = _speed_and_accuracy(trainer, data, placement.replicas)
    log("training default ...")
    default = config.replace(strategy="default", cpu_devices=0)
    rows["default"] = _speed_and_accuracy(Trainer(default, data.train.size, data.image_shape), data, 1)
    baseline = f"{strategy} x1" if f"{strategy} x1" in rows else "default"
    for name, row in rows.items():
        one = rows[baseline]["samples_per_s"]
        row["efficiency"] = None if name == "default" else row["samples_per_s"] / (row["replicas"] * one)
    machine = {"cpus": os.cpu_count(), "devices": list(placements[-1].devices), "load_average_before": load_before,
               "load_average_after": os.getloadavg()[0], "tensorflow": tf.__version__}
    return {"dataset": config.dataset, "n_train": data.train.size, "layers": list(config.layers),
            "batch_size": config.batch_size, "epochs": config.epochs, "strategy": strategy,
            "efficiency_against": baseline, "rows": rows, "machine": machine}


def _speed_and_accuracy(trainer: Trainer, data: PreparedData, replicas: int) -> dict:
    """Samples/s without epoch 1 (unless it is the only one) and the test accuracy of one run."""
    seconds = [record.seconds for record in fit(trainer, data.train, log=lambda line: None)]
    timed = seconds[1:] or seconds
    _, accuracy = loss_and_accuracy(trainer.forward, data.test, trainer.config)
    return {"replicas": replicas, "samples_per_s": data.train.size * len(timed) / sum(timed),
            "test_accuracy": accuracy}


def format_scaling_table(report: dict) -> str:
    """`run_strategy_bench`'s report as the table `simplenn bench strategies ...` prints."""
    machine = report["machine"]
    devices = ", ".join(name.split("device:")[-1] for name in machine["devices"])
    lines = [
        f"{report['dataset']}: {report['n_train']:,} training images, {'-'.join(map(str, report['layers']))}, "
        f"global batch {report['batch_size']}, {report['epochs']} epochs; samples/s leave out epoch 1",
        f"{machine['cpus']} CPUs, devices {devices}; load average {machine['load_average_before']:.1f} before, "
        f"{machine['load_average_after']:.1f} after; efficiency against {report['efficiency_against']}; "
        f"TensorFlow {machine['tensorflow']}",
        "",
        f"{'run':<18}{'replicas':>9}{'samples/s':>12}{'efficiency':>12}{'test acc':>10}",
    ]
    for name, row in report["rows"].items():
        efficiency = "" if row["efficiency"] is None else f"{100 * row['efficiency']:.0f}%"
        lines.append(f"{name:<18}{row['replicas']:>9}{row['samples_per_s']:>12,.0f}{efficiency:>12}"
                     f"{100 * row['test_accuracy']:>9.2f}%")
    return "\n".join(lines)
