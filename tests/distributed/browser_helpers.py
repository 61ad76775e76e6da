"""A real headless Chromium (Debian's, driven by Playwright) for the console's browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"
CHROMIUM = os.environ.get("ROUTILUX_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module (Debian's package; Playwright never downloads a browser here)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("the browser tests need Debian's chromium: apt-get install chromium (scripts/test does it)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def new_page(browser: Any, width: int = 1360, height: int = 900, **options: Any) -> Any:
    """A page in a fresh context (own session storage) with the given viewport."""
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1, **options)
    tab = context.new_page()
    tab.set_default_timeout(30000)  # generous: CI machines are shared
    return tab


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page sized like a laptop screen."""
    tab = new_page(browser)
    yield tab
    tab.context.close()


def shot(page: Any, name: str, folder: Path | None = None) -> None:
    """Save a full-page screenshot (a test artifact, git-ignored)."""
    target = folder or ARTIFACTS
    target.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.getElementById('toast')?.classList.add('hidden')")
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)
