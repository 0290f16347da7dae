"""The views as a reader meets them in JupyterLab + headless Chromium: responsive HiDPI canvases,
the dark theme, honest maps (one scale, colour bar, significance, p-value readout) and keyboard
editing with undo. One notebook (kernel) is shared by the tests of this module."""

from __future__ import annotations

import ast
import time

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CELLS = [
    # 0: a real photo, its face and an overlay view; every trait change Python sees is recorded
    """import numpy as np, facewidget as fw
from facewidget.widgets import OverlayView, PairView
from tests.widget_data import *
img = fw.data.sample("obama"); face = fw.detect_face(img)
m = gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 25.0); m[m < 1e-3] = 0
ov = OverlayView(img, m, face=face, title="responsive-view")
changes = []
ov.observe(lambda c: changes.append(c["name"]))
ov""",
    # 1: a real CorrRISE explanation of a pair, with p-values from the correlation test over its
    #    n masks and Benjamini-Hochberg significance (what the explainers add: see HELPERS contract)
    """from scipy import stats
a, b = fw.data.sample("obama"), fw.data.sample("biden")
model = fw.load_model("dlib-resnet")
ex = fw.explain_pair(a, b, model, method="corrrise", n=64, seed=0)
n = ex.manifest["params"]["n"]
def add_significance(ef, fdr=0.05):
    r = np.clip(ef.maps["signed"].astype(np.float64), -0.999999, 0.999999)
    t = r * np.sqrt((n - 2) / (1 - r ** 2))
    p = 2 * stats.t.sf(np.abs(t), n - 2)
    order = np.sort(p.ravel()); k = np.arange(1, order.size + 1)
    passed = order <= fdr * k / order.size
    cut = order[passed].max() if passed.any() else -1.0
    ef.maps["p_value"] = p.astype(np.float32)
    ef.maps["significant"] = (p <= cut).astype(np.float32)
add_significance(ex.a); add_significance(ex.b)
pv = PairView(ex, title="honest-pair", map_threshold=0.0)
pv""",
    # 2: the canonical face, its named regions, linked to the pair's photos
    """from facewidget.widgets import CanonicalFaceView
from facewidget.canonical.regions import regions as canonical_regions
mesh = fw.canonical_face()
cv = CanonicalFaceView(None, {n: (r.triangles, 0.05 * k) for k, (n, r) in enumerate(canonical_regions().items())},
                       title="linked-face").link(pv, ov)
cv.panel()""",
    # 3: a canonical map projected from a real photo, drawn with its uv texture on the mesh
    """cmap = fw.canonical.project(gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 40.0), face)
tv = CanonicalFaceView.from_canonical_map(cmap, title="textured-face")
tv""",
]


@pytest.fixture(scope="module")
def nb(lab):
    """The notebook in a HiDPI browser (devicePixelRatio 2) talking to the session's JupyterLab."""
    from .lab import CHROMIUM, CHROMIUM_ARGS, Notebook

    browser = lab._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                      env={**lab.env, "XDG_CACHE_HOME": str(lab.root / "cache-hidpi")})
    context = browser.new_context(viewport={"width": 1400, "height": 1400}, device_scale_factor=2)
    try:
        lab.open_notebook("views_ux.ipynb", CELLS).close()  # writes the notebook file
        book = Notebook(lab, context.new_page(), "views_ux.ipynb")
        for i in range(len(CELLS)):
            book.run_cell(i, timeout=300)
        yield book
        book.close()
    finally:
        context.close()
        browser.close()


def _kernel_value(nb, expr):
    return ast.literal_eval(nb.kernel(f"print(repr({expr}))").strip())


def _wait_kernel(nb, expr, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        value = _kernel_value(nb, expr)
        if pred(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _canvas_size(locator):
    return locator.evaluate("c => ({css: c.clientWidth, cssH: c.clientHeight, w: c.width, h: c.height, dpr: window.devicePixelRatio})")


def test_canvas_follows_the_cell_width_and_draws_at_device_pixel_ratio_2(nb):
    page = nb.page
    root = nb.widget("responsive-view")
    canvas = root.locator("canvas.fw-canvas")
    wide = _canvas_size(canvas)
    # HiDPI: the backing store has 2 pixels per CSS pixel; the photo is scaled up to the preferred width
    assert wide["dpr"] == 2 and wide["w"] == 2 * wide["css"] and wide["h"] == 2 * wide["cssH"]
    assert wide["css"] >= 500
    nb.kernel("changes.clear()")
    page.set_viewport_size({"width": 700, "height": 1000})
    page.wait_for_function("(a) => a.c.clientWidth < a.w", arg={"c": canvas.element_handle(), "w": wide["css"]},
                           timeout=10_000)
    page.wait_for_function("(c) => c.width === 2 * c.clientWidth", arg=canvas.element_handle(), timeout=10_000)
    narrow = _canvas_size(canvas)
    cell = root.evaluate("r => r.clientWidth")
    assert narrow["css"] <= cell and narrow["w"] == 2 * narrow["css"]
    assert narrow["cssH"] / narrow["css"] == pytest.approx(wide["cssH"] / wide["css"], abs=0.02)  # aspect kept
    nb.screenshot(root, "responsive-view-narrow-dpr2")
    page.set_viewport_size({"width": 1400, "height": 1400})
    page.wait_for_function("(a) => a.c.clientWidth === a.w && a.c.width === 2 * a.w",
                           arg={"c": canvas.element_handle(), "w": wide["css"]}, timeout=10_000)
    # re-layout happened in the browser only: no trait of the view changed in the kernel
    assert _kernel_value(nb, "changes") == []


def test_dark_theme_screenshot_uses_the_theme_colours(nb):
    page = nb.page
    root = nb.widget("honest-pair")
    light = root.evaluate("r => getComputedStyle(r).color")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_function("(a) => getComputedStyle(a.r).color !== a.light", arg={"r": root.element_handle(), "light": light},
                           timeout=10_000)
    dark = root.evaluate("r => getComputedStyle(r).color")
    assert dark != light
    rgb = [int(v) for v in dark[dark.index("(") + 1:dark.index(")")].split(",")[:3]]
    assert min(rgb) > 150  # light text on the dark theme
    root.scroll_into_view_if_needed()
    nb.screenshot(root, "pair-view-dark-theme")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=30_000)


def _photo_to_client(canvas, box, x, y):
    cb = canvas.bounding_box()
    css = canvas.evaluate("c => c.clientWidth")
    k = css / (box[2] - box[0])
    return cb["x"] + 1 + (x - box[0]) * k, cb["y"] + 1 + (y - box[1]) * k


def _pixel(canvas, box, x, y):
    """RGBA of the canvas's backing store at photo point (x, y)."""
    return canvas.evaluate("""(c, p) => {
      const k = c.width / (p.box[2] - p.box[0]);
      const d = c.getContext('2d').getImageData(Math.floor((p.x - p.box[0]) * k), Math.floor((p.y - p.box[1]) * k), 1, 1).data;
      return Array.from(d);
    }""", {"box": box, "x": x, "y": y})


def test_pair_shares_one_scale_names_its_quantity_and_hides_non_significant_pixels(nb):
    page = nb.page
    root = nb.widget("honest-pair")
    root.scroll_into_view_if_needed()
    bar = root.locator(".fw-colorbar")
    assert bar.locator(".fw-colorbar-label").text_content().startswith("correlation r")
    # one absolute scale: the bar ends at the largest value of all four maps (both faces)
    hi = _kernel_value(nb, "float(max(pv.maps[s][k]['hi'] for s in 'ab' for k in ('similar', 'dissimilar')))")
    assert float(bar.get_attribute("data-hi")) == pytest.approx(hi, rel=1e-6)
    assert float(bar.get_attribute("data-lo")) == 0.0
    assert root.get_attribute("data-shared-scale") == "true"
    assert root.get_attribute("data-significance") == "hidden"
    nb.screenshot(root, "pair-view-significant-only")
    # a non-significant pixel with some positive correlation, and a significant one, on face A's map
    (xn, yn), (xs, ys) = _kernel_value(nb, """(lambda s, sig, aff: [
        [float(v) for v in aff @ np.array([*np.argwhere((sig == 0) & (s > 0.5 * s[sig == 0].max()))[0][::-1], 1.0])],
        [float(v) for v in aff @ np.array([*np.argwhere((sig == 1) & (s > 0))[0][::-1], 1.0])],
        ])(ex.a.maps['similar'], ex.a.maps['significant'], np.asarray(pv.maps['a']['similar']['affine']).reshape(2, 3))""")
    box = _kernel_value(nb, "pv.view_box_a")
    canvas = root.locator("canvas[data-side=a]")
    hidden_n, shown_s = _pixel(canvas, box, xn, yn), _pixel(canvas, box, xs, ys)
    # the photo alone at those points (the overlay switched off)
    nb.kernel("pv.opacity = 0.0")
    page.wait_for_function("(r) => true", arg=root.element_handle())
    time.sleep(0.3)
    photo_n, photo_s = _pixel(canvas, box, xn, yn), _pixel(canvas, box, xs, ys)
    nb.kernel("pv.opacity = 0.6")
    time.sleep(0.3)
    assert np.abs(np.subtract(hidden_n, photo_n)).max() <= 2  # transparent: the photo shows through
    assert np.abs(np.subtract(shown_s, photo_s)).max() > 10  # a significant pixel is coloured
    root.locator(".fw-significance").click()
    assert _wait_kernel(nb, "pv.show_insignificant", bool) is True
    page.wait_for_function("(r) => r.dataset.significance === 'shown'", arg=root.element_handle(), timeout=10_000)
    assert np.abs(np.subtract(_pixel(canvas, box, xn, yn), photo_n)).max() > 10  # now drawn
    nb.screenshot(root, "pair-view-all-pixels")
    # the pointer readout: the value and the p-value under the pointer, as Python has them
    page.mouse.move(*_photo_to_client(canvas, box, xs, ys))
    page.wait_for_function("(r) => r.dataset.readout", arg=root.element_handle(), timeout=10_000)
    v, p = (float(x) for x in root.get_attribute("data-readout").split(","))
    want = _kernel_value(nb, f"""(lambda aff, x, y: (lambda u, v: [float(ex.a.maps['similar'][v, u]), float(ex.a.maps['p_value'][v, u])])(
        *np.rint(np.linalg.solve(aff[:, :2], np.array([x, y]) - aff[:, 2])).astype(int)))(
        np.asarray(pv.maps['a']['similar']['affine']).reshape(2, 3), {xs}, {ys})""")
    assert v == pytest.approx(want[0], rel=2e-3, abs=1e-4)
    assert p == pytest.approx(want[1], rel=5e-3, abs=1e-6)
    text = root.locator(".fw-readout").text_content()
    assert "correlation r" in text and " p " in text
    # per-panel scaling is an option
    root.locator(".fw-shared-scale").click()
    assert _wait_kernel(nb, "pv.shared_scale", lambda v: v is False) is False
    assert "own maximum" in bar.locator(".fw-colorbar-label").text_content()
    root.locator(".fw-shared-scale").click()
    root.locator(".fw-significance").click()


def test_a_polygon_drawn_with_the_keyboard_is_undone_and_redone_in_python(nb):
    page = nb.page
    root = nb.widget("responsive-view")
    root.scroll_into_view_if_needed()
    nb.kernel("ov.annotations = []")
    cells_before = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
    root.locator(".fw-tool-polygon").click()
    canvas = root.locator("canvas.fw-canvas")
    canvas.focus()
    for key in ["Space", "Shift+ArrowRight", "Shift+ArrowRight", "Shift+ArrowRight", "Space",
                "Shift+ArrowDown", "Shift+ArrowDown", "Space"]:
        page.keyboard.press(key)
    page.keyboard.press("b")  # Jupyter's "insert cell below" must not fire inside the view
    page.keyboard.press("Enter")
    anns = _wait_kernel(nb, "ov.annotations", lambda a: len(a) == 1)
    assert len(anns) == 1 and anns[0]["kind"] == "polygon"
    pts = np.array(anns[0]["points"])
    # 30 CSS pixels right, then 20 down, in photo pixels (CSS px per photo px from the canvas size)
    k = float(canvas.get_attribute("data-css-scale"))  # CSS px per photo px
    assert pts[1] - pts[0] == pytest.approx([30 / k, 0], abs=0.01)
    assert pts[2] - pts[1] == pytest.approx([0, 20 / k], abs=0.01)
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length") == cells_before
    page.keyboard.press("Control+z")
    assert _wait_kernel(nb, "ov.annotations", lambda a: a == []) == []
    page.keyboard.press("Control+Shift+z")
    redone = _wait_kernel(nb, "ov.annotations", lambda a: len(a) == 1)
    assert redone == anns
    nb.screenshot(root, "overlay-keyboard-polygon")
    # Delete removes the selected annotation; undo brings it back
    root.locator(".fw-tool-none").click()
    root.locator(".fw-ann-item-label").first.click()
    canvas.focus()
    page.keyboard.press("Delete")
    assert _wait_kernel(nb, "ov.annotations", lambda a: a == []) == []
    page.keyboard.press("Control+z")
    assert _wait_kernel(nb, "ov.annotations", lambda a: len(a) == 1) == anns


def test_a_region_selected_on_the_canonical_face_is_outlined_on_the_linked_photos(nb):
    page = nb.page
    face = nb.widget("linked-face")
    canvas = face.locator("canvas.fw-canvas")
    canvas.scroll_into_view_if_needed()
    # click the nose tip (vertex 1) in the front view (the projection of js/src/geometry.js)
    v = np.array(_kernel_value(nb, "mesh.vertices.tolist()"))
    c = v - (v.max(0) + v.min(0)) / 2
    w, h = canvas.evaluate("c => [c.clientWidth, c.clientHeight]")
    s = 0.95 * min(w, h) / (2 * np.hypot(c[:, 0], c[:, 1]).max())
    cb = canvas.bounding_box()
    page.mouse.click(cb["x"] + 1 + w / 2 + c[1, 0] * s, cb["y"] + 1 + h / 2 - c[1, 1] * s)
    assert _wait_kernel(nb, "cv.selected_region", lambda r: r == "nose") == "nose"
    overlay = nb.widget("responsive-view")  # every linked photo view shows it
    page.wait_for_function("(r) => r.dataset.outline === 'nose' && Number(r.dataset.outlineSegments) > 10",
                           arg=overlay.element_handle(), timeout=10_000)
    pair = nb.widget("honest-pair")
    page.wait_for_function("(r) => r.dataset.outline === 'nose' && Number(r.dataset.outlineSegments) > 10",
                           arg=pair.element_handle(), timeout=10_000)
    # the outline is painted on face A's photo, where the nose's boundary lies on this face
    seg = _kernel_value(nb, "np.frombuffer(pv.region_outline['a'], dtype='<f4').reshape(-1, 4).tolist()")
    box = _kernel_value(nb, "pv.view_box_a")
    photo = pair.locator("canvas[data-side=a]")
    x0, y0, x1, y1 = seg[0]
    px = _pixel(photo, box, (x0 + x1) / 2, (y0 + y1) / 2)
    assert min(px[:3]) > 200, px  # the white outline stroke
    pair.scroll_into_view_if_needed()
    nb.screenshot(pair, "pair-view-linked-region")
    # hovering the photo names the canonical region under the pointer
    tip = _kernel_value(nb, "ex.a.face.landmarks[NOSE_TIP, :2].tolist()")
    page.mouse.move(*_photo_to_client(photo, box, *tip))
    page.wait_for_function("(r) => r.dataset.hoverRegion === 'nose'", arg=pair.element_handle(), timeout=10_000)
    assert "nose" in pair.locator(".fw-readout").text_content()
    # undo the selection on the face: the outline goes away on the photos
    canvas.focus()
    page.keyboard.press("Control+z")
    assert _wait_kernel(nb, "cv.selected_region", lambda r: r == "") == ""
    page.wait_for_function("(r) => r.dataset.outline === ''", arg=pair.element_handle(), timeout=10_000)


def test_the_canonical_map_texture_is_drawn_on_the_mesh_and_vertex_colours_stay_an_option(nb):
    page = nb.page
    root = nb.widget("textured-face")
    canvas = root.locator("canvas.fw-canvas")
    canvas.scroll_into_view_if_needed()
    assert root.get_attribute("data-face-style") == "texture"
    # share of horizontally adjacent face pixels with exactly the same colour: a map painted flat
    # per triangle is made of constant patches; the texture varies inside every triangle
    flatness = """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let same = 0, pairs = 0;
      for (let i = 0; i + 4 < d.length; i += 4) {
        if (d[i + 3] !== 255 || d[i + 7] !== 255 || (i / 4 + 1) % c.width === 0) continue;
        pairs += 1;
        if (d[i] === d[i + 4] && d[i + 1] === d[i + 5] && d[i + 2] === d[i + 6]) same += 1;
      }
      return same / pairs; }"""
    nb.screenshot(root, "canonical-textured")
    cb = canvas.bounding_box()
    paints = int(root.get_attribute("data-paints"))
    page.mouse.move(cb["x"] + 100, cb["y"] + 200)
    page.mouse.down()
    for k in range(1, 13):
        page.mouse.move(cb["x"] + 100 + 6 * k, cb["y"] + 200)
    page.mouse.up()
    assert int(root.get_attribute("data-paints")) >= paints + 10  # one paint per move, locally
    assert _wait_kernel(nb, "tv.yaw", lambda y: abs(y) > 20) == pytest.approx(36.0, abs=2.0)
    nb.screenshot(root, "canonical-textured-rotated")
    textured = canvas.evaluate(flatness)
    root.locator(".fw-face-style").click()
    assert _wait_kernel(nb, "tv.face_style", lambda v: v == "vertex") == "vertex"
    page.wait_for_function("(r) => r.dataset.faceStyle === 'vertex'", arg=root.element_handle(), timeout=10_000)
    flat = canvas.evaluate(flatness)
    nb.screenshot(root, "canonical-vertex-colours")
    assert textured < 0.85 * flat, (textured, flat)  # the texture resolves the map inside triangles


@pytest.mark.parametrize("title", ["honest-pair", "responsive-view", "textured-face"])
def test_every_control_of_a_view_is_reached_with_tab_and_has_a_name(nb, title):
    page = nb.page
    root = nb.widget(title)
    root.scroll_into_view_if_needed()
    controls = root.evaluate("""(r) => [...r.querySelectorAll('button, input, select, [tabindex]')]
        .filter((e) => e.offsetParent !== null && !e.disabled && e.tabIndex >= 0).length""")
    root.evaluate("""(r) => [...r.querySelectorAll('button, input, select, [tabindex]')]
        .find((e) => e.offsetParent !== null && !e.disabled && e.tabIndex >= 0).focus()""")
    seen, names = set(), []
    for _ in range(controls + 5):
        info = page.evaluate("""(r) => { const e = document.activeElement; if (!r.contains(e)) return null;
            const all = [...r.querySelectorAll('button, input, select, [tabindex]')];
            const label = e.closest('label');
            return [all.indexOf(e), e.getAttribute('aria-label') || (label && label.textContent.trim()) || e.textContent.trim()]; }""",
                             root.element_handle())
        if info is None:
            break
        seen.add(info[0])
        names.append(info[1])
        page.keyboard.press("Tab")
    assert len(seen) == controls, (len(seen), controls, sorted(seen))
    assert all(names), names
