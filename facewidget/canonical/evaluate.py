"""Faithfulness metrics of saliency maps as in the Canonical Saliency Maps paper.

For every image and every method the map is normalised to a common *mass* (the same fraction of
the chip is removed for every method, so a map cannot win by covering more), the explanation
image is ``chip · (1 − map)`` (the salient part is blacked out in proportion), and the model's
score on it, O, is compared with the score on the clean chip, Y:

* **Average Drop %** = mean(max(0, Y − O) / Y) · 100 — higher: the map found what the score
  relies on (the paper's convention for occlusion of the salient part).
* **% increase in confidence** = share of images with O > Y, · 100 — lower is better.
* **Win %** = share of images on which a method gives the lowest O among the compared methods
  (ties split evenly), · 100.

Scores must be positive for Average Drop (use a class probability, see :class:`ClassProbability`,
or a positive similarity). Maps are in chip space (B, h, w); photo-space maps go through
:func:`facewidget.warp_to_chip` with the chips' transforms first.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..errors import ShapeError

DEFAULT_MASS = 0.15  # fraction of the chip removed by every map


class ClassProbability:
    """Softmax probability of one class (a positive score for Average Drop)."""

    def __init__(self, index: int):
        self.index = int(index)
        self.__name__ = f"probability[{self.index}]"

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return torch.softmax(output, dim=1)[:, self.index]


def normalise_mass(maps, mass: float = DEFAULT_MASS, iterations: int = 50) -> np.ndarray:
    """Scale each map so that ``mean(clip(s · map, 0, 1)) == mass`` (negative values count as 0).

    Args:
        maps: (B, h, w) or (h, w) maps, any scale. NaN counts as 0.
        mass: target mean in (0, 1).
    Returns:
        float32 maps in [0, 1] with the given mean (all-zero maps stay zero).
    """
    m = np.asarray(maps, dtype=np.float64)
    single = m.ndim == 2
    if single:
        m = m[None]
    if m.ndim != 3:
        raise ShapeError(f"maps must be (B, h, w) or (h, w); got {m.shape}")
    if not 0 < mass < 1:
        raise ShapeError(f"mass must be in (0, 1); got {mass}")
    m = np.clip(np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0), 0, None)
    peak = m.reshape(len(m), -1).max(1)
    m = m / np.where(peak > 0, peak, 1.0)[:, None, None]
    # bisection on the scale per map: mean(clip(s·m, 0, 1)) grows monotonically with s
    lo = np.zeros(len(m))
    hi = np.full(len(m), 1.0)
    while True:  # grow hi until it reaches the mass (or saturates)
        means = np.clip(hi[:, None, None] * m, 0, 1).mean((1, 2))
        short = (means < mass) & (hi < 1e9)
        if not short.any():
            break
        hi[short] *= 4
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        means = np.clip(mid[:, None, None] * m, 0, 1).mean((1, 2))
        below = means < mass
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    out = np.clip(hi[:, None, None] * m, 0, 1).astype(np.float32)
    out[peak <= 0] = 0
    return out[0] if single else out


def scores(model, target: Callable, chips: torch.Tensor, batch_size: int | None = None) -> np.ndarray:
    """(B,) target values of chips (B, 3, h, w) in [0, 1]."""
    bs = int(batch_size or getattr(model, "batch_size", 32) or 32)
    out = []
    with torch.no_grad():
        for i in range(0, chips.shape[0], bs):
            v = target(model.infer(chips[i:i + bs]))
            if v.ndim != 1 or v.shape[0] != min(bs, chips.shape[0] - i):
                raise ShapeError(f"a target must map the network output to a (B,) tensor; got {tuple(v.shape)}")
            out.append(v.detach().to("cpu", torch.float64))
    return torch.cat(out).numpy()


def explanation_images(chips: torch.Tensor, maps: np.ndarray) -> torch.Tensor:
    """``chips · (1 − maps)``: chips (B, 3, h, w) in [0, 1], maps (B, h, w) in [0, 1]."""
    m = torch.as_tensor(np.asarray(maps), dtype=chips.dtype, device=chips.device)
    if m.shape != (chips.shape[0], *chips.shape[-2:]):
        raise ShapeError(f"maps {tuple(m.shape)} do not match chips {tuple(chips.shape)}")
    return chips * (1 - m[:, None])


def average_drop(clean, explained) -> float:
    """mean(max(0, Y − O) / Y) · 100 over images; Y must be > 0."""
    y, o = np.asarray(clean, np.float64), np.asarray(explained, np.float64)
    if y.shape != o.shape or y.ndim != 1 or not len(y):
        raise ShapeError(f"clean and explained scores must be equal-length 1-D; got {y.shape} and {o.shape}")
    if (y <= 0).any():
        raise ShapeError(f"Average Drop needs positive clean scores (Y > 0); {int((y <= 0).sum())} are not. "
                         "Use a probability (ClassProbability) or a positive similarity")
    return float(np.mean(np.maximum(0.0, y - o) / y) * 100)


def increase_in_confidence(clean, explained) -> float:
    """Share of images whose score rises on the explanation image (O > Y), in %."""
    y, o = np.asarray(clean, np.float64), np.asarray(explained, np.float64)
    if y.shape != o.shape or y.ndim != 1 or not len(y):
        raise ShapeError(f"clean and explained scores must be equal-length 1-D; got {y.shape} and {o.shape}")
    return float(np.mean(o > y) * 100)


def win_percent(explained: dict) -> dict:
    """``{method: % of images where it gives the lowest O}``; ties are split evenly."""
    names = list(explained)
    if not names:
        raise ShapeError("win_percent needs at least one method")
    o = np.stack([np.asarray(explained[n], np.float64) for n in names])
    if o.ndim != 2:
        raise ShapeError("each method's scores must be 1-D and equally long")
    best = o == o.min(0, keepdims=True)
    share = best / best.sum(0, keepdims=True)
    return {n: float(share[i].mean() * 100) for i, n in enumerate(names)}


def chip_map_from_canonical(cmap, face, transform, chip_size) -> np.ndarray:
    """A canonical map (e.g. a CIS or a model map) as a chip-space map of ``face``: translated onto
    the face's photo, then warped with the chip's photo→chip ``transform`` (2, 3) into
    ``chip_size`` (h, w). Unseen and off-face pixels are 0."""
    from ..align import warp_to_chip

    photo = cmap.translate(face, face.image_size, fill=0.0)
    return np.asarray(warp_to_chip(photo, np.asarray(transform), tuple(chip_size)), dtype=np.float32)


def evaluate_maps(model, target: Callable, chips: torch.Tensor, maps: dict, *, mass: float = DEFAULT_MASS) -> list[dict]:
    """Average Drop %, % increase in confidence and Win % of several methods on the same chips.

    Args:
        model: :class:`~facewidget.models.base.FaceModel`. target: network output → (B,)
            positive score (e.g. :class:`ClassProbability`).
        chips: (B, 3, h, w) float in [0, 1] (e.g. ``model.align(...).chips``).
        maps: ``{method name: (B, h, w) chip-space maps}`` from any method.
        mass: fraction of each chip every map removes after :func:`normalise_mass`.
    Returns:
        one record per method: ``method``, ``average_drop``, ``increase_in_confidence``,
        ``win``, ``n``, ``mass``; sorted by Average Drop (highest first).
    """
    chips = model.check_chips(chips)
    if not maps:
        raise ShapeError("evaluate_maps needs at least one method's maps")
    y = scores(model, target, chips)
    explained = {}
    for name, m in maps.items():
        arr = np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=np.float64)
        if arr.shape != (chips.shape[0], *chips.shape[-2:]):
            raise ShapeError(f"maps of {name!r} are {arr.shape}; expected {(chips.shape[0], *chips.shape[-2:])}")
        explained[name] = scores(model, target, explanation_images(chips, normalise_mass(arr, mass)))
    wins = win_percent(explained)
    recs = [{"method": n, "average_drop": average_drop(y, o), "increase_in_confidence": increase_in_confidence(y, o),
             "win": wins[n], "n": int(len(y)), "mass": float(mass)} for n, o in explained.items()]
    return sorted(recs, key=lambda r: -r["average_drop"])


BASELINES = ("gradcam", "gradcam++", "scorecam")


def _positive_evidence(signed: np.ndarray) -> np.ndarray:
    """Baseline CAMs as the paper uses them: the positive part, scaled to [0, 1]."""
    m = np.maximum(np.nan_to_num(np.asarray(signed, dtype=np.float64)), 0.0)
    top = m.max()
    return m / top if top > 0 else m


def _smooth_random_map(size, seed: int) -> np.ndarray:
    """A smooth random map (bilinear upsampling of 7×7 uniform noise): the floor any method must beat."""
    g = torch.Generator().manual_seed(int(seed))
    coarse = torch.rand(1, 1, 7, 7, generator=g, dtype=torch.float64)
    return torch.nn.functional.interpolate(coarse, size=tuple(size), mode="bilinear", align_corners=False)[0, 0].numpy()


class CompareMethodsWork:
    """Per-image work of :func:`compare_methods`: every method's explained probability (a table row)."""

    def __init__(self, model, baselines, include_random: bool, mass: float, cis_params: dict, seed: int):
        from ..runs import ModelHandle

        self.handle = ModelHandle(model)
        self.baselines, self.include_random, self.mass = list(baselines), include_random, float(mass)
        self.cis_params, self.seed = dict(cis_params), int(seed)

    def __call__(self, item) -> dict:
        from .. import explain as explain_fn
        from ..faces import detect_face
        from ..io import load_image
        from .cis import canonical_image_saliency

        k, src = item
        model = self.handle.model
        img = load_image(src)
        face = detect_face(img)
        aligned = model.align(img, [face])
        chip = aligned.chips[:1]
        with torch.no_grad():
            c = int(model.forward_chips(chip).argmax(1)[0])
        logit = model.target("logit", c)
        prob = ClassProbability(c)
        size = tuple(chip.shape[-2:])
        maps = {}
        cmap = canonical_image_saliency(img, model, logit, face, **self.cis_params)
        maps["cis"] = np.maximum(chip_map_from_canonical(cmap, face, aligned.transforms[0].numpy(), size), 0.0)
        for name in self.baselines:
            res = explain_fn(img, model, target=logit, method=name, face=face, seed=self.seed)
            maps[name] = _positive_evidence(res.face.maps["saliency"])
        if self.include_random:
            maps["random"] = _smooth_random_map(size, self.seed + k)
        row = {"index": k, "class": c, "clean": float(scores(model, prob, chip)[0])}
        for name, m in maps.items():
            row[f"o/{name}"] = float(scores(model, prob, explanation_images(chip, normalise_mass(m[None], self.mass)))[0])
        return row


def compare_methods(images, model, *, baselines=BASELINES, include_random: bool = True, mass: float = DEFAULT_MASS,
                    cis_params: dict | None = None, seed: int = 0, client=None, partition_size: int = 4,
                    checkpoint=None, progress=None, cancel=None) -> dict:
    """The paper's comparison: CIS against Grad-CAM, Grad-CAM++ and Score-CAM (and a random map).

    For every photo the classifier's predicted class c is explained by every method (CIS: the drop
    of the class-c logit under occlusion at each mesh vertex, translated back onto the face and into
    its chip; baselines: the class-c logit through :func:`facewidget.explain`, positive part scaled
    to [0, 1]). Each map is normalised to the same removed ``mass``; the explanation image is
    ``chip · (1 − map)``, scored by the class-c probability (Y clean, O explained). A run on
    :func:`facewidget.runs.run` (one image per item; photos without a face are skipped and listed).

    Args:
        images: photos (the largest face of each is used).
        model: a classifier :class:`~facewidget.models.FaceModel` (task ``"classification"``).
        baselines: method names understood by :func:`facewidget.explain`.
        cis_params: extra arguments of :func:`canonical_image_saliency` (e.g. ``vertices``).
        client, partition_size, checkpoint, progress, cancel: see :func:`facewidget.runs.run`.
    Returns:
        ``{"records": [...]}`` with one record per method (``average_drop``,
        ``increase_in_confidence``, ``win``, ``n``, ``mass``; sorted by Average Drop, highest first),
        plus ``"classes"`` (predicted class per image), ``"skipped"`` ((image, reason) pairs),
        ``"params"`` and ``"run"`` (the run's manifest; ``cancelled`` when stopped early).
    """
    from ..runs import Table, run

    if getattr(model.config, "task", None) != "classification":
        raise ShapeError(f"compare_methods explains a classifier's predicted class; {model.config.name} is a "
                         f"{model.config.task} model")
    names = ["cis", *baselines] + (["random"] if include_random else [])
    work = CompareMethodsWork(model, baselines, include_random, mass, cis_params or {}, seed)
    result = run(list(enumerate(images)), work, Table(), client=client, partition_size=partition_size,
                 checkpoint=checkpoint, progress=progress, cancel=cancel, name="compare methods")
    table = result.accumulator.result()
    if not table:
        raise ShapeError("compare_methods: no image with a usable face")
    y = table["clean"].astype(np.float64)
    outs = {n: table[f"o/{n}"].astype(np.float64) for n in names}
    wins = win_percent(outs)
    records = [{"method": n, "average_drop": average_drop(y, o), "increase_in_confidence": increase_in_confidence(y, o),
                "win": wins[n], "n": int(len(y)), "mass": float(mass)} for n, o in outs.items()]
    return {"records": sorted(records, key=lambda r: -r["average_drop"]), "classes": [int(c) for c in table["class"]],
            "skipped": [(s.id, s.reason) for s in result.skipped], "run": result.manifest,
            "params": {"mass": float(mass), "seed": int(seed), "baselines": list(baselines),
                       "cis": dict(cis_params or {}), "model": model.config.name,
                       "weights_sha256": model.config.weights_sha256}}
