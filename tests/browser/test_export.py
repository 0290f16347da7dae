"""The offline HTML export (``fw.export_html``) in headless Chromium with every network request
refused: the page paints every view and stays interactive without a kernel."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from .lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

LOCAL_SCHEMES = ("file:", "blob:", "data:")


@pytest.fixture(scope="module")
def browser(shared_playwright):
    """One headless Chromium whose pages may load nothing but file:, blob: and data: URLs."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium chromium-driver (make chromium)")
    root = Path(tempfile.mkdtemp(prefix="fw-export-"))
    context = shared_playwright.chromium.launch_persistent_context(
        str(root / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1300, "height": 1000},
        env={**os.environ, "XDG_CONFIG_HOME": str(root / "config"), "XDG_CACHE_HOME": str(root / "cache")})
    blocked: list[str] = []

    def guard(route):
        if route.request.url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", guard)
    context.blocked = blocked
    ARTIFACTS.mkdir(exist_ok=True)
    yield context
    context.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An overlay, a pair and a canonical face panel, exported to one page."""
    import facewidget as fw
    from facewidget.widgets import CanonicalFaceView, OverlayView, PairView
    from tests.widget_data import (NOSE_TIP, canonical_test_regions, canonical_values, gaussian,
                                   pair_explanation)

    img, img_b = fw.data.sample("obama"), fw.data.sample("biden")
    face, face_b = fw.detect_face(img), fw.detect_face(img_b)
    m = gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 25.0)
    m[m < 1e-3] = 0
    overlay = OverlayView(img, m, title="export-overlay")
    pair = PairView(pair_explanation(img, face, img_b, face_b), title="export-pair")
    mesh = fw.canonical_face()
    vals = canonical_values(mesh)
    regions = {n: (t, float(vals[np.unique(mesh.triangles[t])].mean()))
               for n, t in canonical_test_regions(mesh).items()}
    canonical = CanonicalFaceView(vals, regions, title="export-canonical")
    path = fw.export_html([overlay, pair, canonical.panel()], tmp_path_factory.mktemp("export") / "views.html",
                          title="exported views")
    return {"path": path, "overlay": overlay, "titles": ["export-overlay", "export-pair", "export-canonical"],
            "regions": len(regions)}


@pytest.fixture(scope="module")
def page(browser, exported):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(exported["path"].as_uri())
    page.wait_for_function(
        "(n) => document.documentElement.dataset.fwError || "
        "document.querySelectorAll('.fw-root[data-painted=\"true\"]').length >= n",
        arg=len(exported["titles"]), timeout=30_000, polling=100)
    assert page.evaluate("() => document.documentElement.dataset.fwError || ''") == ""
    page.errors = errors
    yield page
    page.close()


def _root(page, title):
    return page.locator(".fw-root", has=page.locator(".fw-title", has_text=title))


def _painted_pixels(page, root) -> int:
    """Number of non-transparent, non-white pixels over every canvas of ``root``."""
    return page.evaluate("""(root) => {
      let n = 0;
      for (const c of root.querySelectorAll('canvas')) {
        if (!c.width || !c.height) continue;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 0 && (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250)) n += 1;
        }
      }
      return n;
    }""", root.element_handle())


def test_every_view_paints_with_the_network_off(page, browser, exported):
    assert page.evaluate("() => document.documentElement.dataset.fwViews") == str(len(exported["titles"]))
    for title in exported["titles"]:
        root = _root(page, title)
        assert root.count() == 1, title
        assert _painted_pixels(page, root) > 1000, f"{title} has a blank canvas"
    # the region chart (a plotly FigureWidget) draws its current bars, one per region
    page.locator(".trace.bars .point").first.wait_for(timeout=20_000)
    assert page.locator(".trace.bars .point").count() == exported["regions"]
    # nothing was fetched from the network, and nothing failed for lack of it
    assert browser.blocked == []
    assert page.errors == []
    page.screenshot(path=str(ARTIFACTS / "export-page.png"), full_page=True)


def test_a_drag_moves_the_overlay_in_the_exported_page(page, exported):
    root = _root(page, "export-overlay")
    get = """(k) => globalThis.__fwExport.models.find(m => m.get('_view') === 'overlay').get(k)"""
    box = page.evaluate(get, "overlay_box")
    width = page.evaluate(get, "photo_size")[0]
    assert box == pytest.approx(exported["overlay"].overlay_box)  # the Python state reached the page
    canvas = root.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    cb = canvas.bounding_box()
    scale = cb["width"] / width
    before = canvas.screenshot()
    cx, cy = cb["x"] + (box[0] + box[2]) / 2 * scale, cb["y"] + (box[1] + box[3]) / 2 * scale
    page.mouse.move(cx, cy)
    page.mouse.down()
    for k in range(1, 13):
        page.mouse.move(cx + 60 * k / 12, cy + 30 * k / 12)
    page.mouse.up()
    deadline = time.monotonic() + 10
    while (new := page.evaluate(get, "overlay_box")) == box and time.monotonic() < deadline:
        time.sleep(0.05)
    assert new[0] - box[0] == pytest.approx(60 / scale, abs=2 / scale)
    assert new[1] - box[1] == pytest.approx(30 / scale, abs=2 / scale)
    assert canvas.screenshot() != before  # and the picture moved with it
    root.screenshot(path=str(ARTIFACTS / "export-overlay-dragged.png"))


def test_the_pair_view_switches_maps_in_the_exported_page(page):
    root = _root(page, "export-pair")
    canvas = root.locator("canvas").first
    before = canvas.screenshot()
    root.locator(".fw-mode-difference").click()
    page.wait_for_function(
        """() => globalThis.__fwExport.models.find(m => m.get('_view') === 'pair').get('mode') === 'difference'""",
        timeout=10_000)
    deadline = time.monotonic() + 10
    while canvas.screenshot() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert canvas.screenshot() != before


@pytest.fixture(scope="module")
def exported_notebook(tmp_path_factory):
    """A small notebook executed by nbclient (as `make demo HEADLESS=1` does), then exported."""
    import importlib.util

    import nbformat

    import facewidget as fw

    from .lab import REPO

    spec = importlib.util.spec_from_file_location("run_headless", REPO / "notebooks" / "run_headless.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    folder = tmp_path_factory.mktemp("nb-export")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# exported notebook"), nbformat.v4.new_code_cell(
        "import numpy as np, facewidget as fw\n"
        "from facewidget.widgets import CanonicalFaceView\n"
        "from tests.widget_data import canonical_values, canonical_test_regions\n"
        "img = fw.data.sample('obama')\n"
        "view = fw.show(img, title='nb-overlay')"), nbformat.v4.new_code_cell(
        "mesh = fw.canonical_face(); vals = canonical_values(mesh)\n"
        "regs = {n: (t, float(vals[np.unique(mesh.triangles[t])].mean())) "
        "for n, t in canonical_test_regions(mesh).items()}\n"
        "face_view = CanonicalFaceView(vals, regs, title='nb-canonical')\n"
        "face_view.panel()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "small.ipynb"
    nbformat.write(nb, path)
    nbformat.write(runner.execute(path, timeout=300), path)
    return fw.export_html(path, folder / "small.html"), len(_saved_regions(path))


def _saved_regions(path):
    import json

    state = json.loads(path.read_text())["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    return [m for m in state["state"].values() if m["state"].get("_view") == "canonical"][0]["state"]["regions"]


def test_an_executed_notebook_exports_to_a_live_page(browser, exported_notebook):
    path, n_regions = exported_notebook
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri())
        page.wait_for_function(
            "() => document.documentElement.dataset.fwError || "
            "document.querySelectorAll('.fw-root[data-painted=\"true\"]').length >= 2", timeout=30_000, polling=100)
        assert page.evaluate("() => document.documentElement.dataset.fwError || ''") == ""
        assert page.locator("h1", has_text="exported notebook").count() == 1  # the notebook's own text
        for title in ("nb-overlay", "nb-canonical"):
            root = _root(page, title)
            assert _painted_pixels(page, root) > 1000, title
        # the region chart of an nbclient-executed notebook draws its bars (run_headless re-syncs plotly)
        page.locator(".trace.bars .point").first.wait_for(timeout=20_000)
        assert page.locator(".trace.bars .point").count() == n_regions
        assert browser.blocked == []
        assert errors == []
        page.screenshot(path=str(ARTIFACTS / "export-notebook.png"), full_page=True)
    finally:
        page.close()
