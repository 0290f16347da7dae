"""Static export: a notebook executed without a browser keeps a picture of each view's state."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


CELLS = [
    """import numpy as np, facewidget as fw
from facewidget.widgets import OverlayView
from tests.widget_data import gaussian, NOSE_TIP
img = fw.data.sample("obama"); face = fw.detect_face(img)
m = gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 30.0)""",
    "v = OverlayView(img, m, opacity=0.9, title='static')\nv",
    "v.opacity = 0.0\nv.refresh_static()",
    "v.add_annotation(kind='polygon', points=[[1, 1], [40, 1], [20, 30]], label='saved label')",
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    import nbformat

    from .notebook_run import execute_cells

    nb = execute_cells(CELLS)
    path = tmp_path_factory.mktemp("nb") / "static.ipynb"
    nbformat.write(nb, path)
    return nb, path


def _png(output) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(output["data"]["image/png"]))).convert("RGB"))


def test_saved_output_has_the_widget_and_a_png_of_the_last_state(executed, sample_images):
    nb, path = executed
    outputs = [o for o in nb.cells[1].outputs if o.get("output_type") == "display_data"]
    assert len(outputs) == 1
    out = outputs[0]
    assert "application/vnd.jupyter.widget-view+json" in out["data"]
    png = _png(out)
    photo = sample_images["obama"]
    assert png.shape == photo.shape
    # cell 3 made the overlay transparent and refreshed the picture: the saved output shows that
    # last state, i.e. the photo itself (the overlay of cell 2 is gone)
    assert np.array_equal(png, photo)
    # and the widget state is embedded too (nbclient stores it, as Lab does on save)
    saved = json.loads(Path(path).read_text())
    state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    views = [m["state"] for m in state.values() if m["state"].get("_view") == "overlay"]
    assert views and views[0]["annotations"][0]["label"] == "saved label"  # annotations are saved


def test_html_export_shows_the_picture(executed):
    from nbconvert import HTMLExporter

    nb, _ = executed
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "data:image/png;base64," in html
