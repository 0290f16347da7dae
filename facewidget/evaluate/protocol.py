"""Whole protocols on top of the curves: a method against the random floor, and the sanity check.

* :func:`evaluate_pairs` — explain every pair, then deletion and insertion curves (CorrRISE's
  protocol: similar maps for genuine pairs, dissimilar maps for impostor pairs) for the method and
  for random maps, with the threshold fixed once on the clean pairs.
* :func:`sanity_check` — model-randomisation test (Adebayo et al., NeurIPS 2018): the maps of the
  trained model must differ from the maps of the same architecture with randomised weights. We
  report the Spearman rank correlation of the signed maps trained vs randomised, next to trained vs
  trained with another mask seed (the method's own reproducibility), so "low" has a reference.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..errors import ShapeError, UnsupportedOperationError
from ..explainers.base import get_method
from ..explainers.targets import SimilarityTarget
from .curves import PairCurve, SingleCurve, pair_curve, random_maps, single_curve


def pair_chips(model, pairs) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned chips (P, 3, h, w) ×2 for ``pairs`` of photos (largest face of each), or pass chips through."""
    if isinstance(pairs, tuple) and len(pairs) == 2 and isinstance(pairs[0], torch.Tensor):
        return pairs[0].to(model.device), pairs[1].to(model.device)
    a, b = [], []
    for img_a, img_b in pairs:
        a.append(model.align(img_a).chips[0])
        b.append(model.align(img_b).chips[0])
    if not a:
        raise ShapeError("no pairs given")
    return torch.stack(a).to(model.device), torch.stack(b).to(model.device)


class PairMapWork:
    """Per-pair work: the signed chip maps of image a (against b) and of image b (against a)."""

    def __init__(self, model, method: str, seed: int, params: dict):
        from ..runs import ModelHandle

        self.handle, self.method, self.seed, self.params = ModelHandle(model), method, int(seed), dict(params)

    def __call__(self, item) -> dict:
        i, chip_a, chip_b = item
        model = self.handle.model
        fn = get_method(self.method)
        chips = torch.stack([chip_a, chip_b]).to(model.device)
        with torch.no_grad():
            emb = model.embed(chips).float()
        targets = [SimilarityTarget(model, emb[1]), SimilarityTarget(model, emb[0])]
        res = fn(model, chips, targets, seed=self.seed, **self.params)
        return {"index": i, "a": np.asarray(res.saliency[0]), "b": np.asarray(res.saliency[1])}


class SingleMapWork:
    """Per-chip work: the signed map of one target on one chip."""

    def __init__(self, model, target, method: str, seed: int, params: dict):
        from ..runs import ModelHandle

        self.handle, self.target, self.method = ModelHandle(model), target, method
        self.seed, self.params = int(seed), dict(params)

    def __call__(self, item) -> dict:
        i, chip = item
        model = self.handle.model
        res = get_method(self.method)(model, chip[None].to(model.device), [self.target], seed=self.seed,
                                      **self.params)
        return {"index": i, "map": np.asarray(res.saliency[0])}


def _map_run(items: list, work, chips: list, *, client, partition_size: int, checkpoint, progress, cancel,
             name: str, run_info: dict | None) -> dict:
    """The per-item map run of the protocols: one item per chip (or pair of chips), a
    :class:`~facewidget.runs.Table` of maps sorted by item. Returns the table (empty when nothing
    finished); ``run_info`` receives the manifest and the indices of the finished items.

    A ``checkpoint`` folder is keyed by the method, seed, params, model (name and weights hash),
    the chips' bytes and the target's ``describe()``: two targets with the same description (e.g.
    similarity to different references) need different folders."""
    from ..runs import Table, fingerprint, run

    model = work.handle.model
    digest = hashlib.sha256()
    for c in chips:  # the checkpoint key covers the chips themselves, not only their count
        digest.update(np.ascontiguousarray(c.detach().cpu().numpy()).tobytes())
    target = getattr(work, "target", None)  # described, not repr'd: a repr holding an address changes every process
    described = target.describe() if hasattr(target, "describe") else getattr(target, "__name__", None)
    key = fingerprint(name, type(work).__name__, work.method, work.seed, sorted((k, repr(v)) for k, v in work.params.items()),
                      described, model.config.name, model.config.weights_sha256, digest.hexdigest(), len(items))
    result = run(items, work, Table(), client=client, partition_size=partition_size, checkpoint=checkpoint,
                 progress=progress, cancel=cancel, name=name, key=key)
    table = result.accumulator.result()
    if run_info is not None:
        run_info.update(result.manifest, items=[int(i) for i in table.get("index", [])])
    return table


def _finished_items(info: dict, minimum: int, what: str) -> np.ndarray | None:
    """After a cancelled map run: the indices of the finished items (None when not cancelled);
    fewer than ``minimum`` raise :class:`~facewidget.errors.CancelledError`."""
    if not info.get("cancelled"):
        return None
    from ..errors import CancelledError

    done = np.asarray(info["items"], dtype=np.int64)
    if len(done) < minimum:
        raise CancelledError(f"{what} evaluation cancelled after {len(done)} {what}(s)")
    return done


def _curves(curve, maps: tuple, random: tuple, **kw) -> dict:
    """Deletion and insertion of the method's maps and of random maps (the four curves of a protocol)."""
    return {"deletion": curve(*maps, mode="deletion", **kw), "insertion": curve(*maps, mode="insertion", **kw),
            "random_deletion": curve(*random, mode="deletion", **kw),
            "random_insertion": curve(*random, mode="insertion", **kw)}


def pair_signed_maps(model, chips_a, chips_b, method: str = "corrrise", *, seed: int = 0, client=None,
                     partition_size: int = 8, checkpoint=None, progress=None, cancel=None, run_info: dict | None = None,
                     **params):
    """Signed chip maps (P, h, w) for image a and image b of every pair.

    A run on :func:`facewidget.runs.run` (one pair per item): ``client``, ``partition_size``,
    ``checkpoint``, ``progress`` and ``cancel`` as there. Cancelled, the maps of the finished pairs
    are returned (fewer than P); ``run_info`` (a dict) receives the run's manifest and ``items``,
    the indices of the finished pairs."""
    items = [(i, chips_a[i].detach().cpu(), chips_b[i].detach().cpu()) for i in range(len(chips_a))]
    table = _map_run(items, PairMapWork(model, method, seed, params), [chips_a, chips_b], client=client,
                     partition_size=partition_size, checkpoint=checkpoint, progress=progress, cancel=cancel,
                     name="pair maps", run_info=run_info)
    if not table:
        h, w = chips_a.shape[-2:]
        return np.zeros((0, h, w), np.float32), np.zeros((0, h, w), np.float32)
    return np.stack(table["a"]), np.stack(table["b"])


def single_signed_maps(model, chips, target, method: str = "corrrise", *, seed: int = 0, client=None,
                       partition_size: int = 8, checkpoint=None, progress=None, cancel=None,
                       run_info: dict | None = None, **params) -> np.ndarray:
    """Signed chip maps (B, h, w) of ``target`` on every chip (B, 3, h, w), one chip per item of a
    run on :func:`facewidget.runs.run` (arguments and cancel as :func:`pair_signed_maps`). On a
    Dask client the target must pickle."""
    items = [(i, chips[i].detach().cpu()) for i in range(len(chips))]
    table = _map_run(items, SingleMapWork(model, target, method, seed, params), [chips], client=client,
                     partition_size=partition_size, checkpoint=checkpoint, progress=progress, cancel=cancel,
                     name="single maps", run_info=run_info)
    if not table:
        return np.zeros((0, *chips.shape[-2:]), np.float32)
    return np.stack(table["map"])


def evidence_maps(signed: np.ndarray, genuine: np.ndarray) -> np.ndarray:
    """The ranking maps of the curves: the signed map for genuine pairs (similar evidence first),
    its negative for impostors (dissimilar evidence first). Signed, not clipped: clipping would tie
    every pixel of the other sign, and their order would then be arbitrary instead of the map's."""
    g = np.asarray(genuine, dtype=bool)[:, None, None]
    return np.where(g, signed, -signed).astype(np.float32)


@dataclass
class PairEvaluation:
    """Curves of a method and of random maps on the same pairs and threshold."""

    method: str
    deletion: PairCurve
    insertion: PairCurve
    random_deletion: PairCurve
    random_insertion: PairCurve
    params: dict = field(default_factory=dict)

    def beats_random(self) -> dict[str, bool]:
        """Per metric, whether the method beats random maps: for deletion a lower AUC of accuracy and
        of genuine similarity and a higher AUC of impostor similarity; the reverse for insertion.
        Similarity metrics are omitted when the pairs hold no genuine / impostor pair. Every
        comparison is strict: a tie (e.g. accuracy that stays at 1 along both curves) is no win."""
        out = {}
        for mode, sign in (("deletion", 1), ("insertion", -1)):
            c, r = getattr(self, mode), getattr(self, "random_" + mode)
            out[f"{mode}_accuracy"] = sign * c.auc_accuracy < sign * r.auc_accuracy
            if c.auc_similarity_genuine is not None:
                out[f"{mode}_similarity_genuine"] = sign * c.auc_similarity_genuine < sign * r.auc_similarity_genuine
            if c.auc_similarity_impostor is not None:
                out[f"{mode}_similarity_impostor"] = sign * c.auc_similarity_impostor > sign * r.auc_similarity_impostor
        return out

    def summary(self) -> dict:
        def aucs(c):
            return {"accuracy": c.auc_accuracy, "similarity_genuine": c.auc_similarity_genuine,
                    "similarity_impostor": c.auc_similarity_impostor}

        return {"method": self.method, "params": self.params,
                "deletion": aucs(self.deletion), "random_deletion": aucs(self.random_deletion),
                "insertion": aucs(self.insertion), "random_insertion": aucs(self.random_insertion),
                "threshold": self.deletion.threshold, "threshold_source": self.deletion.threshold_source,
                "clean_accuracy": self.deletion.clean_accuracy, "beats_random": self.beats_random()}


def evaluate_pairs(model, pairs, genuine, method: str = "corrrise", *, seed: int = 0, steps: int = 20,
                   threshold="clean", images: str = "each", random_seed: int = 12345, random_cell: int | None = None,
                   client=None, partition_size: int = 8, checkpoint=None, progress=None, cancel=None,
                   **params) -> PairEvaluation:
    """Deletion and insertion for ``method`` and for random maps over ``pairs`` (photos, or a tuple
    of two (P, 3, h, w) chip tensors), ``genuine`` (P,) bool. Extra ``params`` go to the method.

    The maps are a run over the pairs (:func:`pair_signed_maps`: ``client``, ``partition_size``,
    ``checkpoint``, ``progress``, ``cancel``); cancelled, the curves cover the pairs whose maps
    were finished and ``params["cancelled"]`` is True. The four curves then report their steps to
    ``progress`` (phase ``"curve"``) and honour ``cancel`` (see :func:`~.curves.curve_steps`);
    ``seed`` also breaks the curves' ties."""
    genuine = np.asarray(genuine, dtype=bool).reshape(-1)
    a, b = pair_chips(model, pairs)
    if len(a) != len(genuine):
        raise ShapeError(f"{len(a)} pairs but {len(genuine)} genuine flags")
    info: dict = {}
    signed_a, signed_b = pair_signed_maps(model, a, b, method, seed=seed, client=client,
                                          partition_size=partition_size, checkpoint=checkpoint, progress=progress,
                                          cancel=cancel, run_info=info, **params)
    done = _finished_items(info, 2, "pair")
    if done is not None:
        a, b, genuine = a[done], b[done], genuine[done]
    ma, mb = evidence_maps(signed_a, genuine), evidence_maps(signed_b, genuine)
    size = tuple(a.shape[-2:])
    ra = random_maps(len(a), size, seed=random_seed, cell=random_cell)
    rb = random_maps(len(a), size, seed=random_seed + 1, cell=random_cell)
    # the curves report their steps to the same progress; a cancel during them raises with the
    # partial curve (a cancel during the maps already ended that phase)
    curves = _curves(lambda *maps, **kw: pair_curve(model, a, b, *maps, genuine, **kw), (ma, mb), (ra, rb),
                     steps=steps, threshold=threshold, images=images, seed=seed, progress=progress,
                     cancel=None if done is not None else cancel)
    return PairEvaluation(
        method=method, **curves,
        params={"seed": seed, "steps": steps, "images": images, "random_seed": random_seed,
                "random_cell": random_cell, "cancelled": done is not None, "run": info, **params},
    )


@dataclass
class SingleEvaluation:
    """Deletion / insertion curves of a single-face target for a method and for random maps."""

    method: str
    deletion: SingleCurve
    insertion: SingleCurve
    random_deletion: SingleCurve
    random_insertion: SingleCurve
    params: dict = field(default_factory=dict)

    def beats_random(self) -> dict[str, bool]:
        return {"deletion": self.deletion.auc < self.random_deletion.auc,
                "insertion": self.insertion.auc > self.random_insertion.auc}


def evaluate_single(model, chips: torch.Tensor, target, method: str = "corrrise", *, seed: int = 0, steps: int = 20,
                    random_seed: int = 12345, random_cell: int | None = None, client=None, partition_size: int = 8,
                    checkpoint=None, progress=None, cancel=None, **params) -> SingleEvaluation:
    """Explain ``target`` (a Target or callable outputs → (B,)) on every chip (B, 3, h, w) with
    ``method``, then deletion and insertion curves of the target for those maps (positive part of
    the signed maps rank first: the pixels that raise the target) and for random maps.

    The maps are a run over the chips (:func:`single_signed_maps`: ``client``, ``partition_size``,
    ``checkpoint``, ``progress``, ``cancel``; the same maps in-process, on a cluster and for any
    partition size); cancelled, the curves cover the chips whose maps were finished and
    ``params["cancelled"]`` is True. The four curves then report their steps to ``progress``
    (phase ``"curve"``) and honour ``cancel``; ``seed`` also breaks the curves' ties."""
    from ..explainers.targets import CallableTarget, Target

    tgt = target if isinstance(target, Target) else CallableTarget(target)
    if not isinstance(chips, torch.Tensor) or chips.ndim != 4:
        raise ShapeError(f"chips must be a (B, 3, h, w) tensor; got {getattr(chips, 'shape', type(chips).__name__)}")
    info: dict = {}
    maps = single_signed_maps(model, chips, tgt, method, seed=seed, client=client, partition_size=partition_size,
                              checkpoint=checkpoint, progress=progress, cancel=cancel, run_info=info, **params)
    done = _finished_items(info, 1, "chip")
    chips = (chips if done is None else chips[done]).to(model.device)
    rand = random_maps(len(chips), tuple(chips.shape[-2:]), seed=random_seed, cell=random_cell)
    curves = _curves(lambda m, **kw: single_curve(model, chips, m, tgt, **kw), (maps,), (rand,), steps=steps,
                     seed=seed, progress=progress, cancel=None if done is not None else cancel)
    return SingleEvaluation(method, **curves,
                            params={"seed": seed, "steps": steps, "random_seed": random_seed,
                                    "random_cell": random_cell, "cancelled": done is not None, "run": info, **params})


# -- model randomisation ---------------------------------------------------------------------------


def randomised_model(model, seed: int = 0):
    """A copy of ``model`` whose every parameter is redrawn from N(mean, std) of that tensor
    (same scale, no learnt structure; buffers such as BatchNorm statistics are kept).

    The copy is a shallow copy of the model object with the randomised network swapped in, so a
    FaceModel subclass keeps its own preprocessing and forward. Needs a torch network (black-box
    models without one raise UnsupportedOperationError)."""
    from ..errors import ModelError
    from ..models import state_dict_sha256

    net = getattr(model, "network", None)
    if not isinstance(net, torch.nn.Module) or not any(p.numel() > 1 for p in net.parameters()):
        raise UnsupportedOperationError(f"{model.config.name} has no torch network whose weights could be randomised")
    clone = copy.deepcopy(net)
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for p in clone.parameters():
            if p.numel() < 2:
                continue
            mean, std = float(p.float().mean()), float(p.float().std())
            p.copy_((torch.randn(p.shape, generator=g) * (std or 1.0) + mean).to(p.device, p.dtype))
    rand = copy.copy(model)
    rand.network = clone.eval()
    rand.config = replace(model.config, name=f"{model.config.name}-randomised", weights_sha256=state_dict_sha256(clone))
    h, w = model.config.input_size
    probe = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(model.device)
    with torch.no_grad():
        if torch.allclose(rand.forward_chips(probe).float(), model.forward_chips(probe).float()):
            raise ModelError(f"randomising {model.config.name}'s network did not change its outputs: the model "
                             "does not compute through .network")
    return rand


@dataclass
class SanityResult:
    """Rank correlations (Spearman, signed maps; mean over all images of all pairs).

    Attributes:
        randomised: trained vs randomised weights (should be low).
        reseeded: trained vs trained with another mask seed (the method's reproducibility; 1 for
            deterministic methods).
        per_map_randomised, per_map_reseeded: the individual values.
    """

    method: str
    randomised: float
    reseeded: float
    per_map_randomised: list[float]
    per_map_reseeded: list[float]

    @property
    def separated(self) -> bool:
        """The trained maps are closer to a re-run of themselves than to the randomised model's by a
        clear margin (0.3 in rank correlation)."""
        return self.reseeded - self.randomised > 0.3


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr  # lazy: scipy.stats costs ~0.8 s at import

    rho = spearmanr(np.asarray(x).ravel(), np.asarray(y).ravel()).statistic
    return float(0.0 if np.isnan(rho) else rho)


def sanity_check(model, pairs, method: str = "corrrise", *, seed: int = 0, randomise_seed: int = 0,
                 **params) -> SanityResult:
    """Model-randomisation sanity check on ``pairs`` (photos, or a tuple of two chip tensors)."""
    a, b = pair_chips(model, pairs)
    trained = np.concatenate(pair_signed_maps(model, a, b, method, seed=seed, **params))
    again = np.concatenate(pair_signed_maps(model, a, b, method, seed=seed + 1, **params))
    rand_model = randomised_model(model, randomise_seed)
    randomised = np.concatenate(pair_signed_maps(rand_model, a, b, method, seed=seed, **params))
    r_rand = [rank_correlation(t, r) for t, r in zip(trained, randomised)]
    r_seed = [rank_correlation(t, r) for t, r in zip(trained, again)]
    return SanityResult(method, float(np.mean(r_rand)), float(np.mean(r_seed)), r_rand, r_seed)
