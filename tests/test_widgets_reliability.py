"""A live n="auto" run shows its split-half reliability as it climbs (issue 12, item 2)."""

from __future__ import annotations

import pytest

import facewidget as fw
from facewidget.evaluate.synthetic import synthetic_model
from facewidget.widgets import PairView
from facewidget.widgets.live import update_info

from .explain_helpers import photometric_copy


def test_update_info_reads_reliability_from_an_update_object_or_keywords():
    from facewidget.explainers.engine import ProgressUpdate

    assert update_info(ProgressUpdate(8, 64, 0.1, None, reliability=0.42)) == {"reliability": 0.42}
    assert update_info(ProgressUpdate(8, 64, 0.1, None)) == {}
    assert update_info({"a": 1}, 1, 2) == {}
    assert update_info(maps={}, done=1, total=2, reliability=0.5) == {"reliability": 0.5}


def test_a_live_auto_run_shows_the_reliability_it_reached(sample_images, sample_faces):
    img = sample_images["obama"]
    face = sample_faces["obama"][0]
    model = synthetic_model("grid", size=48)
    view = PairView.from_photos(img, img, face, face)
    seen = []
    view.observe(lambda change: seen.append(change["new"]), names="reliability")
    run = view.run(fw.explain_pair, img, photometric_copy(img), model, faces=(face, face), n_max=640,
                   progress_interval=0.0, min_interval=0.0)
    result = run.wait(300)
    assert run.status == "done"
    shown = [r for r in seen if r is not None]
    assert shown, "the view never showed a reliability"
    # the last value shown is the one the run stopped on, recorded in the manifest
    assert view.reliability == pytest.approx(result.manifest["reliability"], abs=1e-6)
    # a run without n="auto" clears it
    run = view.run(fw.explain_pair, img, photometric_copy(img), model, faces=(face, face), n=64, min_interval=0.0)
    run.wait(300)
    assert view.reliability is None
