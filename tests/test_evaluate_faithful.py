"""Faithful evaluation: ties broken by the seed (not by position), ROAD imputation, faithfulness
correlation and the model-parameter-randomisation test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from facewidget.errors import ParameterError
from facewidget.evaluate.curves import PixelOrder, perturb, road_impute, single_curve
from facewidget.models import FaceModel
from .explain_helpers import one_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


def rotation_invariant_model(size: int = 48) -> FaceModel:
    """Per-pixel features (1×1 convs) averaged over the chip: rotating the chip leaves the output as is."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 1), nn.Tanh(), nn.Conv2d(16, 16, 1), nn.Tanh(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(16, 16))
    return FaceModel.from_module(net, dict(name="rotation-invariant", input_size=(size, size), embedding_size=16),
                                 device="cpu")


def _chip_and_tied_map(size: int = 48):
    g = torch.Generator().manual_seed(4)
    ys = torch.linspace(0, 1, size)[:, None].expand(size, size)
    chip = torch.stack([ys, 1 - ys, 0.5 + 0.4 * torch.sin(6 * ys)]) * 0.8 + 0.2 * torch.rand(3, size, size, generator=g)
    m = torch.zeros(size, size)
    m[size // 3: 2 * size // 3, size // 3: 2 * size // 3] = torch.rand(size // 3, size // 3, generator=g) + 0.1
    return chip[None], m[None]  # about 8/9 of the map is exactly 0 (tied)


def _curve(model, chip, m):
    with torch.no_grad():
        ref = model.embed(chip)[0]
    target = lambda out: model.similarity(out, ref[None])  # noqa: E731
    return single_curve(model, chip, m, target, mode="deletion", steps=12, seed=0).value


def test_deletion_curve_of_a_tied_map_does_not_depend_on_position():
    model = rotation_invariant_model()
    chip, m = _chip_and_tied_map()
    rot = lambda x: torch.rot90(x, 1, dims=(-2, -1))  # noqa: E731
    assert torch.allclose(model.embed(rot(chip)), model.embed(chip), atol=1e-5)  # the model cannot see rotation
    straight, rotated = _curve(model, chip, m), _curve(model, rot(chip), rot(m))
    # ties broken by raster position (the old behaviour): the tail of the curve measures row order
    raster = m + (m == 0) * torch.linspace(1e-6, 0, m.numel()).reshape(m.shape)
    raster_rot = rot(m) + (rot(m) == 0) * torch.linspace(1e-6, 0, m.numel()).reshape(m.shape)
    by_raster, by_raster_rot = _curve(model, chip, raster), _curve(model, rot(chip), raster_rot)
    positional = np.abs(by_raster - by_raster_rot).max()
    assert positional > 0.01, positional  # the check can fail: raster order does show
    assert np.abs(straight - rotated).max() < 0.3 * positional, (np.abs(straight - rotated).max(), positional)


def test_ties_are_broken_by_the_seed_and_values_still_rank_first():
    m = torch.zeros(1, 10, 10)
    m[0, 9, 9] = 1.0
    a, b, c = PixelOrder(m, seed=0), PixelOrder(m, seed=0), PixelOrder(m, seed=1)
    assert torch.equal(a.rank, b.rank) and not torch.equal(a.rank, c.rank)
    assert a.rank[0, 99] == 0  # the one positive pixel comes first
    first_half = a.top(0.5)[0].reshape(-1).numpy()
    assert first_half[:50].sum() not in (0, 50)  # not the top rows


def test_road_imputation_is_the_neighbour_mean_and_reproduces_linear_ramps():
    size = 20
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    chip = torch.stack([ys / size, xs / size, (ys + 2 * xs) / (3 * size)])[None]
    removed = torch.zeros(1, size, size)
    removed[0, 5:15, 4:12] = 1
    out = road_impute(chip, removed, noise=0.0)
    assert torch.allclose(out, chip, atol=1e-6)  # a linear function is its own neighbour mean
    noisy = road_impute(chip, removed, noise=0.01, seed=3)
    kept = removed[0] == 0
    assert torch.equal(noisy[0][:, kept], chip[0][:, kept])
    assert 0.005 < float((noisy - chip)[0][:, ~kept].std()) < 0.02
    # a removed pixel with known neighbours only is their weighted mean
    rnd = torch.rand(1, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    one = torch.zeros(1, 5, 5)
    one[0, 2, 2] = 1
    w = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]])
    expected = (rnd[0, :, 1:4, 1:4] * w).sum((1, 2)) / w.sum()
    assert torch.allclose(road_impute(rnd, one, noise=0.0)[0, :, 2, 2], expected, atol=1e-6)


def test_road_fill_in_curves():
    model = rotation_invariant_model()
    chip, m = _chip_and_tied_map()
    order = PixelOrder(m)
    deleted = perturb(chip, order, 0.3, "deletion", "road")
    inserted = perturb(chip, order, 0.3, "insertion", "road")
    top = order.top(0.3)[0].bool()
    assert torch.equal(deleted[0][:, ~top], chip[0][:, ~top]) and torch.equal(inserted[0][:, top], chip[0][:, top])
    with torch.no_grad():
        ref = model.embed(chip)[0]
    curve = single_curve(model, chip, m, lambda out: model.similarity(out, ref[None]), steps=4, base="road")
    assert curve.value[0] == pytest.approx(float(model.similarity(model.embed(chip), ref[None])[0]), abs=1e-5)
    with pytest.raises(ParameterError):
        single_curve(model, chip, m, lambda out: out[:, 0], steps=4, base="noise")


def linear_model(size: int = 16) -> FaceModel:
    """f(x) = Σ W·x: the exact attribution of pixel u against a black baseline is Σ_c W_cu·x_cu."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 1, bias=False))
    config = dict(name="linear", task="classification", classes=("score",), input_size=(size, size),
                  mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return FaceModel.from_module(net, config, device="cpu")


def test_faithfulness_correlation_is_one_for_the_exact_attribution_and_near_zero_for_noise():
    from facewidget.evaluate.faithfulness import faithfulness_correlation

    size = 16
    model = linear_model(size)
    chips = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    w = model.network[1].weight.detach().reshape(3, size, size)
    x = model.preprocess(chips)
    exact = (w[None] * x).sum(1)  # (B, h, w)
    target = lambda out: out[:, 0]  # noqa: E731
    mu = faithfulness_correlation(model, chips, exact, target, subset=20, runs=60)
    assert np.allclose(mu, 1.0, atol=1e-6)
    noise = torch.rand(2, size, size, generator=torch.Generator().manual_seed(3))
    assert np.all(np.abs(faithfulness_correlation(model, chips, noise, target, subset=20, runs=60)) < 0.4)
    flipped = faithfulness_correlation(model, chips, -exact, target, subset=20, runs=60)
    assert np.allclose(flipped, -1.0, atol=1e-6)
    # subsets passed as masks (what the quantus adapter replays) give the values of the seeded draws
    g = torch.Generator().manual_seed(0)
    removed = torch.zeros(2, 60, 1, size * size)
    for i in range(2):
        for r in range(60):
            removed[i, r, 0, torch.randperm(size * size, generator=g)[:20]] = 1
    removed = removed.reshape(2, 60, 1, size, size)
    np.testing.assert_allclose(faithfulness_correlation(model, chips, noise, target, removed=removed),
                               faithfulness_correlation(model, chips, noise, target, subset=20, runs=60), atol=1e-9)
    from facewidget.errors import ShapeError
    with pytest.raises(ShapeError):
        faithfulness_correlation(model, chips, noise, target, removed=removed[:, :, :, :8])


def test_model_parameter_randomisation_cascade_destroys_faithful_maps():
    from facewidget.evaluate.faithfulness import model_parameter_randomisation, parameter_layers
    from facewidget.evaluate.synthetic import synthetic_model
    from facewidget.explainers.base import get_method
    from facewidget.explainers.targets import SimilarityTarget

    model = synthetic_model("region", quadrant="top-left", size=32)
    chips = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    occlusion = get_method("occlusion")

    def explain(m):  # a pair: each face against the other's embedding under *this* model
        with torch.no_grad():
            emb = m.embed(chips)
        return occlusion(m, chips, [SimilarityTarget(m, emb[1]), SimilarityTarget(m, emb[0])]).saliency

    result = model_parameter_randomisation(model, explain, seed=0)
    names = [n for n, _ in parameter_layers(model.network)]
    assert [s.layer for s in result.steps] == names[::-1]  # output layer first
    same = model_parameter_randomisation(model, explain, layers=[])  # nothing randomised: nothing to compare
    assert same.steps == []
    last = result.steps[-1]
    assert last.spearman < 0.5 and last.ssim < 0.8, last  # the fully randomised model's map is another map
    # per map, then averaged (Adebayo et al.), not one rank correlation over the pooled maps
    assert len(last.spearman_maps) == 2 and last.spearman == pytest.approx(np.mean(last.spearman_maps))
    assert last.spearman_abs == pytest.approx(np.mean(last.spearman_abs_maps))
    assert explain(model).shape == result.original.shape


def test_curves_report_each_step_and_cancel_returns_the_steps_done():
    """Curves follow the engine's contract: one ProgressUpdate per step, and a cancel before a step
    raises ExplanationCancelled carrying the curve over the steps already computed."""
    import threading

    from facewidget.evaluate.curves import pair_curve
    from facewidget.explainers import ExplanationCancelled

    model = rotation_invariant_model()
    chip, m = _chip_and_tied_map()
    g = torch.Generator().manual_seed(1)
    chips_b = (chip * 0.9 + 0.1 * torch.rand(chip.shape, generator=g)).clamp(0, 1)
    pairs = dict(chips_a=torch.cat([chip, chip]), chips_b=torch.cat([chips_b, chip.flip(-1)]),
                 maps_a=torch.cat([m, m]), maps_b=torch.cat([m, m.flip(-1)]), genuine=[True, False])
    updates = []
    full = pair_curve(model, mode="deletion", steps=8, threshold=0.5, progress=updates.append, **pairs)
    n = len(full.fractions)
    assert [u.done for u in updates] == list(range(1, n + 1)) and {u.total for u in updates} == {n}
    assert {u.phase for u in updates} == {"curve"}

    stop = threading.Event()

    def stop_after_three(update):
        if update.done == 3:
            stop.set()

    with pytest.raises(ExplanationCancelled) as info:
        pair_curve(model, mode="deletion", steps=8, threshold=0.5, progress=stop_after_three, cancel=stop, **pairs)
    part = info.value.partial
    assert info.value.done == 3 and len(part.fractions) == 3
    np.testing.assert_allclose(part.similarity_genuine, full.similarity_genuine[:3])
    np.testing.assert_allclose(part.accuracy, full.accuracy[:3])

    with torch.no_grad():
        ref = model.embed(chip)[0]
    target = lambda out: model.similarity(out, ref[None])  # noqa: E731
    whole = single_curve(model, chip, m, target, steps=6)
    stop.clear()
    with pytest.raises(ExplanationCancelled) as info:
        single_curve(model, chip, m, target, steps=6, progress=lambda u: u.done == 2 and stop.set(), cancel=stop)
    np.testing.assert_allclose(info.value.partial.value, whole.value[:2])
