"""Headless Debian Chromium driven by Playwright (never `playwright install`: the system browser is used).

Install it with `apt-get update && apt-get install -y chromium` (the README's test command does).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def browser_page(console: list[str]) -> Iterator[object]:
    """A fresh page; console errors and uncaught page errors are appended to `console`."""
    from playwright.sync_api import sync_playwright

    exe = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or CHROMIUM)
    if not exe.exists():
        raise RuntimeError("the browser tests need Debian's chromium: apt-get update && apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(exe), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            yield page
        finally:
            browser.close()
