"""Headless Chromium from the system (Debian's `chromium` package), driven by Playwright.

Playwright's own browser download is not used: every launch names the system binary. `make browser`
installs it. Reused by the screenshot scripts and the browser tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

SYSTEM_CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str | None:
    """$MODELGATE_CHROMIUM, else /usr/bin/chromium, else chromium on PATH; None when there is none."""
    for candidate in (os.environ.get("MODELGATE_CHROMIUM"), SYSTEM_CHROMIUM):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def open_browser() -> Iterator[Browser]:
    """A headless system Chromium; raises FileNotFoundError when none is installed."""
    executable = chromium_path()
    if executable is None:
        raise FileNotFoundError(f"no Chromium at {SYSTEM_CHROMIUM} or on PATH (install it with `make browser`)")
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to start as root, as in containers and CI runners.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def screenshot(
    html_path: str | Path,
    png_path: str | Path,
    *,
    width: int = 1280,
    full_page: bool = True,
    browser: Browser | None = None,
) -> Path:
    """Render a local HTML file in headless Chromium and save the whole page as PNG.

    Pass `browser` to reuse an open one (Playwright's sync API runs one instance per thread).
    """
    source, target = Path(html_path).resolve(), Path(png_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with nullcontext(browser) if browser is not None else open_browser() as open_one:
        page = open_one.new_page(viewport={"width": width, "height": 900})
        page.goto(source.as_uri(), wait_until="load")
        page.screenshot(path=str(target), full_page=full_page)
        page.close()
    return target
