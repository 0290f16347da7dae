"""Session fixture: one JupyterLab server and one Chromium for every browser test."""

from __future__ import annotations

import pytest

from .lab import CHROMIUM, Lab


@pytest.fixture(scope="session")
def shared_playwright():
    """One sync Playwright for the whole run: a second one in the same process refuses to start
    (it finds the first one's asyncio loop), so every browser fixture launches from this one."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="session")
def lab(shared_playwright):
    import os

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium chromium-driver (make chromium)")
    session = Lab(shared_playwright)
    yield session
    session.close()
