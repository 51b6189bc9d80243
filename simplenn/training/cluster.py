"""The workers of a multi-worker run, read from TF_CONFIG and checked before TensorFlow starts.

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}'

TensorFlow's `MultiWorkerMirroredStrategy` reads the same variable. Every worker runs
the same `simplenn train` command with the same cluster; only the task index differs.
Worker 0 is the chief: it writes the run directory, the others train alongside it.
Mistakes here are reported at once, as one line, before TensorFlow loads.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass

from simplenn.config import Config
from simplenn.errors import SimplennError

VARIABLE = "TF_CONFIG"
EXAMPLE = ("TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
           "\"task\": {\"type\": \"worker\", \"index\": 0}}'")


@dataclass(frozen=True)
class Cluster:
    """The workers' `host:port` addresses, in TF_CONFIG's order, and which of them this process is."""

    workers: tuple[str, ...]
    index: int

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @property
    def address(self) -> str:
        return self.workers[self.index]

    def name(self, index: int) -> str:
        """"worker 1 (10.0.0.2:12345)"."""
        return f"worker {index} ({self.workers[index]})"

    def peers(self) -> list[int]:
        """The indices of the other workers."""
        return [i for i in range(len(self.workers)) if i != self.index]


def read_cluster(environ=os.environ) -> Cluster:
    """The cluster and task in TF_CONFIG, or `SimplennError` naming what is wrong with it."""
    text = environ.get(VARIABLE, "")
    if not text.strip():
        raise SimplennError(f"--strategy multiworker reads its workers from {VARIABLE}, which is not set; "
                            f"set it on every worker, e.g. {EXAMPLE}")
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise SimplennError(f"{VARIABLE} is not valid JSON ({error.msg} at character {error.pos}); "
                            f"e.g. {EXAMPLE}") from None
    if not isinstance(spec, dict):
        raise SimplennError(f"{VARIABLE} must be a JSON object with \"cluster\" and \"task\", e.g. {EXAMPLE}")
    workers = _workers(spec.get("cluster"))
    return Cluster(workers, _task_index(spec.get("task"), len(workers)))


def cluster_of(config: Config) -> Cluster | None:
    """The workers of a `--strategy multiworker` config, from TF_CONFIG; None for any other strategy."""
    return read_cluster() if config.strategy == "multiworker" else None


def _workers(cluster) -> tuple[str, ...]:
    if not isinstance(cluster, dict) or not isinstance(cluster.get("worker"), list) or not cluster["worker"]:
        raise SimplennError(f"{VARIABLE} has no \"cluster\": {{\"worker\": [...]}} list of host:port addresses; "
                            f"e.g. {EXAMPLE}")
    others = sorted(set(cluster) - {"worker"})
    if others:
        raise SimplennError(f"{VARIABLE}'s cluster has job(s) {', '.join(others)}; simplenn runs \"worker\" jobs "
                            "only: list every machine under \"worker\", the chief first")
    for address in cluster["worker"]:
        host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SimplennError(f"{VARIABLE} worker address {address!r} is not host:port, e.g. \"10.0.0.1:12345\"")
    if len(set(cluster["worker"])) < len(cluster["worker"]):
        raise SimplennError(f"{VARIABLE} lists a worker address twice; give each worker its own host:port")
    return tuple(cluster["worker"])


def _task_index(task, n_workers: int) -> int:
    if not isinstance(task, dict):
        raise SimplennError(f"{VARIABLE} has no \"task\" saying which worker this is; add "
                            "\"task\": {\"type\": \"worker\", \"index\": N} with this worker's place in the list")
    if task.get("type") != "worker":
        raise SimplennError(f"{VARIABLE} task type is {task.get('type')!r}; simplenn's workers are of type \"worker\"")
    index = task.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n_workers:
        raise SimplennError(f"{VARIABLE} task index {index!r} names no worker: the cluster lists {n_workers}, "
                            f"indices 0 to {n_workers - 1}")
    return index


def require_free_port(cluster: Cluster) -> None:
    """`SimplennError` when this worker's port is taken: TensorFlow's server would fail to listen on it.

    SO_REUSEADDR, as the server sets it: connections of a run just stopped, still in
    TIME_WAIT, do not count; a process listening on the port does.
    """
    port = int(cluster.address.rpartition(":")[2])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise SimplennError(f"port {port} of this worker, {cluster.name(cluster.index)} in {VARIABLE}, is in use "
                                "by another process; stop it, or give this worker a free port in every worker's "
                                f"{VARIABLE}") from None


def unreachable(cluster: Cluster, indices, timeout_s: float = 2.0) -> list[int]:
    """Those of the workers `indices` that accept no connection now: stopped, or their machine unreachable."""
    lost = []
    for index in indices:
        host, _, port = cluster.workers[index].rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
        except OSError:
            lost.append(index)
    return lost


def free_loopback_ports(n: int) -> list[int]:
    """`n` distinct ports free on 127.0.0.1 now: a cluster of local workers for a test or a benchmark."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:  # held open together, so the system hands out n different ports
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
