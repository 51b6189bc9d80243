"""`simplenn serve` for real: uvicorn on a loopback port, the page in Debian's chromium.

Screenshots go to tests/artifacts/ (git-ignored); docs/serve.png is copied from one.
"""

import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from simplenn.images.photos import draw_digit
from browsers import ARTIFACTS, CHROMIUM, chromium
from cli_messages import error_message



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def server(digits_run):
    """The real `simplenn serve RUN --port P` in a subprocess."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "simplenn.cli", "serve", str(digits_run), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow  # a server process
def test_serve_listens_on_loopback_only(server):
    port = int(server.rsplit(":", 1)[1].strip("/"))
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for address in addresses - {"127.0.0.1"}:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=1).close()


def test_a_slow_body_is_cut_off_with_408(digits_run, monkeypatch):
    import uvicorn

    from simplenn.serving import server as serving
    from simplenn.serving import web
    from simplenn.runs.loaded_run import load_run

    monkeypatch.setattr(web, "BODY_TIMEOUT_S", 0.5)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(serving.create_app(load_run(digits_run)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", None)
        # Only the body's time-out answers 408; the socket's 120 s only ends a test whose server never does.
        with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
            connection.sendall(b"POST /api/image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
            answer = b""
            while b'"error"' not in answer and (chunk := connection.recv(4096)):
                answer += chunk
            answer = answer.decode()
        assert answer.startswith("HTTP/1.1 408") and '"error"' in answer
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow  # chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is absent: apt-get install chromium")
def test_draw_clear_and_upload_in_a_real_browser(server, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    upload = tmp_path / "seven.png"
    draw_digit("7", size=400, thickness=30).save(upload)
    console_errors = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 900, "height": 640})
        page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
        page.on("pageerror", lambda error: console_errors.append(str(error)))
        page.goto(server)
        page.wait_for_function("document.getElementById('model').textContent.includes('digits')")

        # A "1": one stroke down the middle of the pad.
        box = page.locator("#pad").bounding_box()
        x, top, height = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.15, box["height"] * 0.7
        page.mouse.move(x, top)
        page.mouse.down()
        for step in range(1, 21):
            page.mouse.move(x - step * 0.5, top + height * step / 20)
        page.mouse.up()
        page.wait_for_selector("#bars .bar")
        bars = page.locator("#bars .bar")
        assert bars.count() == 3
        total = float(page.locator("#bars").get_attribute("data-sum"))
        assert abs(total - 1) < 1e-4
        seen_pixels = page.evaluate(
            "Array.from(document.getElementById('seen').getContext('2d').getImageData(0, 0, 8, 8).data)"
        )
        assert max(seen_pixels[0::4]) > 100  # the network's view is not blank
        page.screenshot(path=str(ARTIFACTS / "serve-drawn.png"), full_page=True)

        page.click("#clear")
        page.wait_for_timeout(400)  # a stroke's answer still on its way must not come back after Clear
        assert page.locator("#bars .bar").count() == 0 and page.locator("#prediction").text_content() == "–"

        page.set_input_files("#file", str(upload))
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Read seven.png')")
        assert page.locator("#prediction").text_content() == "7"
        page.screenshot(path=str(ARTIFACTS / "serve-upload.png"), full_page=True)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        phone.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
        phone.goto(server)
        phone.set_input_files("#file", str(upload))
        phone.wait_for_selector("#bars .bar")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        phone.screenshot(path=str(ARTIFACTS / "serve-phone.png"), full_page=True)
    assert console_errors == []


def test_a_port_in_use_is_one_line_exit_2(digits_run, capsys):
    from simplenn.cli import main

    with socket.create_server(("127.0.0.1", 0)) as taken:
        code = main(["serve", str(digits_run), "--port", str(taken.getsockname()[1])])
    err = capsys.readouterr().err
    assert code == 2 and bool(error_message(err)) and "cannot listen on 127.0.0.1:" in error_message(err) and "choose another --port" in error_message(err)
