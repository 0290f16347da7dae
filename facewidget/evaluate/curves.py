"""Deletion and insertion curves (Petsiuk et al. 2018; for pairs, CorrRISE's protocol, Lu et al. 2024).

Pairs
    The verification threshold is fixed on the *clean* pairs first. Then, for fractions
    k = 0, 1/steps, ..., 1 of the pixels, ranked by each image's map (highest first):

    * deletion: the top-k pixels are replaced by ``fill`` (black by default);
    * insertion: the top-k pixels are put into a ``base`` image (the chip blurred, by default).

    At each step we record the mean oriented similarity (higher = more similar) of the genuine
    pairs and of the impostor pairs (separately: deleting an impostor pair's dissimilar evidence
    *raises* its similarity) and the verification accuracy (genuine pairs accepted, impostor pairs
    rejected) over all pairs, and report the area under each curve (trapezoid over k ∈ [0, 1]).
    With similar maps on genuine pairs and dissimilar maps on impostor pairs, a good map gives low
    deletion AUCs of accuracy and genuine similarity (and a high one of impostor similarity), and
    the reverse for insertion.

    ``images="each"`` (default) perturbs one image at a time against the other, clean, image
    (A' vs B and B' vs A, pooled: 2P comparisons); ``"a"`` only A' vs B; ``"both"`` A' vs B'.
    (Perturbing both at once is misleading: two fully deleted images are identical, so the
    similarity of a genuine pair *rises* at the end of a deletion.)

Single faces
    The same with the mean of a target (class logit, expected age, similarity to a reference).

Ranking
    Pixels are ranked by the map as given (pass the *signed* map, oriented so that higher = more
    evidence: a clipped map ties every pixel it clipped). Remaining ties are broken by a random
    permutation drawn from ``seed``, never by pixel position: a constant map deletes pixels in a
    seeded random order, so the curve does not depend on where the tied pixels lie (with a raster
    tie-break, the tail of a curve measured row order).

Fills
    ``base`` / ``fill``: a number (0 = black), ``"blur"``, a tensor like the chips, or ``"road"``:
    ROAD's noisy linear imputation (Rong et al. 2022, "A consistent and efficient evaluation
    strategy for attribution methods"): every removed pixel becomes the weighted mean of its 8
    neighbours (direct ones 1/6, diagonal ones 1/12), solved jointly as one sparse linear system
    per image and step, plus Gaussian noise (σ = 0.01 of the [0, 1] range): removing pixels then
    leaks no shape of the mask (the class information a black square gives away).

All chips are (B, 3, h, w) float32 RGB in [0, 1]; maps (B, h, w).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import ParameterError, ShapeError
from ..explainers.base import gaussian_blur
from ..explainers.engine import ExplanationCancelled, ProgressUpdate, is_cancelled


def _as_chips(x, device) -> torch.Tensor:
    t = torch.as_tensor(x) if not isinstance(x, torch.Tensor) else x
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] != 3:
        raise ShapeError(f"chips must be (B, 3, h, w); got {tuple(t.shape)}")
    return t.to(device, torch.float32)


def _as_maps(x, n: int, size) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    if t.ndim == 2:
        t = t[None]
    if t.shape != (n, *size):
        raise ShapeError(f"maps must be ({n}, {size[0]}, {size[1]}) to match the chips; got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ShapeError("maps contain NaN or infinity")
    return t


def fractions_for(steps: int) -> np.ndarray:
    if steps < 1:
        raise ParameterError("steps", steps, "an integer >= 1")
    return np.linspace(0.0, 1.0, steps + 1)


def auc(fractions: np.ndarray, values: np.ndarray) -> float:
    """Area under a curve sampled at ``fractions`` in [0, 1] (trapezoid)."""
    return float(np.trapezoid(values, fractions))


ROAD_WEIGHTS = (((0, 1), 1 / 6), ((0, -1), 1 / 6), ((1, 0), 1 / 6), ((-1, 0), 1 / 6),
                ((1, 1), 1 / 12), ((1, -1), 1 / 12), ((-1, 1), 1 / 12), ((-1, -1), 1 / 12))
"""ROAD's neighbour weights (Rong et al. 2022, NoisyLinearImputer)."""


def road_impute(chips: torch.Tensor, removed: torch.Tensor, *, noise: float = 0.01, seed: int = 0) -> torch.Tensor:
    """ROAD noisy linear imputation: (B, 3, h, w) chips with the ``removed`` pixels ((B, h, w), 1 =
    removed) replaced by the solution of x_u = Σ_v w_v x_v / Σ_v w_v over u's in-image neighbours v
    (known pixels fixed), plus N(0, noise²) on the imputed pixels (seeded)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import splu

    out = chips.detach().cpu().to(torch.float64).numpy().copy()
    rem = removed.detach().cpu().numpy() > 0.5
    b, _, h, w = out.shape
    rng = np.random.default_rng(seed)
    for i in range(b):
        ys, xs = np.nonzero(rem[i])
        m = ys.size
        if m == 0:
            continue
        index = -np.ones((h, w), dtype=np.int64)
        index[ys, xs] = np.arange(m)
        rows, cols, vals = [np.arange(m)], [np.arange(m)], []
        diag = np.zeros(m)
        rhs = np.zeros((m, 3))
        for (dy, dx), wt in ROAD_WEIGHTS:
            ny, nx = ys + dy, xs + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            diag[inside] += wt
            src = np.nonzero(inside)[0]
            nbr = index[ny[src], nx[src]]
            unknown = nbr >= 0
            rows.append(src[unknown])
            cols.append(nbr[unknown])
            vals.append(np.full(int(unknown.sum()), -wt))
            known = src[~unknown]
            rhs[known] += wt * out[i][:, ny[known], nx[known]].T
        a = coo_matrix((np.concatenate([diag] + vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, m))
        solved = splu(a.tocsc()).solve(rhs)
        out[i][:, ys, xs] = (solved + noise * rng.standard_normal(solved.shape)).T
    return torch.as_tensor(out, dtype=chips.dtype, device=chips.device)


def resolve_base(base, chips: torch.Tensor):
    """The image pixels go to (deletion) or come from (insertion): a number, ``"blur"``, a tensor,
    or ``"road"`` (kept as the string: ROAD imputes per step, see :func:`perturb`)."""
    if isinstance(base, str) and base == "road":
        return base
    if isinstance(base, (int, float)) and not isinstance(base, bool):
        return torch.full_like(chips, float(base))
    if base == "blur":
        return gaussian_blur(chips, sigma=min(chips.shape[-2:]) / 16.0)
    if isinstance(base, torch.Tensor) and base.shape == chips.shape:
        return base.to(chips.device, chips.dtype)
    raise ParameterError("base", base, "a number, 'blur', 'road' or a tensor like the chips")


class PixelOrder:
    """Pixel ranks of maps (highest first) so that top-k masks are cheap for any k.

    Ties are broken by a random permutation of the pixels drawn from ``seed`` (one per map), never
    by position."""

    def __init__(self, maps: torch.Tensor, seed: int = 0):
        b, h, w = maps.shape
        g = torch.Generator().manual_seed(int(seed))
        perm = torch.stack([torch.randperm(h * w, generator=g) for _ in range(b)])
        flat = maps.reshape(b, -1).cpu()
        # sort the permuted pixels stably by value: equal values keep the random order
        order = perm.gather(1, torch.argsort(-flat.gather(1, perm), dim=1, stable=True))
        self.rank = torch.empty_like(order)
        self.rank.scatter_(1, order, torch.arange(h * w).expand(b, -1).contiguous())
        self.shape = (b, h, w)

    def top(self, fraction: float) -> torch.Tensor:
        """(B, h, w) float 1 where a pixel is among the top ``fraction`` of its map."""
        b, h, w = self.shape
        k = int(round(fraction * h * w))
        return (self.rank < k).reshape(b, h, w).float()


def perturb(chips: torch.Tensor, order: PixelOrder, fraction: float, mode: str, base, seed: int = 0) -> torch.Tensor:
    top = order.top(fraction).to(chips.device)[:, None]
    if isinstance(base, str) and base == "road":  # impute the removed pixels from the kept ones
        if mode not in ("deletion", "insertion"):
            raise ParameterError("mode", mode, "'deletion' or 'insertion'")
        removed = top[:, 0] if mode == "deletion" else 1 - top[:, 0]
        return road_impute(chips, removed, seed=seed + int(round(fraction * 1e6)))
    if mode == "deletion":
        return chips * (1 - top) + base * top
    if mode == "insertion":
        return base * (1 - top) + chips * top
    raise ParameterError("mode", mode, "'deletion' or 'insertion'")


@torch.no_grad()
def _outputs(model, chips: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model.infer(chips[i:i + batch_size]).float() for i in range(0, len(chips), batch_size)])


def best_threshold(similarities: np.ndarray, genuine: np.ndarray) -> float:
    """The oriented-similarity threshold with the best accuracy on these pairs (``sim >= t`` = same);
    midway between neighbouring scores."""
    s = np.sort(np.unique(similarities))
    candidates = np.concatenate([[s[0] - 1.0], (s[1:] + s[:-1]) / 2, [s[-1] + 1.0]])
    acc = [np.mean((similarities >= t) == genuine) for t in candidates]
    return float(candidates[int(np.argmax(acc))])


@dataclass
class PairCurve:
    """Deletion or insertion curve over a set of pairs.

    Attributes:
        mode: ``"deletion"`` or ``"insertion"``. fractions: (S,) pixel fractions.
        similarity_genuine, similarity_impostor: (S,) mean oriented similarity of the genuine /
            impostor pairs (NaN when there are none). accuracy: (S,) verification accuracy.
        auc_similarity_genuine, auc_similarity_impostor (None when there are no such pairs),
        auc_accuracy: areas under the curves.
        threshold: the oriented threshold fixed on the clean pairs; threshold_source: how.
        clean_accuracy: accuracy on the clean pairs at that threshold.
    """

    mode: str
    fractions: np.ndarray
    similarity_genuine: np.ndarray
    similarity_impostor: np.ndarray
    accuracy: np.ndarray
    auc_similarity_genuine: float | None
    auc_similarity_impostor: float | None
    auc_accuracy: float
    threshold: float
    threshold_source: str
    clean_accuracy: float

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("fractions", "similarity_genuine", "similarity_impostor", "accuracy"):
            d[k] = [None if np.isnan(v) else float(v) for v in d[k]]
        return d


def clean_threshold(model, sims: np.ndarray, genuine: np.ndarray, threshold) -> tuple[float, str]:
    """The oriented threshold: a number (native units), ``"model"``, or ``"clean"`` (best accuracy on
    the clean pairs when they hold both genuine and impostor pairs, else the model's threshold)."""
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
        t = float(threshold)
        return (-t if model.config.similarity == "euclidean" else t), "given"
    if threshold == "clean" and genuine.any() and (~genuine).any():
        return best_threshold(sims, genuine), "best accuracy on the clean pairs"
    if threshold in ("clean", "model"):
        return float(model.oriented_threshold), "model"
    raise ParameterError("threshold", threshold, "a number, 'clean' or 'model'")


def curve_steps(total: int, progress=None, cancel=None, partial=None):
    """The steps of a curve, under the explain engine's contract: ``progress`` gets a
    :class:`~facewidget.explainers.engine.ProgressUpdate` after each step (phase ``"curve"``);
    ``cancel`` is checked before each step, and a cancelled curve raises
    :class:`~facewidget.explainers.engine.ExplanationCancelled` whose ``partial`` is
    ``partial(steps_done)`` (the curve over the fractions computed so far, or None)."""
    t0 = time.perf_counter()
    for i in range(total):
        if is_cancelled(cancel):
            raise ExplanationCancelled(f"curve cancelled after {i} of {total} steps",
                                       partial(i) if (partial is not None and i) else None, i, total)
        yield i
        if progress is not None:
            progress(ProgressUpdate(i + 1, total, time.perf_counter() - t0, None, phase="curve"))


def pair_curve(model, chips_a, chips_b, maps_a, maps_b, genuine, *, mode: str = "deletion", steps: int = 20,
               threshold="clean", images: str = "each", base=None, batch_size: int | None = None,
               seed: int = 0, progress=None, cancel=None) -> PairCurve:
    """Deletion / insertion curve over pairs (see the module doc).

    Args:
        chips_a, chips_b: (P, 3, h, w) chips of the pairs. maps_a, maps_b: (P, h, w) maps ranking
            each image's pixels (similar maps for genuine pairs, dissimilar maps for impostors).
        genuine: (P,) bool. threshold: ``"clean"``, ``"model"`` or a native-unit number.
        images: ``"each"``, ``"a"`` or ``"both"`` (see the module doc). base: deletion fill (default 0 = black) or insertion start
            (default ``"blur"``); ``"road"`` for ROAD's noisy linear imputation (see the module doc).
        seed: the tie-breaking permutation (and ROAD's noise).
        progress, cancel: see :func:`curve_steps` (cancelled: the curve over the steps done).
    """
    dev = model.device
    a, b = _as_chips(chips_a, dev), _as_chips(chips_b, dev)
    if a.shape != b.shape:
        raise ShapeError(f"chips_a and chips_b differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    p, size = a.shape[0], tuple(a.shape[-2:])
    genuine = np.asarray(genuine, dtype=bool).reshape(-1)
    if genuine.shape[0] != p:
        raise ShapeError(f"genuine has {genuine.shape[0]} entries for {p} pairs")
    if images not in ("each", "a", "both"):
        raise ParameterError("images", images, "'each', 'a' or 'both'")
    order_a = PixelOrder(_as_maps(maps_a, p, size), seed)
    order_b = PixelOrder(_as_maps(maps_b, p, size), seed + 1)
    base = (0.0 if mode == "deletion" else "blur") if base is None else base
    base_a, base_b = resolve_base(base, a), resolve_base(base, b)
    bs = batch_size or getattr(model, "batch_size", 32)
    emb_a, emb_b = _outputs(model, a, bs), _outputs(model, b, bs)
    clean = model.similarity(emb_a, emb_b).cpu().numpy()
    thr, source = clean_threshold(model, clean, genuine, threshold)
    fr = fractions_for(steps)
    sims = np.empty((len(fr), 2 * p if images == "each" else p))
    truth = np.concatenate([genuine, genuine]) if images == "each" else genuine
    clean_all = np.concatenate([clean, clean]) if images == "each" else clean

    def curve(k: int) -> PairCurve:  # the curve over the first k fractions
        f_k, s_k = fr[:k], sims[:k]
        acc = ((s_k >= thr) == truth[None]).mean(1)
        nan = np.full(k, np.nan)
        sim_g = s_k[:, truth].mean(1) if truth.any() else nan
        sim_i = s_k[:, ~truth].mean(1) if (~truth).any() else nan
        return PairCurve(mode, f_k, sim_g, sim_i, acc, auc(f_k, sim_g) if truth.any() else None,
                         auc(f_k, sim_i) if (~truth).any() else None, auc(f_k, acc), thr, source,
                         float(np.mean((clean_all >= thr) == truth)))

    for i in curve_steps(len(fr), progress, cancel, curve):
        f = fr[i]
        pa = perturb(a, order_a, f, mode, base_a, seed)
        if images == "a":
            sims[i] = model.similarity(_outputs(model, pa, bs), emb_b).cpu().numpy()
            continue
        pb = perturb(b, order_b, f, mode, base_b, seed + 1)
        e = _outputs(model, torch.cat([pa, pb]), bs)
        if images == "both":
            sims[i] = model.similarity(e[:p], e[p:]).cpu().numpy()
        else:
            sims[i] = np.concatenate([model.similarity(e[:p], emb_b).cpu().numpy(),
                                      model.similarity(e[p:], emb_a).cpu().numpy()])
    return curve(len(fr))


@dataclass
class SingleCurve:
    """Deletion / insertion curve of a single-face target.

    Attributes: mode, fractions (S,), value (S,) mean target, auc, clean (mean unperturbed value),
    auc_relative (auc / clean when clean != 0).
    """

    mode: str
    fractions: np.ndarray
    value: np.ndarray
    auc: float
    clean: float
    auc_relative: float | None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["fractions"], d["value"] = d["fractions"].tolist(), d["value"].tolist()
        return d


def single_curve(model, chips, maps, target, *, mode: str = "deletion", steps: int = 20, base=None,
                 batch_size: int | None = None, seed: int = 0, progress=None, cancel=None) -> SingleCurve:
    """Deletion / insertion curve of ``target`` (a Target or callable outputs → (B,)) over chips
    (``base``, ``seed``, ``progress`` and ``cancel`` as for :func:`pair_curve`)."""
    from ..explainers.targets import CallableTarget, Target

    tgt = target if isinstance(target, Target) else CallableTarget(target)
    dev = model.device
    c = _as_chips(chips, dev)
    order = PixelOrder(_as_maps(maps, c.shape[0], tuple(c.shape[-2:])), seed)
    base = (0.0 if mode == "deletion" else "blur") if base is None else base
    base_t = resolve_base(base, c)
    bs = batch_size or getattr(model, "batch_size", 32)
    fr = fractions_for(steps)
    values = np.empty(len(fr))

    def curve(k: int) -> SingleCurve:  # the curve over the first k fractions
        area = auc(fr[:k], values[:k])
        return SingleCurve(mode, fr[:k], values[:k], area, clean, area / clean if abs(clean) > 1e-12 else None)

    with torch.no_grad():
        clean = float(tgt(_outputs(model, c, bs)).float().mean())
        for i in curve_steps(len(fr), progress, cancel, curve):
            values[i] = float(tgt(_outputs(model, perturb(c, order, fr[i], mode, base_t, seed), bs)).float().mean())
    return curve(len(fr))


def random_maps(count: int, size, *, seed: int = 0, cell: int | None = None) -> np.ndarray:
    """Random maps, the floor every method must beat: (count, h, w) float32.

    ``cell``: side in pixels of independent random cells, upsampled bilinearly (spatially smooth
    noise, like a saliency map); 1 = independent per-pixel noise. Default: 8 px at 112×112 (scaled).
    """
    h, w = int(size[0]), int(size[1])
    cell = max(1, int(round(8 * min(h, w) / 112))) if cell is None else int(cell)
    g = torch.Generator().manual_seed(int(seed))
    if cell == 1:
        return torch.rand(count, h, w, generator=g).numpy()
    coarse = torch.rand(count, 1, -(-h // cell) + 1, -(-w // cell) + 1, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[:, 0].numpy()
