"""A canonical model map (CMS) run live on the CanonicalFaceView in JupyterLab: the mean map is
repainted as partitions merge, and the view's Cancel button stops the run (issue 11)."""

from __future__ import annotations

import ast
import time

import pytest

pytestmark = pytest.mark.browser

CELLS = [
    """import time
import numpy as np, facewidget as fw
from facewidget.widgets import CanonicalFaceView
from facewidget.canonical import model_map
photos = [fw.data.sample(n) for n in ("obama", "obama2", "biden", "astronaut")]
items = [(p, fw.detect_face(p)) for p in photos] * 10

def slow_luminance(image, face, model, target):
    time.sleep(0.3)  # a map that takes a moment, so that a person (and this test) can watch it build
    return image.astype(np.float32).mean(2) / 255.0

cms = CanonicalFaceView(title="live-cms")
cms.set_computation(model_map, items, None, method=slow_luminance, resolution=32, partition_size=2)
cms""",
]


def _kernel_value(nb, expr):
    return ast.literal_eval(nb.kernel(f"print(repr({expr}))").strip())


def test_a_live_cms_repaints_as_partitions_merge_and_cancel_stops_it(lab):
    nb = lab.open_notebook("live_cms.ipynb", CELLS)
    try:
        nb.run_cell(0)
        root = nb.widget("live-cms")
        page = nb.page
        root.locator(".fw-run").click()
        page.wait_for_function("(r) => r.dataset.status === 'running' && Number(r.dataset.liveUpdates) >= 1",
                               arg=root.element_handle(), timeout=60_000)
        first = page.evaluate("(r) => [Number(r.dataset.liveUpdates), Number(r.dataset.paints)]", root.element_handle())
        page.wait_for_function("([r, n]) => r.dataset.status === 'running' && Number(r.dataset.liveUpdates) > n",
                               arg=[root.element_handle(), first[0]], timeout=60_000)
        # a later mean map reached the page while the run went on, and the face was repainted with it
        assert int(root.get_attribute("data-paints")) > first[1]
        nb.screenshot(root, "live-cms-running")
        root.locator(".fw-cancel").click()
        page.wait_for_function("(r) => r.dataset.status === 'cancelled'", arg=root.element_handle(), timeout=30_000)
        done, total = _kernel_value(nb, "cms.progress")
        assert 0 < done < total == 40
        # the partial result is the view's content, marked cancelled, with the images merged so far
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _kernel_value(nb, "cms.last_run.status") != "cancelled":
            time.sleep(0.1)
        meta = _kernel_value(nb, "{k: cms.last_run.result.metadata[k] for k in ('cancelled', 'n_images')}")
        assert meta["cancelled"] is True and 0 < meta["n_images"] < 40
        nb.screenshot(root, "live-cms-cancelled")
    finally:
        nb.close()
