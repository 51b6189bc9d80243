"""The docs site for real: built with `mkdocs build --strict`, served on loopback, every page of
both languages opened in Debian's chromium.

Fails on a console error, a request that fails or leaves the site, an internal link to a page
or an anchor that is not there, an image that does not decode, or a search for "diagnose"
that finds nothing. The site has no public address, so it must also work opened from the
file system, as `make docs` tells: the pages' links and the language switcher are followed
from file://. With SIMPLENN_DOCS_SCREENSHOTS=DIR it also saves each page at laptop
(1280 px) and phone (390 px) width into DIR, to look at.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
pytest.importorskip("playwright.sync_api")

from browsers import CHROMIUM, chromium  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WIDTHS = {"laptop": 1280, "phone": 390}

pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
              pytest.mark.slow]  # builds the site and opens every page in chromium


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("docs") / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(folder)],
                           cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stdout + build.stderr
    return folder


@pytest.fixture(scope="module")
def base_url(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def pages_of(site: Path) -> list[str]:
    """Every page's path below the site root: 'index.html', 'training.html', 'ko/training.html', ..."""
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                  if p.name != "404.html" and "assets" not in p.relative_to(site).parts)


def open_page(browser, url: str, width: int, problems: list[str]):
    page = browser.new_page(viewport={"width": width, "height": 900})
    host = urlparse(url).netloc
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.on("response", lambda response: response.status >= 400
            and problems.append(f"{response.status}: {response.url}"))

    def only_this_site(route):
        if urlparse(route.request.url).netloc == host or route.request.url.startswith("data:"):
            route.continue_()
        else:
            problems.append(f"request leaving the site: {route.request.url}")
            route.abort()

    page.route("**/*", only_this_site)
    page.goto(url, wait_until="networkidle")
    return page


def test_every_page_in_both_languages_opens_cleanly(site, base_url, browser):
    pages = pages_of(site)
    assert "index.html" in pages and "ko/index.html" in pages, pages
    english = [p for p in pages if not p.startswith("ko/")]
    korean = [p for p in pages if p.startswith("ko/")]
    assert sorted("ko/" + p for p in english) == sorted(korean), "a page exists in one language only"

    screenshots = os.environ.get("SIMPLENN_DOCS_SCREENSHOTS")
    problems: list[str] = []
    anchors: dict[str, set[str]] = {}
    links: set[tuple[str, str]] = set()
    for path in pages:
        url = base_url + path
        page = open_page(browser, url, WIDTHS["laptop"], problems)
        anchors[url] = set(page.eval_on_selector_all("[id]", "elements => elements.map(e => e.id)"))
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            if href.startswith(base_url):
                links.add((path, href))
        undecoded = page.eval_on_selector_all(
            "img", "images => images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))")
        problems += [f"{path}: image does not decode: {src}" for src in undecoded]
        if screenshots:
            for name, width in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": 900})
                out = Path(screenshots) / f"{path.removesuffix('.html').replace('/', '_')}-{name}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=False)
        page.close()

    for path, href in sorted(links):
        target, fragment = urldefrag(href)
        relative = target[len(base_url):]
        file = site / relative / "index.html" if target.endswith("/") else site / relative
        if not file.is_file():
            problems.append(f"{path}: broken link {href}")
        elif fragment and target in anchors and fragment not in anchors[target]:
            problems.append(f"{path}: link to a missing anchor {href}")
    assert not problems, "\n".join(problems)


def test_the_site_opened_from_the_file_system_links_page_to_page_and_language_to_language(site, browser):
    """Every page's links to other pages, and the language switcher's, open a page of the site
    from file:// too: no directory listing, no link to the file system's root."""
    problems: list[str] = []
    root = site.as_uri() + "/"
    for path in pages_of(site):
        page = browser.new_page()
        page.goto(root + path)
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        switcher = page.eval_on_selector_all("a.md-select__link", "links => links.map(a => a.href)")
        page.close()
        expected = {"en": root + path.removeprefix("ko/"), "ko": root + "ko/" + path.removeprefix("ko/")}
        if switcher != [expected["en"], expected["ko"]]:
            problems.append(f"{path}: the language switcher links to {switcher}, not {list(expected.values())}")
        for href in hrefs:
            target = urldefrag(href)[0]
            if not target.startswith("file:"):
                continue
            if not target.startswith(root):
                problems.append(f"{path}: a link out of the site: {href}")
            elif not (site / target[len(root):]).is_file():
                problems.append(f"{path}: a link to no file: {href}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("root", ["", "ko/"], ids=["en", "ko"])
def test_search_finds_diagnose(base_url, browser, root):
    problems: list[str] = []
    page = open_page(browser, base_url + root, WIDTHS["laptop"], problems)
    page.click("label.md-search__icon, .md-search__input")
    page.keyboard.type("diagnose")  # the theme searches on key events
    page.wait_for_selector(".md-search-result__item", timeout=20_000)
    results = page.eval_on_selector_all(".md-search-result__item a", "links => links.map(a => a.href)")
    page.close()
    assert results, "a search for 'diagnose' found nothing"
    in_language = [href for href in results if href.startswith(base_url + "ko/") == (root == "ko/")]
    assert in_language, f"no result in this language's pages: {results}"
    assert not problems, "\n".join(problems)
