"""Debian's chromium for the browser tests, driven by Playwright and started one way."""

import contextlib
import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("SIMPLENN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots to look at (git-ignored)


@contextlib.contextmanager
def chromium():
    """A headless chromium (Playwright's `Browser`), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
