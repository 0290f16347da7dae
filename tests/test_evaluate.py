"""Deletion / insertion (pairs and single faces), random baseline, sanity check; dlib's ResNet (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facewidget as fw
from .explain_helpers import one_thread, photometric_copy
from facewidget.evaluate import (PixelOrder, best_threshold, evaluate_pairs, pair_curve, perturb, random_maps,
                                 region_mask, sanity_check, single_curve, synthetic_model)

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)

# A threshold of the region model's similarity that its clean pairs pass (genuine ≥ 0.999, impostor
# ≤ 0.75) but a blurred genuine chip does not (0.91-0.99): insertion (which starts from blurred
# chips) then has accuracy to win; at the clean pairs' best threshold it stays 1 for any map.
STRICT_THRESHOLD = 0.97

# CorrRISE's protocol: verification accuracy over all pairs and the genuine pairs' similarity.
# (The impostor pairs' similarity is reported too, but deleting an impostor's dissimilar evidence
# with black pixels need not raise its similarity, so it is not a pass/fail criterion.)
MAIN_METRICS = ("deletion_accuracy", "deletion_similarity_genuine", "insertion_accuracy",
                "insertion_similarity_genuine")


def test_pixel_order_and_perturbation_are_exact():
    maps = torch.tensor([[[0.1, 0.9], [0.5, 0.3]]])
    order = PixelOrder(maps)
    assert order.top(0.25).tolist() == [[[0, 1], [0, 0]]]
    assert order.top(0.5).tolist() == [[[0, 1], [1, 0]]]
    chips = torch.rand(1, 3, 2, 2)
    base = torch.zeros_like(chips)
    assert torch.equal(perturb(chips, order, 0.0, "deletion", base), chips)
    assert torch.equal(perturb(chips, order, 1.0, "deletion", base), base)
    assert torch.equal(perturb(chips, order, 0.0, "insertion", base), base)
    assert torch.equal(perturb(chips, order, 1.0, "insertion", base), chips)
    half = perturb(chips, order, 0.5, "deletion", base)
    assert half[0, :, 0, 1].abs().sum() == 0 and torch.equal(half[0, :, 0, 0], chips[0, :, 0, 0])


def test_best_threshold_separates_when_possible():
    sims = np.array([0.9, 0.8, 0.3, 0.2, 0.75])
    genuine = np.array([True, True, False, False, False])
    t = best_threshold(sims, genuine)
    assert 0.75 < t < 0.8 and np.all((sims >= t) == genuine)


def test_random_maps_are_seeded_and_smooth():
    a, b = random_maps(2, (64, 64), seed=1), random_maps(2, (64, 64), seed=1)
    assert a.shape == (2, 64, 64) and np.array_equal(a, b)
    assert not np.array_equal(a, random_maps(2, (64, 64), seed=2))
    smooth_step = np.abs(np.diff(a, axis=-1)).mean()
    noise_step = np.abs(np.diff(random_maps(2, (64, 64), seed=1, cell=1), axis=-1)).mean()
    assert smooth_step < 0.3 * noise_step


@pytest.fixture(scope="module")
def region_pairs(sample_images, sample_faces):
    """Chips of genuine (photo / re-exposed copy) and impostor pairs for a region model."""
    model = synthetic_model("region", quadrant="top-left", size=64)
    names = ["obama", "obama2", "biden"]
    chips = {n: model.align(sample_images[n], [sample_faces[n][0]]).chips[0] for n in names}
    copies = {n: model.align(photometric_copy(sample_images[n]), [sample_faces[n][0]]).chips[0] for n in names}
    a = torch.stack([chips["obama"], chips["obama2"], chips["biden"], chips["obama"], chips["obama2"]])
    b = torch.stack([copies["obama"], copies["obama2"], copies["biden"], chips["biden"], chips["biden"]])
    return model, a, b, np.array([True, True, True, False, False])


def test_oracle_maps_beat_random_maps_on_deletion_and_insertion(region_pairs):
    """Maps that rank the true evidence quadrant first must beat random maps on both curves (genuine
    similarity and accuracy)."""
    model, a, b, genuine = region_pairs
    inside = region_mask((64, 64), "top-left").numpy()
    oracle = np.repeat((inside + 0.01 * np.random.default_rng(0).random((64, 64)))[None], len(a), 0)
    rand_a, rand_b = random_maps(len(a), (64, 64), seed=0), random_maps(len(a), (64, 64), seed=1)
    for mode in ("deletion", "insertion"):
        # insertion starts from the blurred chips, which this model still verifies at the clean
        # pairs' best threshold (accuracy 1 all along, for any map): a strict threshold that the clean
        # pairs still pass (genuine ≥ 0.999, impostor ≤ 0.75) gives insertion room to show its order
        threshold = "clean" if mode == "deletion" else STRICT_THRESHOLD
        good = pair_curve(model, a, b, oracle, oracle, genuine, mode=mode, steps=8, threshold=threshold)
        rand = pair_curve(model, a, b, rand_a, rand_b, genuine, mode=mode, steps=8, threshold=threshold)
        assert good.threshold == rand.threshold
        assert good.threshold_source == ("best accuracy on the clean pairs" if mode == "deletion" else "given")
        assert good.clean_accuracy == 1.0 and good.accuracy[0 if mode == "deletion" else -1] == 1.0
        sign = 1 if mode == "deletion" else -1
        assert sign * good.auc_similarity_genuine < sign * rand.auc_similarity_genuine
        assert good.auc_similarity_impostor is not None  # reported; the oracle ranks no *dissimilar* evidence
        assert sign * good.auc_accuracy < sign * rand.auc_accuracy, (mode, good.accuracy, rand.accuracy)
        assert len(good.fractions) == 9 and good.as_dict()["mode"] == mode


def test_a_tie_with_random_maps_is_no_win(region_pairs):
    """beats_random is strict on every metric: random maps scored against themselves win nothing."""
    from facewidget.evaluate.protocol import PairEvaluation

    model, a, b, genuine = region_pairs
    rand_a, rand_b = random_maps(len(a), (64, 64), seed=0), random_maps(len(a), (64, 64), seed=1)
    deletion, insertion = (pair_curve(model, a, b, rand_a, rand_b, genuine, mode=m, steps=4)
                           for m in ("deletion", "insertion"))
    ev = PairEvaluation("random", deletion, insertion, deletion, insertion)
    wins = ev.beats_random()
    assert set(wins) >= set(MAIN_METRICS) and not any(wins.values()), wins


def test_single_face_curves(region_pairs):
    model, a, b, _ = region_pairs
    ref = model.embed(b[:2])
    target = lambda out: model.similarity(out, ref[:1])
    inside = region_mask((64, 64), "top-left").numpy()
    oracle = np.repeat(inside[None], 1, 0)
    outside = 1 - oracle
    deleted_inside = single_curve(model, a[:1], oracle, target, mode="deletion", steps=4)
    deleted_outside = single_curve(model, a[:1], outside, target, mode="deletion", steps=4)
    assert deleted_inside.auc < deleted_outside.auc
    # removing pixels outside the evidence region changes nothing until the region itself goes
    assert deleted_outside.value[:3] == pytest.approx([deleted_outside.clean] * 3, abs=1e-5)
    assert deleted_inside.value[0] == pytest.approx(deleted_inside.clean, abs=1e-6)


def test_single_face_evaluation_beats_random(region_pairs):
    model, a, b, _ = region_pairs
    ref = model.embed(b[:1])
    ev = fw.evaluate.evaluate_single(model, a[:2], lambda out: model.similarity(out, ref), "occlusion", steps=8)
    assert ev.beats_random() == {"deletion": True, "insertion": True}, (ev.deletion.auc, ev.random_deletion.auc)


def _same_single(x, y):
    for name in ("deletion", "insertion", "random_deletion", "random_insertion"):
        cx, cy = getattr(x, name), getattr(y, name)
        assert cx.auc == cy.auc and cx.clean == cy.clean
        np.testing.assert_array_equal(cx.value, cy.value)


def test_single_evaluation_is_a_run_with_the_same_result_for_any_partition_size(region_pairs, tmp_path):
    """evaluate_single explains one chip per run item: partition sizes 1, 3 and one partition give
    the same curves; progress gets a ProgressUpdate per merged partition, then per curve step."""
    import threading

    model, a, b, _ = region_pairs
    ref = model.embed(b[:1])
    target = fw.explainers.CallableTarget(lambda out: model.similarity(out, ref))
    kw = dict(method="occlusion", steps=4, seed=3)
    whole = fw.evaluate.evaluate_single(model, a, target, partition_size=len(a), **kw)
    updates = []
    ones = fw.evaluate.evaluate_single(model, a, target, partition_size=1, progress=updates.append, **kw)
    threes = fw.evaluate.evaluate_single(model, a, target, partition_size=3, **kw)
    _same_single(ones, whole)
    _same_single(threes, whole)
    assert ones.params["run"]["n_partitions"] == 5 and threes.params["run"]["n_partitions"] == 2
    assert [u.done for u in updates if u.phase == "single maps"] == [1, 2, 3, 4, 5]
    assert [u.phase for u in updates].count("curve") == 4 * (4 + 1)  # four curves of steps + 1 points
    assert not ones.params["cancelled"]
    # one map per chip, as explaining each chip alone gives
    from facewidget.explainers.base import get_method

    direct = get_method("occlusion")(model, a[2:3], [target], seed=3).saliency[0]
    maps = fw.evaluate.single_signed_maps(model, a, target, "occlusion", seed=3, partition_size=2)
    np.testing.assert_array_equal(maps[2], np.asarray(direct))

    # cancel after the first partition: the curves cover the finished chips; the checkpoint resumes
    stop = threading.Event()
    part = fw.evaluate.evaluate_single(model, a, target, partition_size=2, checkpoint=tmp_path / "ck",
                                       progress=lambda u: u.phase == "single maps" and stop.set(), cancel=stop, **kw)
    assert part.params["cancelled"] and part.params["run"]["items"] == [0, 1]
    _same_single(part, fw.evaluate.evaluate_single(model, a[:2], target, **kw))
    rest = fw.evaluate.evaluate_single(model, a, target, partition_size=2, checkpoint=tmp_path / "ck", **kw)
    assert rest.params["run"]["reused_partitions"] == [0]
    _same_single(rest, whole)
    # the folder belongs to these chips, this method and seed: another run refuses it
    from facewidget.runs import CheckpointError

    for other in (dict(kw, seed=4), dict(kw, method="rise", n=50)):
        with pytest.raises(CheckpointError):
            fw.evaluate.evaluate_single(model, a, target, partition_size=2, checkpoint=tmp_path / "ck", **other)
    with pytest.raises(CheckpointError):
        fw.evaluate.evaluate_single(model, a.flip(-1), target, partition_size=2, checkpoint=tmp_path / "ck", **kw)


def test_pair_evaluation_same_result_for_any_partition_size(region_pairs):
    model, a, b, genuine = region_pairs
    kw = dict(method="occlusion", steps=4, threshold=STRICT_THRESHOLD)
    whole = evaluate_pairs(model, (a, b), genuine, partition_size=len(a), **kw)
    for size in (1, 3):
        other = evaluate_pairs(model, (a, b), genuine, partition_size=size, **kw)
        assert other.summary() == {**whole.summary(), "params": other.summary()["params"]}
        np.testing.assert_array_equal(other.deletion.accuracy, whole.deletion.accuracy)


def test_corrrise_beats_random_on_a_known_evidence_model(region_pairs):
    model, a, b, genuine = region_pairs
    ev = evaluate_pairs(model, (a, b), genuine, "corrrise", n=300, steps=8, threshold=STRICT_THRESHOLD)
    assert ev.deletion.clean_accuracy == 1.0
    wins = ev.beats_random()
    assert all(wins[k] for k in MAIN_METRICS), ev.summary()
    assert ev.summary()["params"]["n"] == 300


def _structured_model():
    """Grid features + a linear head that reads only the top-left 2×2 of the 4×4 cells: the evidence
    lives in the *weights* (a randomised head reads every cell), unlike a region gate that an
    architecture would keep."""
    from torch import nn

    base = synthetic_model("grid", size=48)
    head = nn.Linear(32 * 16, 64, bias=False)
    with torch.no_grad():
        cells = torch.zeros(32, 4, 4)
        cells[:, :2, :2] = 1
        head.weight.mul_(cells.flatten()[None])
    return fw.models.FaceModel.from_module(nn.Sequential(base.network, head), base.config, device="cpu")


def test_sanity_check_separates_trained_from_randomised(sample_images, sample_faces):
    model = _structured_model()
    pairs = [(sample_images["obama"], sample_images["obama2"])]
    # occlusion is deterministic (reseeded = 1), so the margin measures the weights' effect only
    result = sanity_check(model, pairs, "occlusion")
    assert result.reseeded == pytest.approx(1.0) and result.separated, result
    # CorrRISE: three quarters of this model's map are noise (no evidence there), so its own
    # reproducibility is modest, but the randomised model's maps are still further away
    result = sanity_check(model, pairs, "corrrise", n=600)
    assert result.randomised < result.reseeded - 0.15, result
    assert len(result.per_map_randomised) == 2


def test_randomised_model_keeps_scale_and_changes_weights():
    model = _structured_model()
    rand = fw.evaluate.randomised_model(model, seed=0)
    assert rand.config.weights_sha256 != model.config.weights_sha256 and rand.config.name.endswith("-randomised")
    for p, q in zip(model.network.parameters(), rand.network.parameters()):
        assert not torch.equal(p, q)
        assert float(q.std()) == pytest.approx(float(p.std()), rel=0.2)


# -- the real dlib model ---------------------------------------------------------------------------


def _dlib():
    return fw.load_model("dlib-resnet")


@pytest.fixture(scope="module")
def dlib_pairs(sample_images):
    s = sample_images
    pairs = [(s["obama"], s["obama2"]), (s["obama"], s["obama3"]), (s["obama2"], s["obama3"]),
             (s["obama"], s["biden"]), (s["obama2"], s["biden"]), (s["obama3"], s["biden"])]
    return pairs, np.array([True, True, True, False, False, False])


@pytest.mark.slow
def test_dlib_corrrise_beats_random_maps(dlib_pairs):
    """With dlib's ResNet on the sample photos, CorrRISE's maps (similar for genuine, dissimilar for
    impostor pairs) beat random maps: lower deletion AUC, higher insertion AUC."""
    model = _dlib()
    pairs, genuine = dlib_pairs
    ev = evaluate_pairs(model, pairs, genuine, "corrrise", n=400, steps=10)
    summary = ev.summary()
    assert ev.deletion.clean_accuracy == 1.0, summary
    wins = ev.beats_random()
    assert all(wins[k] for k in MAIN_METRICS), summary


@pytest.mark.slow
def test_dlib_sanity_check(dlib_pairs):
    model = _dlib()
    pairs, _ = dlib_pairs
    result = sanity_check(model, [pairs[0], pairs[3]], "corrrise", n=500)
    assert result.separated and result.randomised < 0.5, result
