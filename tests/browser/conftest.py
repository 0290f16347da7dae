"""Session fixture: one JupyterLab server and one Chromium for every browser test."""

from __future__ import annotations

import pytest

from .lab import CHROMIUM, Lab


@pytest.fixture(scope="session")
def lab():
    import os

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium chromium-driver (make chromium)")
    session = Lab()
    yield session
    session.close()
