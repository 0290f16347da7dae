"""QualityView shows what the analysis computed and follows the dropdowns."""

from __future__ import annotations

import numpy as np
import pytest

import facewidget as fw
from facewidget.quality import DegradationGenerator, analyze


@pytest.fixture(scope="module")
def small_analysis(sample_images, sample_faces):
    names = ["obama", "biden", "astronaut"]
    items = DegradationGenerator(seed=0, kinds=["blur"], severity=1.0).build(
        {n: sample_images[n] for n in names}, {n: sample_faces[n][0] for n in names})
    return analyze(items, fiqa=["sharpness", "dynamic-range"], model=fw.load_model("dlib-resnet", device="cpu"),
                   quantile=1 / 3, batch_size=6, maps="gradcam")


def test_quality_view_follows_the_dropdowns(small_analysis):
    from facewidget.widgets.quality import QualityView

    view = QualityView(small_analysis)
    res = small_analysis.chip["sharpness"]
    np.testing.assert_allclose(view.histogram.data[0].x, res.scores)
    xs = sorted(s["x0"] for s in view.histogram.layout.shapes)
    assert xs == sorted([res.high.threshold, res.low.threshold])
    np.testing.assert_allclose(np.asarray(view.maps.data[3].z), res.low.std / res.low.std.max())
    view.method.value = "dynamic-range"
    np.testing.assert_allclose(view.histogram.data[0].x, small_analysis.chip["dynamic-range"].scores)
    view.image.value = 1
    np.testing.assert_allclose(np.asarray(view.deviation.data[1].z), small_analysis.deviation(1, "dynamic-range"),
                               atol=1e-5)  # Grad-CAM's CPU backward varies by ~1e-9 run to run
    assert np.asarray(view.deviation.data[0].z).shape == (150, 150, 3)
    assert "obama/blur/0" in view.deviation.layout.title.text


@pytest.fixture(scope="module")
def degraded_items(sample_images, sample_faces):
    names = ["obama", "biden", "astronaut"]
    return DegradationGenerator(seed=0, kinds=["blur", "noise"], severity=1.0).build(
        {n: sample_images[n] for n in names}, {n: sample_faces[n][0] for n in names})


def test_quality_view_runs_analyze_live_and_ends_with_its_result(degraded_items):
    from facewidget.widgets.quality import QualityView

    model = fw.load_model("dlib-resnet", device="cpu")
    view = QualityView()
    shown = []
    original = view._show_maps
    view._show_maps = lambda panels: (shown.append([None if z is None else np.array(z) for z in panels]),
                                      original(panels))
    run = view.run(analyze, degraded_items, fiqa=["sharpness"], model=model, quantile=1 / 3, maps="gradcam",
                   partition_size=1, min_interval=0.0)
    result = run.wait(600)
    assert run.status == "done", run.status
    # the maps refreshed while partitions merged (several progressive updates), then the result showed
    assert view.live_updates >= 2
    assert view.analysis is result and view.method.value == "sharpness"
    final = result.chip["sharpness"]
    np.testing.assert_allclose(np.asarray(view.maps.data[0].z), final.high.mean / final.high.mean.max())
    # the last live update carried the same statistics as the result
    np.testing.assert_allclose(shown[-2][0], final.high.mean, rtol=1e-5, atol=1e-7)


def test_quality_view_cancel_stops_the_analysis_and_shows_the_partial_result(degraded_items):
    import threading

    from facewidget.widgets.quality import QualityView

    model = fw.load_model("dlib-resnet", device="cpu")
    view = QualityView()
    first_map_update = threading.Event()

    def analyze_then_wait(*args, progress, cancel, **kwargs):
        def report(update):
            progress(update)
            # one image short of the end, both sets have maps: hold the run until Cancel is pressed
            if update.phase == "maps" and update.done == update.total - 1:
                first_map_update.set()
                cancel.wait(60)
        return analyze(*args, progress=report, cancel=cancel, **kwargs)

    run = view.run(analyze_then_wait, degraded_items, fiqa=["sharpness"], model=model, quantile=0.5,
                   maps="gradcam", partition_size=1, min_interval=0.0)
    assert first_map_update.wait(300)
    view.cancel_button.click()
    result = run.wait(300)
    assert run.status == "cancelled"
    assert result.manifest["cancelled"] is True
    maps_run = result.manifest["runs"]["maps"]
    assert maps_run["done_items"] < maps_run["n_items"]  # stopped before the last image was mapped
    assert view.analysis is result
    assert view.cancel_button.disabled
