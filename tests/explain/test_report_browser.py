"""The report in a real browser: Debian's chromium driven by Playwright, offline.

The page must load with no console error and no request other than the file itself and
its `data:` images, every image must decode, and the tables must hold the run's numbers.
Screenshots at laptop and phone width are kept under the test's temporary folder; with
SIMPLENN_UPDATE_DOCS=1 the laptop one also replaces docs/report.png for the README, and
SIMPLENN_REPORT_RUN=RUN_DIR tests the report of that run (a copy) instead of the small digits run.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

import simplenn
from simplenn.cli import main
from browsers import CHROMIUM, chromium
from simplenn.explain.report import reproducing_command

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report.png"

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium"),
              pytest.mark.slow]  # chromium


@pytest.fixture(scope="module")
def report(digits_run, tmp_path_factory):
    source = Path(os.environ.get("SIMPLENN_REPORT_RUN") or digits_run)
    folder = tmp_path_factory.mktemp("report")
    run_dir = folder / "runs" / source.resolve().name
    shutil.copytree(source, run_dir, ignore=shutil.ignore_patterns("report.html", "figures", "evaluation.json", ".lock"))
    # named as a user names it, from the folder above runs/: the page (and docs/report.png) shows
    # runs/NAME, not this machine's temporary folder
    here = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["report", str(run_dir.relative_to(folder))]) == 0
    finally:
        os.chdir(here)
    assert str(folder) not in (run_dir / "report.html").read_text()
    return run_dir, run_dir / "report.html"


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.mark.parametrize("device, width, height", [("laptop", 1280, 900), ("phone", 390, 844)])
def test_report_opens_offline_with_every_image_and_the_runs_numbers(report, browser, device, width, height):
    run_dir, page_file = report
    page = browser.new_page(viewport={"width": width, "height": height})
    problems, requests = [], []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(page_file.as_uri(), wait_until="load")

    assert problems == []
    outside = [url for url in requests if url != page_file.as_uri() and not url.startswith("data:")]
    assert outside == []
    widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == 8 and min(widths) > 0

    summary = json.loads((run_dir / "summary.json").read_text())
    run = simplenn.load_run(run_dir)
    scores = page.inner_text("#scores")
    assert f"{100 * summary['test_accuracy']:.2f} %" in scores and f"{summary['n_params']:,}" in scores
    per_class = page.inner_text("#per-class")
    evaluation = run.evaluate()
    for row in evaluation.per_class:
        assert f"{row['precision']:.4f}" in per_class and f"{row['recall']:.4f}" in per_class
    assert f"{evaluation.averages['macro']['f1']:.4f}" in per_class
    history = page.inner_text("#history")
    assert all(f"{record.loss:.4f}" in history for record in run.history)
    config = page.inner_text("#config")
    assert ", ".join(map(str, run.config.layers)) in config and run.config.optimizer in config
    assert reproducing_command(run.config) in page.inner_text("#reproduce + pre")
    for pair in evaluation.most_confused:
        assert f"{pair['true']}\t{pair['predicted']}\t{pair['count']}" in page.inner_text("#most-confused")
    # nothing wider than the screen except inside the scrolling table wrappers
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    screenshot = run_dir / f"report-{device}.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 50_000
    if device == "laptop" and os.environ.get("SIMPLENN_UPDATE_DOCS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOT), full_page=False)
    page.close()


def test_korean_labels(digits_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(digits_run, run_dir)
    out = tmp_path / "ko.html"
    assert main(["report", str(run_dir), "--out", str(out), "--lang", "ko"]) == 0
    text = out.read_text()
    assert '<html lang="ko">' in text and "테스트 정확도" in text and "무엇을 배웠나" in text
    assert not (run_dir / "report.html").exists()
