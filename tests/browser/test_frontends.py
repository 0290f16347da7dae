"""Beyond JupyterLab: the views in Notebook 7 and in Voila, with a real kernel behind them.

One server and one browser context per front end, for its one test; each test opens the same small
notebook: an overlay view whose ``overlay_box`` a Python observer writes into an ipywidgets
Label. The test drags the overlay in the page and waits for the Label: the drag went through that
front end's widget manager and comm to the kernel, and back.
"""

from __future__ import annotations

import re

import pytest

from .servers import Server, drag, painted_root

pytestmark = pytest.mark.browser

TITLE = "frontend-overlay"
CELLS = [
    """import numpy as np, ipywidgets as W, facewidget as fw
from IPython.display import display
from facewidget.widgets import OverlayView
from tests.widget_data import gaussian, NOSE_TIP
img = fw.data.sample("obama"); face = fw.detect_face(img)
m = gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 25.0); m[m < 1e-3] = 0
ov = OverlayView(img, m, title="frontend-overlay")
report = W.Label("box " + " ".join(f"{v:.2f}" for v in ov.overlay_box) + f" width {ov.photo_size[0]}")
report.add_class("fw-test-report")
ov.observe(lambda ch: setattr(report, "value", "moved " + " ".join(f"{v:.2f}" for v in ch.new)), "overlay_box")
display(ov, report)""",
]


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", text)]


def _drag_and_read_back(page):
    root = painted_root(page, TITLE)
    report = page.locator(".fw-test-report")
    report.wait_for()
    start = _numbers(report.text_content())
    box, width = start[:4], start[4]
    canvas = root.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    cb = canvas.bounding_box()
    scale = cb["width"] / width
    cx, cy = cb["x"] + (box[0] + box[2]) / 2 * scale, cb["y"] + (box[1] + box[3]) / 2 * scale
    drag(page, cx, cy, cx + 60, cy + 30)
    page.wait_for_function("(el) => el.textContent.startsWith('moved')", arg=report.element_handle(), timeout=20_000)
    new = _numbers(report.text_content())
    assert new[0] - box[0] == pytest.approx(60 / scale, abs=2 / scale)
    assert new[1] - box[1] == pytest.approx(30 / scale, abs=2 / scale)
    assert new[2] - new[0] == pytest.approx(box[2] - box[0], abs=1e-2)  # moved, not resized
    return root


# one server at a time: each fixture serves one test and stops when it is done
@pytest.fixture
def notebook7(shared_playwright):
    server = Server(shared_playwright, "notebook", [
        "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1", "--ServerApp.port={port}",
        "--ServerApp.port_retries=0", "--IdentityProvider.token={token}", "--ServerApp.root_dir={work}",
        "--JupyterNotebookApp.expose_app_in_browser=True"], {"views.ipynb": CELLS}, "/api/status?token={token}")
    yield server
    server.close()


def test_notebook7_shows_the_view_and_a_drag_reaches_python(notebook7):
    page = notebook7.browser.new_page()
    try:
        page.goto(f"{notebook7.base}/notebooks/views.ipynb?token={notebook7.token}")
        page.wait_for_function("""() => {
          const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
          const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
          return !!(k && k.connectionStatus === 'connected' && k.status === 'idle' && w.content.widgets.length);
        }""", timeout=90_000, polling=200)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        root = _drag_and_read_back(page)
        root.screenshot(path=str(_artifact("notebook7-overlay.png")))
    finally:
        page.close()


@pytest.fixture
def voila(shared_playwright):
    server = Server(shared_playwright, "voila", [
        "views.ipynb", "--no-browser", "--Voila.ip=127.0.0.1", "--port={port}", "--Voila.port_retries=0",
        "--token={token}", "--show_tracebacks=True"], {"views.ipynb": CELLS}, "/voila/static/")
    yield server
    server.close()


def test_voila_shows_the_view_and_a_drag_reaches_python(voila):
    page = voila.browser.new_page()
    try:
        page.goto(f"{voila.base}/?token={voila.token}")
        root = _drag_and_read_back(page)
        root.screenshot(path=str(_artifact("voila-overlay.png")))
    finally:
        page.close()


def _artifact(name):
    from .lab import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


MARIMO_APP = '''import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import facewidget as fw
    from facewidget.widgets import OverlayView
    from tests.widget_data import gaussian, NOSE_TIP

    img = fw.data.sample("obama")
    face = fw.detect_face(img)
    m = gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 25.0)
    view = mo.ui.anywidget(OverlayView(img, m, title="marimo-overlay"))
    view
    return


if __name__ == "__main__":
    app.run()
'''


@pytest.fixture
def marimo_app(shared_playwright):
    import marimo  # noqa: F401  (in the test extra: missing means a broken set-up, not a skip)
    server = Server(shared_playwright, "marimo", ["run", "{work}/app.py", "--headless", "--host=127.0.0.1", "--port={port}", "--no-token"],
                    {}, "/", files={"app.py": MARIMO_APP})
    yield server
    server.close()


def test_marimo_smoke_the_view_paints(marimo_app):
    """marimo renders anywidgets through its own runtime (mo.ui.anywidget): the view paints."""
    page = marimo_app.browser.new_page()
    try:
        page.goto(marimo_app.base + "/")
        # marimo may mount widgets in a shadow root: Playwright's CSS locators pierce open ones
        root = page.locator('.fw-root[data-painted="true"]', has=page.locator(".fw-title", has_text="marimo-overlay"))
        root.wait_for(timeout=120_000)
        pixels = root.locator("canvas").first.evaluate("""(c) => {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n += 1; return n; }""")
        assert pixels > 1000
        root.screenshot(path=str(_artifact("marimo-overlay.png")))
    finally:
        page.close()
