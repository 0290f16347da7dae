"""A JupyterLab server and a headless Debian Chromium driven by Playwright (see
shared/reference/browser-testing.md): isolated Jupyter dirs, loopback only, no fixed sleeps."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", "--disable-dev-shm-usage"]


def stop_server(proc, log, root) -> None:
    """Terminate a test server process (kill it after 20 s), close its log, remove its folder."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


JUPYTER_DIRS = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
                "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")


def isolated_jupyter_env(root: Path, extra_dirs: tuple[str, ...] = ()) -> dict:
    """The environment of a test server: every Jupyter (and ``extra_dirs``) folder a fresh one
    under ``root``, jupyter_lsp off (it shells out to npm on start; nothing here needs it), this
    checkout first on PYTHONPATH and MediaPipe's start-up log quiet."""
    env = dict(os.environ)
    for var in JUPYTER_DIRS + tuple(extra_dirs):
        d = root / var.lower()
        d.mkdir()
        env[var] = str(d)
    env["JUPYTER_PREFER_ENV_PATH"] = "0"
    (Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_lsp": False}}}))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GLOG_minloglevel"] = "2"
    return env


class Lab:
    """One JupyterLab server + one browser context; notebooks open as pages."""

    def __init__(self, playwright=None):
        """``playwright``: a started sync Playwright to share (one per process may run); else own one."""
        self.root = Path(tempfile.mkdtemp(prefix="fw-lab-"))
        self.work = self.root / "work"
        self.work.mkdir()
        self.token = uuid.uuid4().hex
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = isolated_jupyter_env(self.root, ("XDG_CONFIG_HOME", "XDG_CACHE_HOME_CHROMIUM"))
        notify = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
        notify.mkdir(parents=True)
        (notify / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))  # no news pop-up over the views
        self.env = env
        self.log = open(self.root / "lab.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.work}", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"],
            cwd=self.work, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (self.root / "lab.log").read_text()[-3000:])
                time.sleep(0.2)
        from playwright.sync_api import sync_playwright

        self._own_pw = playwright is None
        self._pw = sync_playwright().start() if playwright is None else playwright
        os.environ.setdefault("XDG_CONFIG_HOME", str(self.root / "xdg_config_home"))
        self.context = self._pw.chromium.launch_persistent_context(
            str(self.root / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1400}, env={**env, "XDG_CACHE_HOME": str(self.root / "cache")})
        ARTIFACTS.mkdir(exist_ok=True)

    def open_notebook(self, name: str, cells: list[str]) -> "Notebook":
        nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                         "source": src} for i, src in enumerate(cells)],
              "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
              "nbformat": 4, "nbformat_minor": 5}
        (self.work / name).write_text(json.dumps(nb))
        page = self.context.new_page()
        return Notebook(self, page, name)

    def close(self):
        try:
            self.context.close()
            if self._own_pw:
                self._pw.stop()
        finally:
            stop_server(self.proc, self.log, self.root)


_KERNEL_READY = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const s = w && w.sessionContext;
  return !!(s && s.session && s.session.kernel && s.session.kernel.connectionStatus === 'connected'
            && s.session.kernel.status === 'idle' && w.content && w.content.widgets.length > 0);
}"""

_EXEC = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({ code, store_history: false });
  let out = '', err = '';
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    if (t === 'stream') out += msg.content.text;
    else if (t === 'execute_result') out += msg.content.data['text/plain'];
    else if (t === 'error') err += msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return { out, err };
}"""


class Notebook:
    """A notebook page: run its cells in order, execute code in its kernel, find widgets."""

    def __init__(self, lab: Lab, page, name: str):
        self.lab, self.page, self.name = lab, page, name
        self.dialogs: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.goto(f"{lab.base}/lab/tree/{name}?reset&token={lab.token}")
        page.wait_for_function(_KERNEL_READY, timeout=90_000, polling=200)

    def run_cell(self, index: int, timeout: float = 120) -> None:
        """Run cell ``index`` through Lab's command and wait until the kernel is idle again."""
        self.page.evaluate("""async (i) => {
          const w = window.jupyterapp.shell.currentWidget;
          w.content.activeCellIndex = i;
          await window.jupyterapp.commands.execute('notebook:run-cell');
        }""", index)
        self.page.wait_for_function(f"""() => {{
          const c = window.jupyterapp.shell.currentWidget.content.widgets[{index}];
          return c.model.executionCount !== null && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle';
        }}""", timeout=timeout * 1000, polling=100)
        errors = self.page.evaluate("""(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs
          .toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)""", index)
        if errors:
            raise AssertionError(f"cell {index} failed: {errors}")

    def kernel(self, code: str) -> str:
        """Execute ``code`` in the notebook's kernel (not in a cell); returns its stdout. Raises on error."""
        res = self.page.evaluate(_EXEC, code)
        if res["err"]:
            raise AssertionError(f"kernel error: {res['err']}")
        return res["out"]

    def widget(self, title: str):
        """Locator of the facewidget root whose title is ``title``, once painted."""
        loc = self.page.locator(".fw-root", has=self.page.locator(".fw-title", has_text=title))
        loc.wait_for(state="visible", timeout=60_000)
        self.page.wait_for_function(
            """(t) => [...document.querySelectorAll('.fw-root')].some(
                 r => r.querySelector('.fw-title')?.textContent === t && r.dataset.painted === 'true')""",
            arg=title, timeout=60_000, polling=100)
        return loc

    def screenshot(self, locator, name: str) -> None:
        locator.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def close(self):
        try:
            self.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        except Exception:
            pass
        self.page.close()
