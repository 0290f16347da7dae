"""Kernel side of the views: encoding, placement, decisions, live runs, annotations, static export."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

import facewidget as fw
from facewidget.widgets import CanonicalFaceView, OverlayView, PairView, show, view_for
from facewidget.widgets.annotations import AnnotationError
from facewidget.widgets.encode import decode_payload, map_payload
from tests.widget_data import (MOUTH, NOSE_TIP, canonical_test_regions, canonical_values, gaussian,
                               landmark_density, pair_explanation)


@pytest.fixture(scope="module")
def obama(sample_images, sample_faces):
    return sample_images["obama"], sample_faces["obama"][0]


@pytest.fixture(scope="module")
def pair(sample_images, sample_faces):
    return pair_explanation(sample_images["obama"], sample_faces["obama"][0],
                            sample_images["biden"], sample_faces["biden"][0])


def _peak_on_photo(payload) -> np.ndarray:
    """Photo position of a payload's maximum, through its affine."""
    values = decode_payload(payload)
    v, u = np.unravel_index(np.argmax(values), values.shape)
    a = np.asarray(payload["affine"]).reshape(2, 3)
    return a @ np.array([u, v, 1.0])


# --- wire format ------------------------------------------------------------------------------

def test_256_map_update_fits_in_140_kb_and_keeps_precision():
    rng = np.random.default_rng(0)
    m = (rng.standard_normal((256, 256)) * 1e-5).astype(np.float32)  # tiny gradient-like values
    p16 = map_payload(m, encoding="float16")
    p8 = map_payload(m, encoding="uint8")
    assert len(p16["data"]) == 256 * 256 * 2 <= 140_000
    assert len(p8["data"]) == 256 * 256
    assert np.abs(decode_payload(p16) - m).max() <= 1e-3 * np.abs(m).max()
    assert np.abs(decode_payload(p8) - m).max() <= (m.max() - m.min()) / 255
    assert p16["signed"] and p16["lo"] < 0


def test_large_maps_are_shrunk_and_stay_in_place():
    m = gaussian((1000, 800), (600.0, 300.0), 20.0)
    p = map_payload(m)
    assert max(p["shape"]) == 256
    assert np.allclose(_peak_on_photo(p), [600, 300], atol=2.5)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 2)), np.array([[np.nan, 1.0]]), np.zeros((0, 3))])
def test_bad_maps_are_named_errors(bad):
    with pytest.raises(fw.ShapeError):
        map_payload(bad)


# --- OverlayView ------------------------------------------------------------------------------

def test_overlay_places_a_photo_map_at_its_landmark(obama):
    img, face = obama
    nose = face.landmarks[NOSE_TIP, :2]
    m = gaussian(img.shape[:2], nose, 25.0)
    m[m < 1e-3] = 0  # a footprint, as warped chip maps have
    view = OverlayView(img, m)
    assert view.photo_size == [img.shape[1], img.shape[0]]
    x0, y0, x1, y1 = view.overlay_box
    assert x0 < nose[0] < x1 and y0 < nose[1] < y1
    assert (x1 - x0) < img.shape[1] / 2  # cropped to the support, not the whole photo
    assert np.allclose(_peak_on_photo(view.overlay), nose, atol=1.5)
    with pytest.raises(fw.ShapeError):
        view.set_map(np.ones((7, 9)))  # neither the photo's grid nor placed


def test_overlay_box_from_the_front_end_moves_the_static_picture(obama):
    img, face = obama
    nose = face.landmarks[NOSE_TIP, :2]
    m = gaussian(img.shape[:2], nose, 20.0)
    m[m < 1e-3] = 0
    view = OverlayView(img, m, opacity=1.0)
    before = view.render_png()
    assert np.abs(before[int(nose[1]), int(nose[0])].astype(int) - img[int(nose[1]), int(nose[0])]).sum() > 60
    box = list(view.overlay_box)
    dx = 200.0
    # what the comm delivers at the end of a drag
    view.set_state({"overlay_box": [box[0] + dx, box[1], box[2] + dx, box[3]]})
    after = view.render_png()
    moved = (int(nose[1]), int(nose[0] + dx))
    assert np.abs(after[moved].astype(int) - img[moved]).sum() > 60
    assert np.array_equal(after[int(nose[1]), int(nose[0])], img[int(nose[1]), int(nose[0])])


def test_overlay_of_an_explanation_uses_the_chip_transform(pair):
    view = show(pair.a, display=False)
    assert isinstance(view, OverlayView)
    assert set(view.map_names) == {"similar", "dissimilar"}
    assert np.allclose(_peak_on_photo(view.overlay), pair.a.face.landmarks[NOSE_TIP, :2], atol=3)
    view.map_name = "dissimilar"
    assert np.allclose(_peak_on_photo(view.overlay), pair.a.face.landmarks[MOUTH, :2], atol=3)


# --- PairView ---------------------------------------------------------------------------------

def test_pair_view_maps_decision_and_threshold(pair):
    view = view_for(pair)
    assert isinstance(view, PairView)
    assert view.higher_is_similar is False  # Euclidean distance
    assert view.info.startswith("test-gaussians-at-landmarks")
    assert view.decision == "same"
    view.threshold = 0.3
    assert view.decision == "different"
    lo, hi = view.threshold_range
    assert lo <= 0.3 and hi > 0.6
    for side, ef in (("a", pair.a), ("b", pair.b)):
        peak = _peak_on_photo(view.maps[side]["similar"])
        assert np.allclose(peak, ef.face.landmarks[NOSE_TIP, :2], atol=3)
    lm = np.frombuffer(view.landmarks_b, "<f4").reshape(-1, 3)
    assert np.allclose(lm, pair.b.face.landmarks[:, :3])
    assert len(view.triangles) == 898 * 3 * 2


def test_pair_view_static_picture_follows_arrangement(pair):
    view = PairView(pair)
    one = view.render_png()
    view.arrangement = "side"
    two = view.render_png()
    assert two.shape[1] > 1.8 * one.shape[1]
    view.arrangement, view.mode = "toggle", "difference"
    assert view.render_png().shape == one.shape


def test_pair_progress_keys(pair):
    from facewidget.widgets.pair import split_pair_maps

    m = np.ones((3, 3))
    assert set(split_pair_maps({"a/similar": m, "similar_b": m})["b"]) == {"similar"}
    assert set(split_pair_maps({"a": {"similar": m, "dissimilar": m}})["a"]) == {"similar", "dissimilar"}
    with pytest.raises(fw.ShapeError):
        split_pair_maps({"similar": m})


# --- live runs --------------------------------------------------------------------------------

class ComputationClock:
    """A clock the computation advances: ``step`` seconds per progress report, whatever the machine's
    speed (1/32 s is exact in binary, so the throttle's comparisons carry no rounding)."""

    def __init__(self, step: float = 1 / 32):
        self.step, self.reports = step, 0

    def __call__(self) -> float:
        return self.reports * self.step

    def ticking(self, fn):
        """``fn`` with every progress report one ``step`` later than the one before."""
        def run(*args, progress, cancel, **kwargs):
            def report(*a, **kw):
                self.reports += 1
                progress(*a, **kw)
            return fn(*args, progress=report, cancel=cancel, **kwargs)
        return run


def greedy_throttle(times, min_interval):
    """Indices of the reports a throttle of one update per ``min_interval`` forwards: the first, then
    each first report at least ``min_interval`` after the last one forwarded."""
    kept, last = [], None
    for i, t in enumerate(times):
        if last is None or t - last >= min_interval:
            kept.append(i)
            last = t
    return kept


def test_live_run_throttle_follows_the_clock_it_is_given():
    """LiveRun forwards one report per 0.1 s of its clock (here: 1/32 s per report, so every 4th)
    and flushes the newest skipped report at the end; a clock that moves 1 s per report lets every
    report through. No real time is involved, so the counts are exact on any machine."""
    from facewidget.widgets.live import LiveRun

    def count_to(n, *, progress, cancel):
        for k in range(1, n + 1):
            progress({"k": np.full((2, 2), float(k))}, k, n)
        return n

    cases = [(1 / 32, 50, list(range(1, 50, 4)) + [50]),  # 1, 5, ..., 49 forwarded; 50 flushed at the end
             (1 / 32, 49, list(range(1, 50, 4))),  # the last report was forwarded: nothing left to flush
             (1.0, 7, list(range(1, 8)))]  # a slow computation: every report is shown
    for step, n, expected in cases:
        clock = ComputationClock(step)
        shown = []
        run = LiveRun(clock.ticking(count_to), (n,), {}, lambda maps, d, t: shown.append(d), clock=clock,
                      min_interval=0.1).start()
        assert run.wait(30) == n and run.status == "done"
        assert shown == expected, (step, n)
        assert run.updates_received == n and run.updates_sent == len(expected)


def test_live_run_is_throttled_and_ends_with_the_last_maps(obama):
    img, face = obama
    x0, y0, x1, y1 = face.box
    s = max(x1 - x0, y1 - y0) / 200  # a 200x200 grid over the face box
    view = OverlayView(img, affine=[[s, 0, x0], [0, s, y0]])
    points = (face.landmarks[:, :2] - [x0, y0]) / s
    clock = ComputationClock()
    sent = []  # (points done, clock time) of every update the view received
    original = view._apply_progress
    dtypes = []
    view._apply_progress = lambda maps, d, t: (sent.append((d, clock())), original(maps, d, t),
                                               dtypes.append(view.overlay["dtype"]))
    run = view.run(clock.ticking(landmark_density), (200, 200), points, every=2, min_interval=0.1, clock=clock)
    result = run.wait(60)
    assert run.status == "done" and view.status == "done"
    reports = len(points) // 2
    assert run.updates_received == reports
    # on the computation's clock: no two updates closer than 0.1 s (but the final flush), none skipped
    # that the throttle could have sent, and the last computed maps shown
    times = [(k + 1) / 32 for k in range(reports)]
    expected = [2 * (i + 1) for i in greedy_throttle(times, 0.1)] + [len(points)]
    assert [d for d, _ in sent] == expected
    gaps = np.diff([t for _, t in sent[:-1]])
    assert (gaps >= 0.1).all() and run.updates_sent == len(expected) < reports
    assert set(dtypes) == {"uint8"} and view.overlay["dtype"] == "float16"  # previews 1 B/value, result 2 B
    shown = decode_payload(view.overlay)
    assert np.allclose(shown, result, rtol=2e-3, atol=2e-3 * result.max())
    assert view.progress == [len(points), len(points)]
    assert view.live_updates == run.updates_sent
    x, y = _peak_on_photo(view.overlay)
    assert x0 <= x <= x1 and y0 <= y <= y1


def test_live_run_cancel_and_errors(obama):
    img, face = obama
    view = OverlayView(img, affine=[[5, 0, 100], [0, 5, 100]])
    started = threading.Event()

    def slow(progress, cancel):
        for i in range(1000):
            started.set()
            if cancel.is_set():
                raise fw.CancelledError("stopped")
            progress({"m": np.full((20, 20), float(i))}, i, 1000)
            time.sleep(0.01)

    run = view.run(slow)
    started.wait(5)
    view._on_front_end_msg(view, {"type": "cancel"}, [])  # the Cancel button
    run._thread.join(5)
    assert run.status == "cancelled" and view.running is False
    assert run.updates_received < 1000

    def broken(progress, cancel):
        raise ValueError("bad input")

    run = view.run(broken)
    with pytest.raises(ValueError):
        run.wait(5)
    assert view.status.startswith("error: ValueError")


def test_progress_adapter_accepts_update_objects():
    from facewidget.widgets.live import normalise_update

    class Update:
        maps = {"x": np.zeros(2)}
        done, total = 3, 9

    assert normalise_update(Update())[1:] == (3, 9)
    assert normalise_update({"maps": {}, "count": 4, "total": 8})[1:] == (4, 8)
    assert normalise_update({"x": np.zeros(2)}, 1, 2)[1:] == (1, 2)


# --- annotations ------------------------------------------------------------------------------

XSS = "<img src=x onerror=alert(1)>"


def test_annotations_round_trip_json_and_pandas(obama):
    view = OverlayView(obama[0])
    view.add_annotation(kind="polygon", points=[[10, 10], [50, 12], [30, 40]], label=XSS, note="a\nb")
    view.add_annotation(kind="brush", points=[[5, 5], [6, 7]], radius=4, label="scar")
    text = view.to_json()
    other = OverlayView(obama[0])
    other.from_json(text)
    assert other.annotations == view.annotations
    assert other.annotations[0]["label"] == XSS
    df = view.to_pandas()
    assert list(df["label"]) == [XSS, "scar"] and list(df["kind"]) == ["polygon", "brush"]
    with pytest.raises(AnnotationError):
        view.from_json('{"annotations": [{"kind": "polygon", "points": [[0, 0]]}]}')
    with pytest.raises(AnnotationError):
        view.from_json("not json")
    with pytest.raises(AnnotationError):
        view.add_annotation(kind="circle", points=[[0, 0]])


def test_annotations_live_in_the_widget_state(obama):
    view = OverlayView(obama[0])
    view.set_state({"annotations": [{"id": "x1", "kind": "polygon", "target": "photo",
                                     "points": [[1, 2], [3, 4], [5, 1]], "label": "eye", "note": ""}]})
    state = view.get_state()
    assert state["annotations"][0]["label"] == "eye"
    restored = OverlayView(obama[0])
    restored.set_state({"annotations": state["annotations"]})
    assert restored.annotations == view.annotations


# --- canonical face ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def canonical_view():
    mesh = fw.canonical_face()
    values = canonical_values(mesh)
    regions = canonical_test_regions(mesh)
    scored = {n: (t, float(values[np.unique(mesh.triangles[t])].mean())) for n, t in regions.items()}
    return CanonicalFaceView(values, scored), mesh, values


def test_canonical_view_values_regions_and_selection(canonical_view):
    view, mesh, values = canonical_view
    assert np.allclose(decode_payload(view.values), values, atol=1e-3)
    assert "nose" in view.region_names and len(view.region_names) == 8
    covered = np.concatenate([view.region_triangles(n) for n in view.region_names])
    assert sorted(covered) == list(range(len(mesh.triangles)))
    view.selected_region = "mouth"
    with pytest.raises(fw.ShapeError):
        view.selected_region = "ear"
    with pytest.raises(fw.ShapeError):
        view.set_values(np.zeros(10))
    with pytest.raises(fw.ShapeError):
        CanonicalFaceView(values, {"x": ([5000], 1.0)})


def test_canonical_chart_is_linked_to_the_selection(canonical_view):
    view, _, _ = canonical_view
    chart = view.chart
    bar = chart.data[0]
    assert list(bar.y)[-1] == "nose"  # highest score (the values peak at the nose tip) on top
    k = list(bar.y).index("chin")
    # what plotly.js sends when the bar is clicked
    chart._js2py_pointsCallback = {"event_type": "plotly_click", "points": {
        "xs": [bar.x[k]], "ys": [bar.y[k]], "point_indexes": [k], "trace_indexes": [0]}}
    assert view.selected_region == "chin"
    assert bar.marker.line.width[k] == 3 and max(w for i, w in enumerate(bar.marker.line.width) if i != k) == 0


def test_canonical_static_picture_turns_with_the_view(canonical_view):
    view, _, _ = canonical_view
    view.yaw, view.pitch = 0.0, 0.0
    front = view.render_png()
    view.set_state({"yaw": 40.0})
    turned = view.render_png()
    assert front.shape == turned.shape == (400, 360, 3)
    assert np.abs(front.astype(int) - turned).mean() > 5
    view.yaw = 0.0


def test_show_dispatches_on_type(sample_images, canonical_view):
    _, mesh, values = canonical_view

    class CanonicalMapLike:
        def __init__(self):
            self.vertex_values = values

        def region_scores(self):
            return {}

    assert isinstance(view_for(sample_images["obama"]), OverlayView)
    assert isinstance(view_for(values), CanonicalFaceView)
    assert isinstance(view_for(CanonicalMapLike()), CanonicalFaceView)
    with pytest.raises(fw.UnsupportedOperationError):
        view_for("obama.jpg")


# --- static export ----------------------------------------------------------------------------

def test_mime_bundle_carries_a_png_of_the_state(obama):
    img, face = obama
    m = gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 20.0)
    view = OverlayView(img, m, opacity=0.8)
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).convert("RGB"))
    assert png.shape == img.shape
    assert np.array_equal(png, view.render_png())
    assert not np.array_equal(png, img)


def test_front_end_missing_is_a_named_error(monkeypatch, tmp_path):
    from facewidget.widgets import base

    monkeypatch.setattr(base, "_ESM", tmp_path / "widget.js")
    with pytest.raises(base.FrontEndMissingError, match="npm run build"):
        OverlayView()


def test_annotation_json_is_versioned(obama):
    view = OverlayView(obama[0])
    view.add_annotation(kind="mesh", regions=["nose"], triangles=[1, 2], label="n")
    data = json.loads(view.to_json())
    assert data["version"] == 1 and data["annotations"][0]["target"] == "canonical"


def test_pair_live_run_places_chip_maps_and_ends_with_the_explanation(sample_images, sample_faces):
    from facewidget import DLIB_5
    from tests.widget_data import to_chip

    img_a, img_b = sample_images["obama"], sample_images["biden"]
    face_a, face_b = sample_faces["obama"][0], sample_faces["biden"][0]
    view = PairView.from_photos(img_a, img_b, face_a, face_b)
    final = pair_explanation(img_a, face_a, img_b, face_b)

    class ModelLike:  # run() takes the chip geometry from the model's alignment template
        class config:
            @staticmethod
            def alignment_template():
                return DLIB_5

    def sharpening(a, b, model, progress, cancel, steps=5):
        """Chip-space bumps at each face's nose tip that sharpen step by step."""
        for k in range(1, steps + 1):
            maps = {}
            for side, ef in (("a", final.a), ("b", final.b)):
                centre = to_chip(ef.transform, ef.face.landmarks[NOSE_TIP])
                maps[f"{side}/similar"] = gaussian((150, 150), centre, 40.0 / k)
            progress(maps, k, steps)
            time.sleep(0.12)
        return final

    run = view.run(sharpening, img_a, img_b, ModelLike())
    assert run.wait(30) is final
    assert view.live_updates >= 2 and view.progress == [5, 5]
    assert view.explanation is final and view.decision == "same"
    for side, face in (("a", face_a), ("b", face_b)):
        assert np.allclose(_peak_on_photo(view.maps[side]["similar"]), face.landmarks[NOSE_TIP, :2], atol=3)


def test_signed_single_face_explanation_is_diverging(sample_images, sample_faces):
    from facewidget.explainers import Explanation
    from tests.widget_data import explained_face

    ef = explained_face(sample_images["obama"], sample_faces["obama"][0], {"saliency": (NOSE_TIP, 1.0)})
    ef.maps["saliency"] = ef.maps["saliency"] - 0.5 * explained_face(
        sample_images["obama"], sample_faces["obama"][0], {"m": (MOUTH, 1.0)}).maps["m"]
    view = show(Explanation(face=ef, target={"kind": "class", "index": 0}, value=1.0), display=False)
    assert view.overlay["signed"] and view.scale == "auto"
    assert view.view_box and view.view_box[2] - view.view_box[0] < sample_images["obama"].shape[1]
    png = view.render_png()
    assert png.shape[0] < sample_images["obama"].shape[0]  # the static picture shows the zoomed face


def test_canonical_panel_output_carries_the_face_picture(canonical_view):
    view, _, _ = canonical_view
    bundle = view.panel()._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))))
    assert png.shape[:2] == (400, 360)


def test_lazy_update_maps_are_read_only_when_pushed(obama):
    view = OverlayView(obama[0], affine=[[2, 0, 0], [0, 2, 0]])
    reads = []

    class LazyUpdate:  # like facewidget.explainers' ProgressUpdate: maps computed on access
        def __init__(self, k):
            self.done, self.total, self._k = k, 200, k

        @property
        def maps(self):
            reads.append(self._k)
            return {"m": np.full((8, 8), float(self._k))}

    def fast(progress, cancel):
        for k in range(1, 201):
            progress(LazyUpdate(k))

    clock = ComputationClock()  # 1/32 s per update: the throttle passes every 4th
    run = view.run(clock.ticking(fast), clock=clock)
    run.wait(30)
    assert run.updates_received == 200
    assert reads == list(range(1, 201, 4)) + [200]  # the forwarded updates and the final one, nothing else
    assert len(reads) == run.updates_sent
    assert decode_payload(view.overlay).max() == 200


def test_cancelled_run_shows_the_partial_result(pair):
    view = PairView(pair)

    class Cancelled(fw.CancelledError):
        def __init__(self, partial):
            super().__init__("cancelled")
            self.partial = partial

    partial = pair_explanation(pair.a.image, pair.a.face, pair.b.image, pair.b.face, score=0.8)

    def stops(progress, cancel):
        raise Cancelled(partial)

    run = view.run(stops)
    run._thread.join(10)
    assert run.status == "cancelled" and view.explanation is partial and view.decision == "different"


def test_pair_without_threshold_has_no_decision(pair):
    from facewidget.explainers import PairExplanation

    no_thr = PairExplanation(a=pair.a, b=pair.b, score=0.42, same=None, threshold=None, manifest={})
    view = PairView(no_thr)
    assert view.threshold is None and view.decision == ""
    state = view.get_state(["score", "threshold"])
    assert json.dumps(state, allow_nan=False)  # valid JSON on the wire


def test_canonical_view_of_a_canonical_map_with_unseen_vertices(canonical_view):
    _, mesh, values = canonical_view
    regions = canonical_test_regions(mesh)

    class Region:
        def __init__(self, tris):
            self.triangles = tris

    class CanonicalMapLike:  # the shape of facewidget.canonical.CanonicalMap
        def __init__(self):
            self.vertex_values = values.copy()
            self.vertex_values[mesh.vertices[:, 0] > 3] = np.nan  # the photo did not show this side

        def regions(self):
            return {n: Region(t) for n, t in regions.items()}

        def region_scores(self):
            return [{"region": n, "share": 1.0 / len(regions), "mean": 0.5, "rank": 1} for n in regions]

    view = show(CanonicalMapLike(), display=False)
    assert isinstance(view, CanonicalFaceView)
    decoded = decode_payload(view.values)
    assert np.isnan(decoded).sum() == (mesh.vertices[:, 0] > 3).sum()
    assert view.values["hi"] == pytest.approx(float(np.nanmax(values)), rel=1e-3)
    assert {r["name"] for r in view.regions} == set(regions)
    assert all(r["score"] == pytest.approx(1 / 8) for r in view.regions)
    png = view.render_png()
    grey = (png[..., 0] == png[..., 1]) & (png[..., 1] == png[..., 2]) & (png[..., 0] < 250)
    assert grey[:, 180:].sum() > 2000 and grey[:, :150].sum() < 200  # unseen (image-right) side is grey


def test_front_end_has_no_html_sinks():
    """User strings reach the DOM as text only: the front end never parses HTML."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "js" / "src"
    offenders = [f"{p.name}:{i}" for p in src.glob("*.js") for i, line in enumerate(p.read_text().splitlines(), 1)
                 if any(s in line for s in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                                            "DOMParser", "createContextualFragment"))
                 and not line.lstrip().startswith("//")]
    assert offenders == []


def test_torch_maps_are_accepted():
    import torch

    m = torch.linspace(-1, 1, 64).reshape(8, 8)
    assert np.allclose(decode_payload(map_payload(m)), m.numpy(), atol=1e-3)
