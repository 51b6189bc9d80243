"""`simplenn lab` for real: the CLI's server on a loopback port, the page in Debian's chromium.

Everything is read from the page as a learner sees it: the figures the run sent, drawn.
Screenshots go to tests/artifacts/ (git-ignored); docs/lab.png is made from two of them.
"""

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

from browsers import ARTIFACTS, chromium  # noqa: E402
pytestmark = pytest.mark.slow  # chromium, and real runs trained behind the page

RUN_ENDED = ("() => ['finished', 'stopped', 'failed'].includes(document.querySelector('#run-status').dataset.state)"
             " && !document.querySelector('#train').disabled")
FINISHED = ("() => document.querySelector('#run-status').dataset.state === 'finished'"
            " && document.querySelector('#diagnosis ol') !== null && !document.querySelector('#train').disabled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(port: int, folder: Path) -> subprocess.Popen:
    """`simplenn lab` started in `folder`, so that its runs go to folder/runs/lab (the default) and the page
    shows them by that relative path, as a learner's would."""
    process = subprocess.Popen([sys.executable, "-m", "simplenn.cli", "lab", "--port", str(port)], cwd=folder,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the lab did not answer within 120 s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(page, url, runs_dir, restart): the page open on a live `simplenn lab`."""
    folder = tmp_path_factory.mktemp("lab")
    runs_dir = folder / "runs" / "lab"
    port = free_port()
    processes = [start_lab(port, folder)]
    url = f"http://127.0.0.1:{port}/"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("request", lambda request: None if request.url.startswith(url) or request.url.startswith("data:")
                else errors.append(f"request outside the lab: {request.url}"))
        page.goto(url)

        def restart():
            processes[-1].terminate()
            processes[-1].wait(timeout=120)
            processes.append(start_lab(port, folder))

        page.errors = errors
        try:
            yield page, url, runs_dir, restart
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=120)


def click_train(page) -> None:
    """Train, then wait until the page shows the new run (until then it shows the last one, finished)."""
    before = page.text_content("#run-name")
    page.click("#train")
    page.wait_for_function("(before) => document.querySelector('#run-name').textContent !== before", arg=before)


def watch_dead_bars(page) -> None:
    """Record every value the dead-ReLU bars show, as the page redraws them."""
    page.evaluate("""() => {
        window.deadSeen = [];
        new MutationObserver(() => {
            const values = [...document.querySelectorAll('#layers .bar.dead')].map((b) => b.dataset.value).join(' ');
            if (values && window.deadSeen[window.deadSeen.length - 1] !== values) window.deadSeen.push(values);
        }).observe(document.querySelector('#layers'), { subtree: true, attributes: true, childList: true });
    }""")


def figures(page) -> dict:
    return page.evaluate("""() => ({
        test: document.querySelector('#test-accuracy').dataset.value,
        dead: [...document.querySelectorAll('#layers .bar.dead')].map((b) => b.dataset.value),
        points: Number(document.querySelector('#loss-chart').dataset.points),
        legend: document.querySelector('#legend').textContent,
        findings: [...document.querySelectorAll('#diagnosis li')].map((li) => li.textContent),
    })""")


def screenshot(page, name: str) -> None:
    """The whole page once the runs list shows the run that just finished."""
    name_shown = page.text_content("#run-name")
    page.wait_for_selector(f'#runs tr[data-run="{name_shown}"]', timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def side_by_side(left: Path, right: Path, out: Path) -> None:
    """The run's column of two screenshots, next to each other (docs/lab.png is a copy)."""
    from PIL import Image

    crops = []
    for path in (left, right):
        image = Image.open(path)
        crops.append(image.crop((420, 50, image.width, min(image.height, 1180))))  # the live cards, not the controls
    width = sum(c.width for c in crops) + 16
    joined = Image.new("RGB", (width, max(c.height for c in crops)), "#f5f7fb")
    joined.paste(crops[0], (0, 0))
    joined.paste(crops[1], (crops[0].width + 16, 0))
    joined.save(out, optimize=True)


def test_the_posts_settings_end_near_chance_with_every_relu_dead(lab):
    page, _, _, _ = lab
    page.click("#preset-blog")
    assert page.get_attribute("#preset-blog", "aria-pressed") == "true"
    watch_dead_bars(page)
    click_train(page)
    page.wait_for_function(FINISHED, timeout=240_000)
    shown = figures(page)
    assert 0.05 < float(shown["test"]) < 0.15
    assert shown["dead"] == ["1", "1", ""]  # both hidden layers: every unit outputs 0; the output layer has none
    assert shown["points"] >= 5  # a point an epoch at least
    seen = page.evaluate("window.deadSeen")
    assert len(seen) >= 2 and seen[-1] == "1 1 " and seen[0] != seen[-1], seen  # the bars moved as it trained
    assert any(f.startswith("ReLUs die") for f in shown["findings"])
    screenshot(page, "lab-post.png")
    assert page.errors == []


def test_the_fixed_settings_end_above_95_percent_over_the_posts_curve(lab):
    page, _, _, _ = lab
    page.click("#preset-fixed")
    click_train(page)
    page.wait_for_function(FINISHED, timeout=240_000)
    shown = figures(page)
    assert float(shown["test"]) > 0.95
    assert 0 <= max(float(v) for v in shown["dead"] if v) < 0.5
    assert "the post (reference)" in shown["legend"]  # the first test's run, drawn under this one
    screenshot(page, "lab-fixed.png")
    side_by_side(ARTIFACTS / "lab-post.png", ARTIFACTS / "lab-fixed.png", ARTIFACTS / "lab.png")
    assert page.errors == []


def test_flip_a_switch_then_stop_and_resume_the_run(lab):
    page, _, runs_dir, _ = lab
    page.click("#preset-blog")
    page.check("#switch-scale_inputs")
    assert page.get_attribute("#preset-blog", "aria-pressed") == "false"
    page.fill("#knob-epochs", "300")
    click_train(page)
    page.wait_for_function("() => Number(document.querySelector('#loss-chart').dataset.points) >= 3", timeout=120_000)
    name = page.text_content("#run-name")
    assert name.startswith("lab-digits-")
    points = figures(page)["points"]
    page.wait_for_function(f"() => Number(document.querySelector('#loss-chart').dataset.points) > {points}")
    page.click("#stop")
    page.wait_for_function(RUN_ENDED, timeout=120_000)
    assert page.get_attribute("#run-status", "data-state") == "stopped"
    assert "resume with: simplenn train --resume" in page.text_content("#message")
    stopped_at = figures(page)["points"]
    assert stopped_at < 300
    assert (runs_dir / name / "checkpoints").is_dir() and not (runs_dir / name / "summary.json").exists()
    page.wait_for_function("() => !document.querySelector('#resume').disabled", timeout=30_000)
    page.click("#resume")
    page.wait_for_function(FINISHED, timeout=300_000)
    assert page.text_content("#run-name") == name
    assert figures(page)["points"] >= 300  # the epochs before the stop, redrawn, and the rest
    assert (runs_dir / name / "summary.json").is_file()
    assert page.errors == []


def test_korean_explanations_and_a_server_restart(lab):
    page, url, _, restart = lab
    page.click("[data-lang=ko]")
    explanation = page.text_content("[data-switch=scale_inputs] .explain")
    assert re.search("[\uac00-\ud7a3]", explanation)
    assert page.text_content("#train") == "학습"
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "lab-phone-ko.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    rows = page.eval_on_selector_all("#runs tr", "rows => rows.length")
    restart()
    page.wait_for_function("() => document.querySelector('#connection').className === ''", timeout=120_000)
    page.click("[data-lang=en]")
    page.wait_for_function(f"() => document.querySelectorAll('#runs tr').length === {rows}", timeout=60_000)
    page.click("#preset-blog")
    click_train(page)
    page.wait_for_function(FINISHED, timeout=240_000)
    assert 0.05 < float(figures(page)["test"]) < 0.15
    page.click("[data-lang=ko]")  # the diagnosis in Korean: the run's own findings, as the Korean report words them
    findings = page.eval_on_selector_all("#diagnosis li", "items => items.map((li) => li.textContent)")
    assert findings and all(re.search("[\uac00-\ud7a3]", finding) for finding in findings)
    assert any("ReLU" in finding for finding in findings)
    # While the server was down the browser logged its failed requests; the page itself threw nothing.
    assert all(e.startswith("Failed to load resource: net::ERR_") for e in page.errors), page.errors
