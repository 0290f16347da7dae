"""facewidget.export_html without a browser: the packed state round-trips, photos are stored once,
bad input gets named errors (the page itself is tested in Chromium: tests/browser/test_export.py)."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

import facewidget as fw
from facewidget.errors import FacewidgetError, ParameterError
from facewidget.widgets.export import (PACKED_STATE_MIME, VIEW_MIME, ExportError, pack_state, unpack_state)


def _png(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def photo():
    return fw.data.sample("obama")


def _state(photo_b64: str, esm: str) -> dict:
    model = lambda extra: {"model_name": "AnyModel", "model_module": "anywidget", "model_module_version": "~0.11.*",  # noqa: E731
                           "state": {"_esm": esm, "title": "t", **extra},
                           "buffers": [{"path": ["photo"], "encoding": "base64", "data": photo_b64},
                                       {"path": ["maps", "a", "data"], "encoding": "base64",
                                        "data": base64.b64encode(np.arange(6, dtype=np.float16).tobytes()).decode()}]}
    return {"version_major": 2, "version_minor": 0, "state": {"m1": model({"k": 1}), "m2": model({"k": 2})}}


def test_packed_state_round_trips_and_stores_shared_parts_once(photo):
    esm = "export default {render(){}};" * 100
    state = _state(_png(photo), esm)
    lossless = pack_state(state, photo_quality=None)
    assert unpack_state(lossless) == state  # exact, buffers included
    raw_png = len(base64.b64decode(state["state"]["m1"]["buffers"][0]["data"]))
    # two views of one photo and one front-end source: each stored once
    assert len(base64.b64decode(lossless)) < 1.2 * raw_png
    small = pack_state(state, photo_quality=90)
    back = unpack_state(small)
    jpeg = base64.b64decode(back["state"]["m1"]["buffers"][0]["data"])
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) < raw_png  # the photo became a smaller JPEG...
    decoded = np.asarray(Image.open(io.BytesIO(jpeg)))
    assert decoded.shape == photo.shape and np.abs(decoded.astype(int) - photo).mean() < 4  # ...of the same photo
    assert back["state"]["m2"]["buffers"][1] == state["state"]["m2"]["buffers"][1]  # maps stay exact
    assert back["state"]["m2"]["state"] == state["state"]["m2"]["state"]


def test_a_transparent_png_stays_png():
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., 0] = np.arange(200)[:, None]
    rgba[..., 3] = 128
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    data = base64.b64encode(buf.getvalue() + b"\0" * 40_000).decode()  # large enough to be considered
    state = {"version_major": 2, "version_minor": 0, "state": {"m": {
        "model_name": "AnyModel", "model_module": "anywidget", "model_module_version": "x", "state": {},
        "buffers": [{"path": ["photo"], "encoding": "base64", "data": data}]}}}
    assert unpack_state(pack_state(state, 90)) == state


def test_views_page_is_self_contained(photo, tmp_path):
    from facewidget.widgets import OverlayView

    views = [OverlayView(photo, title="a"), OverlayView(photo, title="b")]
    page = fw.export_html(views, tmp_path / "v.html", title="<two> views").read_text()
    assert page.count(f'<script type="{VIEW_MIME}">') == 2
    assert "&lt;two&gt; views" in page and "<two>" not in page  # the title is text
    assert not re.search(r'<(script|img|link)[^>]+(src|href)="(https?:)?//', page)
    packed = re.search(rf'<script type="{re.escape(PACKED_STATE_MIME)}">([^<]+)</script>', page).group(1)
    ids = set(unpack_state(packed)["state"])
    assert {v.model_id for v in views} <= ids
    for tag in re.findall(rf'<script type="{re.escape(VIEW_MIME)}">([^<]+)</script>', page):
        assert json.loads(tag)["model_id"] in ids


def test_bad_sources_get_named_errors(tmp_path, photo):
    from facewidget.widgets import OverlayView

    with pytest.raises(ParameterError):
        fw.export_html(42, tmp_path / "x.html")
    with pytest.raises(ParameterError):
        fw.export_html([], tmp_path / "x.html")
    with pytest.raises(ParameterError):
        fw.export_html(tmp_path / "missing.ipynb", tmp_path / "x.html")
    with pytest.raises(ParameterError):
        fw.export_html(tmp_path / "notes.txt", tmp_path / "x.html")
    with pytest.raises(ParameterError):
        fw.export_html(OverlayView(photo), tmp_path / "x.html", photo_quality=0)
    closed = OverlayView(photo)
    closed.close()
    with pytest.raises(ExportError):
        fw.export_html(closed, tmp_path / "x.html")
    # a notebook that shows a widget but saved no widget state cannot come back to life
    nb = {"cells": [{"cell_type": "code", "execution_count": 1, "id": "c0", "metadata": {}, "source": "v",
                     "outputs": [{"output_type": "display_data", "metadata": {},
                                  "data": {VIEW_MIME: {"version_major": 2, "version_minor": 0, "model_id": "x"},
                                           "text/plain": "v"}}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nostate.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(ExportError) as err:
        fw.export_html(path, tmp_path / "x.html")
    assert isinstance(err.value, FacewidgetError) and "widget state" in str(err.value)
