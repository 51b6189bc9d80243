"""Load test of `simplenn serve`'s predict API on loopback: latency and errors.

    python benchmarks/serve_load.py RUN [--requests 2000] [--clients 20]

Starts the real `simplenn serve RUN` on a free 127.0.0.1 port, sends `--requests`
`POST /v1/models/simplenn:predict` requests (one test image each, signature "images")
from `--clients` concurrent keep-alive connections, and reports errors and the p50/p99
latency. Targets: zero errors, p50 <= 10 ms, p99 <= 50 ms. Bounded: loopback only, and
the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np

import simplenn

simplenn.set_up()  # TensorFlow loads quietly, as under the CLI
from simplenn.datasets import load_dataset
from simplenn.runs.loaded_run import load_run

TARGET_P50_MS, TARGET_P99_MS = 10.0, 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    run = load_run(args.run_dir)
    _, (x_test, _) = load_dataset(run.config.dataset, progress=None)
    bodies = [json.dumps({"signature_name": "images", "instances": [x.tolist()]}) for x in x_test[:100]]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "simplenn.cli", "serve", args.run_dir, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("the server did not start", file=sys.stderr)
                    return 2
                time.sleep(0.2)
        latencies, errors, lock = [], [], threading.Lock()
        per_client = [args.requests // args.clients + (i < args.requests % args.clients) for i in range(args.clients)]

        def client(n: int, offset: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for i in range(n):
                body = bodies[(offset + i) % len(bodies)]
                started = time.perf_counter()
                try:
                    connection.request("POST", "/v1/models/simplenn:predict", body, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    answer = response.read()
                    ok = response.status == 200 and b"predictions" in answer
                except OSError as error:
                    ok, answer = False, str(error).encode()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        errors.append(answer[:200])
            connection.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n, 7 * i)) for i, n in enumerate(per_client)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=20)
    ms = 1000 * np.array(latencies)
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    print(f"{len(latencies)} requests from {args.clients} clients in {wall:.1f} s ({len(latencies) / wall:.0f}/s), "
          f"{len(errors)} errors")
    print(f"latency p50 {p50:.1f} ms (target <= {TARGET_P50_MS:g}), p99 {p99:.1f} ms (target <= {TARGET_P99_MS:g}), "
          f"max {ms.max():.1f} ms")
    if errors:
        print("first error:", errors[0])
    return 0 if not errors and p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())
