"""Notebook 7, Voila and marimo servers for the browser tests (JupyterLab has its own, lab.py):
isolated Jupyter dirs, loopback only, a free port, ready when the server answers; one Chromium
context from the session's Playwright (conftest.shared_playwright)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from .lab import CHROMIUM, CHROMIUM_ARGS, free_port, isolated_jupyter_env, stop_server


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                     "source": src} for i, src in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


class Server:
    """``python -m <module> <args>`` serving ``work/`` on a free loopback port, plus a browser."""

    def __init__(self, playwright, module: str, args: list[str], notebooks: dict[str, list[str]], ready_path: str,
                 files: dict[str, str] | None = None):
        self.root = Path(tempfile.mkdtemp(prefix=f"fw-{module}-"))
        self.work = self.root / "work"
        self.work.mkdir()
        for name, cells in notebooks.items():
            write_notebook(self.work / name, cells)
        for name, text in (files or {}).items():
            (self.work / name).write_text(text)
        self.token = uuid.uuid4().hex
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = isolated_jupyter_env(self.root)
        self.env = env
        self.log = open(self.root / "server.log", "wb")
        args = [a.format(port=self.port, token=self.token, work=self.work) for a in args]
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=self.work, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.browser = None
        try:
            self._wait(ready_path.format(token=self.token))
            self._start_browser(playwright)
        except BaseException:
            self.close()
            raise

    def _wait(self, path: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.base + path, timeout=2)
                return
            except urllib.error.HTTPError:  # it answers: it is up
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start:\n" + (self.root / "server.log").read_text()[-3000:])
                time.sleep(0.2)

    def _start_browser(self, playwright) -> None:
        self.browser = playwright.chromium.launch_persistent_context(
            str(self.root / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1300, "height": 1200},
            env={**self.env, "XDG_CONFIG_HOME": str(self.root / "config"), "XDG_CACHE_HOME": str(self.root / "cache")})

    def close(self) -> None:
        try:
            if self.browser is not None:
                self.browser.close()
        finally:
            stop_server(self.proc, self.log, self.root)


def drag(page, x0, y0, x1, y1, steps=12):
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, steps + 1):
        page.mouse.move(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps)
    page.mouse.up()


def painted_root(page, title: str, timeout_ms: int = 90_000):
    """Locator of the facewidget root titled ``title``, once it has painted."""
    page.wait_for_function(
        """(t) => [...document.querySelectorAll('.fw-root')].some(
             r => r.querySelector('.fw-title')?.textContent === t && r.dataset.painted === 'true')""",
        arg=title, timeout=timeout_ms, polling=100)
    return page.locator(".fw-root", has=page.locator(".fw-title", has_text=title))
