"""How fast `simplenn lab` feels, measured by driving its page in Debian's chromium.

    python benchmarks/lab_latency.py [--repeat 3] [--fashion-seconds 60] [--runs-dir DIR]

Starts the real `simplenn lab` on a free 127.0.0.1 port (runs go to a temporary folder
unless `--runs-dir` names one), opens the page and waits until the server is warm (its
run process has loaded TensorFlow). Then:

1. digits, `fixed`: the time from clicking Train to the first point of the loss curve on
   the page, `--repeat` times (each run is stopped after its first point). Target <= 3 s.
2. Fashion-MNIST (when present), `fixed`: the interval between the page's curve updates
   from the first point to the end of the run, or to Stop after `--fashion-seconds`.
   Target >= 1 update per second.

Times are taken in the page (`performance.now()` at the click and at each redraw of the
curve), so they include the server, the run's process, the event stream and the drawing.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import TimeoutError, sync_playwright

import simplenn

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TARGET_FIRST_POINT_S = 3.0
TARGET_UPDATES_PER_S = 1.0
RECORD_POINTS = """() => {
    window.pointTimes = [];
    new MutationObserver(() => {
        const n = Number(document.querySelector('#loss-chart').dataset.points);
        if (n > 0 && n !== window.lastPoints) window.pointTimes.push(performance.now());
        window.lastPoints = n;
    }).observe(document.querySelector('#loss-chart'), { attributes: true, attributeFilter: ['data-points'] });
}"""
ENDED = "() => ['finished', 'stopped', 'failed'].includes(document.querySelector('#run-status').dataset.state)" \
        " && !document.querySelector('#train').disabled"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(port: int, runs_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "simplenn.cli", "lab", "--port", str(port),
                                "--runs-dir", str(runs_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"simplenn lab exited: {process.stderr.read()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit("simplenn lab did not answer within 120 s")


def wait_until_warm(url: str) -> None:
    """Until no run trains and the next run's process has loaded TensorFlow and warmed up."""
    for _ in range(1200):
        with urllib.request.urlopen(url + "api/state", timeout=5) as response:
            state = json.load(response)
        if state["warm"] and not state["training"]:
            return
        time.sleep(0.1)
    raise SystemExit("the lab did not get warm within 120 s")


def train_and_time(page, dataset: str) -> None:
    """Select `dataset` and the fixed preset once the lab is warm, then click Train with the page's clock recording."""
    wait_until_warm(page.url)
    page.select_option("#knob-dataset", dataset)
    page.click("#preset-fixed")
    page.evaluate(RECORD_POINTS)
    page.evaluate("() => { window.clickedAt = performance.now(); document.querySelector('#train').click(); }")


def stop(page) -> None:
    page.click("#stop")
    page.wait_for_function(ENDED, timeout=300_000)


def main() -> int:
    simplenn.set_up()  # as the CLI does: TensorFlow, if it loads, loads quietly
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="digits runs to time (default 3)")
    parser.add_argument("--fashion-seconds", type=float, default=60.0, help="the longest to watch Fashion-MNIST before Stop (default 60)")
    parser.add_argument("--runs-dir", default=None, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir = Path(args.runs_dir or scratch)
        port = free_port()
        lab = start_lab(port, runs_dir)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/")
                first_points = []
                for _ in range(args.repeat):
                    train_and_time(page, "digits")
                    page.wait_for_function("() => window.pointTimes.length >= 1", timeout=120_000)
                    first_points.append(page.evaluate("() => (window.pointTimes[0] - window.clickedAt) / 1000"))
                    stop(page)
                print(f"digits, fixed: Train -> first curve point {statistics.median(first_points):.2f} s median "
                      f"of {args.repeat} ({', '.join(f'{s:.2f}' for s in first_points)}); target <= {TARGET_FIRST_POINT_S:g} s: "
                      f"{'met' if statistics.median(first_points) <= TARGET_FIRST_POINT_S else 'NOT met'}")
                datasets = page.eval_on_selector_all("#knob-dataset option", "options => options.map(o => o.value)")
                if "fashion-mnist" not in datasets:
                    print("fashion-mnist: not present on this machine; skipped")
                    return 0
                train_and_time(page, "fashion-mnist")
                page.wait_for_function("() => window.pointTimes.length >= 1", timeout=300_000)
                try:  # the whole run may take less than --fashion-seconds
                    page.wait_for_function(ENDED, timeout=args.fashion_seconds * 1000)
                except TimeoutError:
                    stop(page)
                times = page.evaluate("() => window.pointTimes")
                intervals = [(b - a) / 1000 for a, b in zip(times, times[1:])]
                first = (times[0] - page.evaluate("() => window.clickedAt")) / 1000
                rate = len(intervals) / ((times[-1] - times[0]) / 1000) if intervals else 0.0
                print(f"fashion-mnist, fixed: first point after {first:.2f} s; {len(intervals)} updates in "
                      f"{(times[-1] - times[0]) / 1000:.1f} s = {rate:.2f} per second; intervals median "
                      f"{statistics.median(intervals):.2f} s, longest {max(intervals):.2f} s; target >= "
                      f"{TARGET_UPDATES_PER_S:g} per second: {'met' if rate >= TARGET_UPDATES_PER_S else 'NOT met'}")
                browser.close()
        finally:
            lab.terminate()
            lab.wait(timeout=300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
