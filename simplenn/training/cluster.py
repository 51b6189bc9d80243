"""The workers of a multi-worker run, read from TF_CONFIG and checked before TensorFlow starts.

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}'

TensorFlow's `MultiWorkerMirroredStrategy` reads the same variable. Every worker runs
the same `simplenn train` command with the same cluster; only the task index differs.
Worker 0 is the chief: it writes the run directory, the others train alongside it.
Mistakes here are reported at once, as one line, before TensorFlow loads.

TensorFlow's gRPC server for a worker listens on every interface of the machine at the
worker's port, whatever host TF_CONFIG names, and answers without authentication; the
strategy offers no way to bind it to one address. `grpc_exposure` says so when training
starts, with the firewall rule that closes the port to all but the other workers.
While a worker waits for its peers inside TensorFlow, Python cannot run its signal
handlers, and TensorFlow takes SIGTERM for its own preemption notice: `wait_for_peers`
waits in Python first, naming whom it waits for, and any signal ends it at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import sys
import threading
import time
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
        # isascii: str.isdigit and int() also take full-width and other scripts' digits, which TensorFlow does not
        if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
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


class StoppedWaiting(SimplennError):
    """SIGINT or SIGTERM while this worker waited for the others: the shell's 128 + the signal's number."""

    def __init__(self, number: int, waiting_for: str):
        super().__init__(f"stopped by {signal.Signals(number).name} while waiting for {waiting_for} to start; "
                         "nothing was trained")
        self.exit_status = 128 + number


def wait_for_peers(cluster: Cluster, poll_s: float = 0.5) -> None:
    """Wait, in Python, until every other worker's port accepts connections; `StoppedWaiting` on a signal.

    Once inside TensorFlow, a worker waits for its peers where no signal handler runs (see
    `stoppable_wait`), so the waiting happens here first. This worker listens on its own port
    meanwhile, so that the others see it waiting too; TensorFlow's server takes the port after.
    """
    port = int(cluster.address.rpartition(":")[2])
    missing = unreachable(cluster, cluster.peers(), timeout_s=1.0)
    if not missing:
        return
    waiting_for = ", ".join(cluster.name(i) for i in missing)
    print(f"simplenn: waiting for {waiting_for} to start (Ctrl-C or SIGTERM stops)", file=sys.stderr, flush=True)

    def stop(number, frame):
        raise StoppedWaiting(number, ", ".join(cluster.name(i) for i in missing))

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = {n: signal.signal(n, stop) for n in (signal.SIGINT, signal.SIGTERM)} if on_main_thread else {}
    try:
        with socket.create_server(("", port), reuse_port=False) as placeholder:
            placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            while missing:
                time.sleep(poll_s)
                missing = unreachable(cluster, missing, timeout_s=1.0)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


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


def grpc_exposure(cluster: Cluster) -> str:
    """The warning that this worker's gRPC server answers on every interface, and the firewall rule against it."""
    port = cluster.address.rpartition(":")[2]
    peers = " ".join(cluster.workers[i].rpartition(":")[0].strip("[]") for i in cluster.peers()) or "none"
    return (f"TensorFlow's gRPC server for this worker listens on port {port} of every interface, not only on "
            f"{cluster.address.rpartition(':')[0]}, and answers anyone who reaches it; TensorFlow cannot bind it to "
            f"one address, so allow port {port} only from the other workers ({peers}), e.g. with "
            f"`iptables -A INPUT -p tcp --dport {port} -s PEER -j ACCEPT` for each and "
            f"`iptables -A INPUT -p tcp --dport {port} -j DROP`")


@contextlib.contextmanager
def stoppable_wait(waiting_for: str, say: bool = True):
    """While entered, SIGINT and SIGTERM end the process at once, by their default action.

    TensorFlow waits for the other workers inside C++ holding Python's lock, where no
    Python signal handler (nor any other Python thread) runs, so a worker whose peers never
    come would ignore both signals. The kernel's default action needs no Python: the shell
    then reports 130 or 143. `say`: first print which workers this one waits for, since
    nothing can be printed once the signal comes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if say:
        print(f"simplenn: waiting for {waiting_for} to start (Ctrl-C or SIGTERM stops)", file=sys.stderr, flush=True)
    previous = {number: signal.signal(number, signal.SIG_DFL) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
