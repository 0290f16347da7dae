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
