"""End to end in JupyterLab + headless Chromium: the real user path of every view.

One server, one browser and one notebook (kernel) are shared; each test drives one view.
"""

from __future__ import annotations

import ast
import time

import numpy as np
import pytest

from .servers import drag

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"

CELLS = [
    # 0: real photos and faces
    """import numpy as np, facewidget as fw
from facewidget.widgets import OverlayView, PairView, CanonicalFaceView
from tests.widget_data import *
img, img_b = fw.data.sample("obama"), fw.data.sample("biden")
face, face_b = fw.detect_face(img), fw.detect_face(img_b)""",
    # 1: overlay
    """m = gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 25.0); m[m < 1e-3] = 0
ov = OverlayView(img, m, title="overlay-view")
ov""",
    # 2: pair
    """pv = PairView(pair_explanation(img, face, img_b, face_b), title="pair-view")
pv""",
    # 3: canonical face
    """mesh = fw.canonical_face(); vals = canonical_values(mesh); regs = canonical_test_regions(mesh)
cv = CanonicalFaceView(vals, {n: (t, float(vals[np.unique(mesh.triangles[t])].mean())) for n, t in regs.items()},
                       title="canonical-view")
cv.panel()""",
    # 4: live run, started from the view's Run button
    """x0, y0, x1, y1 = face.box; s = max(x1 - x0, y1 - y0) / 200
lv = OverlayView(img, affine=[[s, 0, x0], [0, s, y0]], title="live-view")
lv.set_computation(landmark_density, (200, 200), (face.landmarks[:, :2] - [x0, y0]) / s, every=16, pause=0.15)
lv""",
    # 5: the overlay view displayed a second time (run by a test)
    "display(ov)",
]


@pytest.fixture(scope="module")
def nb(lab):
    book = lab.open_notebook("views.ipynb", CELLS)
    for i in range(len(CELLS) - 1):
        book.run_cell(i)
    yield book
    book.close()


def _kernel_value(nb, expr):
    return ast.literal_eval(nb.kernel(f"print(repr({expr}))").strip())


def test_overlay_renders_and_a_drag_moves_the_python_trait(nb):
    root = nb.widget("overlay-view")
    nb.screenshot(root, "overlay-view")
    box = _kernel_value(nb, "ov.overlay_box")
    W = _kernel_value(nb, "ov.photo_size")[0]
    canvas = root.locator("canvas")
    canvas.scroll_into_view_if_needed()
    cb = canvas.bounding_box()
    scale = cb["width"] / W  # CSS px per photo px (border is 1 px)
    cx = cb["x"] + (box[0] + box[2]) / 2 * scale
    cy = cb["y"] + (box[1] + box[3]) / 2 * scale
    drag(nb.page, cx, cy, cx + 60, cy + 30)
    deadline = time.monotonic() + 10
    while (new := _kernel_value(nb, "ov.overlay_box")) == box and time.monotonic() < deadline:
        time.sleep(0.1)
    assert new[0] - box[0] == pytest.approx(60 / scale, abs=2 / scale)
    assert new[1] - box[1] == pytest.approx(30 / scale, abs=2 / scale)
    assert new[2] - new[0] == pytest.approx(box[2] - box[0], abs=1e-3)  # moved, not resized
    nb.screenshot(root, "overlay-view-dragged")


def test_a_drawn_polygon_reaches_python_and_its_label_stays_text(nb):
    root = nb.widget("overlay-view")
    page = nb.page
    root.locator(".fw-tool-polygon").click()
    canvas = root.locator("canvas")
    cb = canvas.bounding_box()
    for dx, dy in ((20, 20), (120, 30), (60, 110)):
        page.mouse.click(cb["x"] + dx, cb["y"] + dy)
    root.locator(".fw-ann-label").fill(XSS)
    root.locator(".fw-ann-note").fill("drawn in the browser")
    root.locator(".fw-ann-finish").click()
    deadline = time.monotonic() + 10
    while not (anns := _kernel_value(nb, "ov.annotations")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(anns) == 1 and anns[0]["kind"] == "polygon" and len(anns[0]["points"]) == 3
    assert anns[0]["label"] == XSS and anns[0]["note"] == "drawn in the browser"
    item = root.locator(".fw-ann-item-label")
    item.wait_for()
    assert item.text_content() == XSS
    assert root.locator(".fw-ann-list img").count() == 0
    assert page.locator("img[src=x]").count() == 0
    # the label also arrives from Python (e.g. loaded JSON): still text
    nb.kernel(f"ov.add_annotation(kind='brush', points=[[300, 300], [340, 320]], radius=6, label={XSS!r} + '!')")
    root.locator(".fw-ann-item-label", has_text="!").wait_for()
    assert page.locator("img[src=x]").count() == 0
    assert nb.dialogs == []  # no alert() ran
    nb.screenshot(root, "overlay-annotated")


def test_pair_view_renders_with_linked_hover_and_threshold(nb):
    root = nb.widget("pair-view")
    nb.screenshot(root, "pair-view")
    page = nb.page
    nose_a = _kernel_value(nb, "face.landmarks[NOSE_TIP, :2].tolist()")
    nose_b = _kernel_value(nb, "face_b.landmarks[NOSE_TIP, :2].tolist()")
    vb = _kernel_value(nb, "pv.view_box_a")  # the view zooms to the face
    canvas = root.locator("canvas[data-side=a]")
    canvas.scroll_into_view_if_needed()
    cb = canvas.bounding_box()
    scale = (cb["width"] - 2) / (vb[2] - vb[0])
    page.mouse.move(cb["x"] + 1 + (nose_a[0] - vb[0]) * scale, cb["y"] + 1 + (nose_a[1] - vb[1]) * scale)
    page.wait_for_function("(r) => r.dataset.linked", arg=root.element_handle(), timeout=10_000)
    linked = [float(v) for v in root.get_attribute("data-linked").split(",")]
    # the hovered point's barycentric coordinates carried to face B land on B's nose tip
    assert np.hypot(linked[0] - nose_b[0], linked[1] - nose_b[1]) < 6
    nb.screenshot(root, "pair-view-hover")
    root.locator(".fw-mode-difference").click()
    root.locator("canvas[data-kind=difference]").first.wait_for()  # the panels were rebuilt for the mode
    assert _wait_kernel(nb, "pv.mode", "difference")
    nb.screenshot(root, "pair-view-difference")
    # the threshold slider decides: moved past the pair's score the decision flips to "different" (in
    # the page and in Python), moved back it is "same" again
    score, threshold, higher = _kernel_value(nb, "(pv.score, pv.threshold, pv.higher_is_similar)")
    lo, hi = _kernel_value(nb, "pv.threshold_range")
    assert _kernel_value(nb, "pv.decision") == root.get_attribute("data-decision") == "same"
    past = score + 0.5 * (hi - score) if higher else score - 0.5 * (score - lo)  # a distance: same below
    slider = root.locator(".fw-slider input[type=range]")
    for value, decision in ((past, "different"), (threshold, "same")):
        assert lo <= value <= hi
        slider.fill(str(value))  # sets the value and fires input + change, as a drag ends
        page.wait_for_function("([r, d]) => r.dataset.decision === d", arg=[root.element_handle(), decision],
                               timeout=10_000)
        assert _wait_kernel(nb, "pv.decision", decision), (value, decision)
        assert _kernel_value(nb, "pv.threshold") == pytest.approx(value, abs=(hi - lo) / 200)


def _wait_kernel(nb, expr, value, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _kernel_value(nb, expr) == value:
            return True
        time.sleep(0.1)
    return False


def _canonical_screen_point(nb, vertex, width=360, height=400):
    """Screen position of a canonical vertex in the front view (the maths of js/src/geometry.js)."""
    v = np.array(_kernel_value(nb, "mesh.vertices.tolist()"))
    centre = (v.max(0) + v.min(0)) / 2
    c = v - centre
    radius = np.hypot(c[:, 0], c[:, 1]).max()
    s = 0.95 * min(width, height) / (2 * radius)
    return width / 2 + c[vertex, 0] * s, height / 2 - c[vertex, 1] * s


def test_canonical_face_rotates_on_drag_and_a_click_selects_a_region(nb):
    root = nb.widget("canonical-view")
    nb.screenshot(root, "canonical-view")
    page = nb.page
    canvas = root.locator("canvas")
    canvas.scroll_into_view_if_needed()
    cb = canvas.bounding_box()
    # click the nose tip: the region under it is selected in Python
    x, y = _canonical_screen_point(nb, 1)
    page.mouse.move(cb["x"] + 1 + x, cb["y"] + 1 + y)
    tip = root.locator(".fw-tooltip")
    tip.wait_for(state="visible")
    assert tip.text_content().startswith("nose:")
    page.mouse.click(cb["x"] + 1 + x, cb["y"] + 1 + y)
    assert _wait_kernel(nb, "cv.selected_region", "nose")
    # drag: the view angle changes in Python once the gesture ends
    paints_before = int(root.get_attribute("data-paints"))
    drag(page, cb["x"] + 100, cb["y"] + 200, cb["x"] + 180, cb["y"] + 200, steps=16)
    assert int(root.get_attribute("data-paints")) >= paints_before + 10  # redrawn per frame, locally
    deadline = time.monotonic() + 10
    while abs(yaw := _kernel_value(nb, "cv.yaw")) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert yaw == pytest.approx(40.0, abs=2.0)
    assert _kernel_value(nb, "cv.pitch") == pytest.approx(0.0, abs=1.0)
    nb.screenshot(root, "canonical-view-rotated")
    # annotate the selected region from the front end
    root.locator(".fw-ann-label").fill("nose bridge")
    root.locator(".fw-ann-add").click()
    deadline = time.monotonic() + 10
    while not (anns := _kernel_value(nb, "cv.annotations")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert anns[0]["regions"] == ["nose"] and anns[0]["label"] == "nose bridge"


def test_region_bar_chart_click_selects_the_region(nb):
    nb.widget("canonical-view")
    page = nb.page
    names = _kernel_value(nb, "list(cv.chart.data[0].y)")
    bars = page.locator(".js-plotly-plot .barlayer g.point")
    bars.first.wait_for(state="attached", timeout=60_000)
    assert bars.count() == len(names)
    k = names.index("mouth")  # a bar with some width (the chin's score is ~0)
    bars.nth(k).scroll_into_view_if_needed()
    box = bars.nth(k).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert _wait_kernel(nb, "cv.selected_region", "mouth")
    root = nb.widget("canonical-view")
    page.wait_for_function("(r) => r.dataset.selected === 'mouth'", arg=root.element_handle(), timeout=10_000)
    nb.screenshot(page.locator(".widget-hbox").first, "canonical-panel-chart")


def test_live_run_shows_progress_and_the_kernel_stays_responsive(nb):
    root = nb.widget("live-view")
    page = nb.page
    root.locator(".fw-run").click()
    seen = set()
    answered_while_running = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = page.evaluate("(r) => [r.dataset.status, r.dataset.overlayUpdates]", root.element_handle())
        if state[0] == "running":
            seen.add(int(state[1]))
            if not answered_while_running and int(state[1]) >= 1:
                out = nb.kernel("print(lv.running, 6 * 7)")  # a cell while the run goes on
                answered_while_running = out.split() == ["True", "42"]
        if state[0] == "done":
            break
        time.sleep(0.05)
    assert root.get_attribute("data-status") == "done"
    assert len({s for s in seen if s > 0}) >= 2, f"progressive updates seen while running: {sorted(seen)}"
    assert answered_while_running
    assert root.locator("progress").evaluate("p => p.value === p.max")
    # counts, not rates: the computation pauses 0.15 s between its reports, more than the 0.1 s
    # throttle, so every report goes out (on any machine: a slower one only widens the gaps), and the
    # page drew each of them and then the result
    received, sent = _kernel_value(nb, "(lv.last_run.updates_received, lv.last_run.updates_sent)")
    assert received == sent == -(-478 // 16)  # ceil(478 landmarks / every 16)
    assert int(root.get_attribute("data-live-updates")) == sent
    assert int(root.get_attribute("data-overlay-updates")) == sent + 1
    nb.screenshot(root, "live-view-done")
    # run again and stop it with the Cancel button
    root.locator(".fw-run").click()
    page.wait_for_function("(r) => r.dataset.status === 'running' && Number(r.dataset.liveUpdates) >= 1",
                           arg=root.element_handle(), timeout=30_000)
    root.locator(".fw-cancel").click()
    page.wait_for_function("(r) => r.dataset.status === 'cancelled'", arg=root.element_handle(), timeout=30_000)
    done, total = _kernel_value(nb, "lv.progress")
    assert done < total and _kernel_value(nb, "lv.last_run.status") == "cancelled"


def test_live_corrrise_pair_with_the_real_explainer(lab):
    """Run button → facewidget.explain_pair (CorrRISE, dlib ResNet) → progressive maps → the decision."""
    book = lab.open_notebook("live_corrrise.ipynb", ["""import facewidget as fw
from facewidget.widgets import PairView
a, b = fw.data.sample("obama"), fw.data.sample("obama2")
fa, fb = fw.detect_face(a), fw.detect_face(b)
model = fw.load_model("dlib-resnet")
pv = PairView.from_photos(a, b, fa, fb, title="live-corrrise")
pv.set_computation(fw.explain_pair, a, b, model, method="corrrise", faces=(fa, fb), n=300, seed=0)
pv"""])
    try:
        book.run_cell(0, timeout=300)
        root = book.widget("live-corrrise")
        root.locator(".fw-run").click()
        seen = set()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status, updates = book.page.evaluate("(r) => [r.dataset.status, r.dataset.mapUpdates]", root.element_handle())
            if status == "running":
                seen.add(int(updates))
            if status and status != "running" and status != "idle":
                break
            time.sleep(0.1)
        assert root.get_attribute("data-status") == "done"
        assert len({s for s in seen if s > 0}) >= 2
        assert _kernel_value(book, "pv.decision") == "same"  # obama / obama2 is a genuine pair for dlib
        book.screenshot(root, "live-corrrise")
    finally:
        book.close()


def test_annotations_survive_rendering_the_view_again(nb):
    nb.kernel("ov.add_annotation(kind='polygon', points=[[400, 300], [500, 300], [450, 380]], label='second render')")
    nb.run_cell(len(CELLS) - 1)
    roots = nb.page.locator(".fw-root", has=nb.page.locator(".fw-title", has_text="overlay-view"))
    roots.nth(1).wait_for()
    nb.page.wait_for_function(
        "() => [...document.querySelectorAll('.fw-overlay')].filter(r => r.dataset.painted === 'true').length >= 3")
    labels = roots.nth(1).locator(".fw-ann-item-label").all_text_contents()
    assert "second render" in labels
    assert labels == roots.nth(0).locator(".fw-ann-item-label").all_text_contents()
    nb.screenshot(roots.nth(1), "overlay-view-rendered-again")
