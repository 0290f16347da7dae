"""Average Drop %, % increase in confidence, Win %: on hand numbers and on maps with known merit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facewidget.canonical.evaluate import (ClassProbability, average_drop, evaluate_maps, increase_in_confidence,
                                           normalise_mass, win_percent)
from facewidget.errors import ShapeError

from .canonical_models import mouth_model


def test_metrics_on_hand_numbers():
    assert average_drop([1.0, 2.0], [0.5, 3.0]) == pytest.approx(25.0)
    assert increase_in_confidence([1.0, 2.0], [0.5, 3.0]) == pytest.approx(50.0)
    assert win_percent({"a": [1.0, 2.0], "b": [1.0, 3.0]}) == {"a": 75.0, "b": 25.0}
    with pytest.raises(ShapeError, match="positive"):
        average_drop([-1.0], [0.0])
    with pytest.raises(ShapeError):
        average_drop([1.0, 2.0], [1.0])


def test_normalise_mass_gives_every_map_the_same_mass():
    rng = np.random.default_rng(0)
    maps = np.stack([rng.random((40, 40)), np.zeros((40, 40)), np.pad(np.ones((10, 10)), 15)])
    maps[0, 0, 0] = np.nan
    out = normalise_mass(maps, 0.05)
    assert out.min() >= 0 and out.max() <= 1
    assert out[0].mean() == pytest.approx(0.05, abs=1e-4) and out[2].mean() == pytest.approx(0.05, abs=1e-4)
    assert out[1].sum() == 0
    # a map smaller than the mass saturates at 1 on its support
    small = normalise_mass(np.pad(np.ones((2, 2)), 19), 0.2)
    assert small.sum() == pytest.approx(4.0)


def test_the_map_on_what_the_model_reads_beats_others(sample_images, sample_faces):
    img, face = sample_images["obama"], sample_faces["obama"][0]
    model = mouth_model(face, img)
    names = ["obama", "obama2", "obama3", "biden"]
    chips = torch.cat([model.align(sample_images[n], [sample_faces[n][0]]).chips for n in names])
    window = model.network.weight.cpu().numpy() > 0
    b = len(names)
    rng = np.random.default_rng(0)
    forehead = np.zeros((150, 150))
    forehead[:30] = 1
    maps = {"mouth": np.repeat(window[None].astype(float), b, 0), "forehead": np.repeat(forehead[None], b, 0),
            "random": rng.random((b, 150, 150))}
    recs = {r["method"]: r for r in evaluate_maps(model, ClassProbability(0), chips, maps)}
    assert recs["mouth"]["average_drop"] > recs["random"]["average_drop"] > recs["forehead"]["average_drop"]
    assert recs["forehead"]["average_drop"] == pytest.approx(0.0, abs=1e-6)
    assert recs["mouth"]["win"] == 100.0
    assert recs["mouth"]["increase_in_confidence"] == 0.0
    with pytest.raises(ShapeError):
        evaluate_maps(model, ClassProbability(0), chips, {"bad": np.zeros((b, 10, 10))})


def test_a_canonical_map_translated_to_each_chip_is_evaluated_like_any_map(sample_images, sample_faces):
    """One CIS map on the canonical face, translated onto other people's chips, still points at
    what the model reads (the paper's "translate back" + evaluation)."""
    from facewidget.canonical import canonical_image_saliency, chip_map_from_canonical

    img, face = sample_images["obama"], sample_faces["obama"][0]
    model = mouth_model(face, img)
    cis = canonical_image_saliency(img, model, None, face, resolution=96)
    names = ["obama2", "biden"]
    aligned = [model.align(sample_images[n], [sample_faces[n][0]]) for n in names]
    chips = torch.cat([a.chips for a in aligned])
    cis_maps = np.stack([chip_map_from_canonical(cis, sample_faces[n][0], a.transforms[0].numpy(), (150, 150))
                         for n, a in zip(names, aligned)])
    assert cis_maps.shape == (2, 150, 150) and np.isfinite(cis_maps).all()
    forehead = np.zeros((2, 150, 150))
    forehead[:, :30] = 1
    recs = {r["method"]: r for r in evaluate_maps(model, ClassProbability(0), chips,
                                                  {"cis": cis_maps, "forehead": forehead})}
    assert recs["cis"]["average_drop"] > recs["forehead"]["average_drop"] + 1.0
    assert recs["cis"]["win"] == 100.0
