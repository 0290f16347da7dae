"""Faithfulness correlation (Bhatt et al. 2020) and the model-parameter-randomisation test
(Adebayo et al. 2018), for any target — similarity targets included.

Faithfulness correlation (Bhatt, Weller, Moura, IJCAI 2020, "Evaluating and aggregating
feature-based model explanations", eq. 2)::

    μF(f, g; x) = corr over random subsets S, |S| = subset ( Σ_{u ∈ S} g(x)_u ,  f(x) − f(x_{S ← baseline}) )

Subsets of ``subset`` pixels are drawn uniformly (``runs`` of them, seeded); f is the target (e.g.
the similarity to the other face of a pair), g the signed map; Pearson correlation. 1 = the map
predicts exactly how much removing any set of pixels changes the target. (Quantus' defaults are
the same: 100 runs, 224 pixels, black baseline, Pearson.)

Model-parameter-randomisation test (Adebayo et al., NeurIPS 2018, "Sanity checks for saliency
maps", cascading randomisation): the network's parameterised layers are re-initialised one after
another from the output towards the input (``reset_parameters()`` of the layer, seeded; layers
without one get N(0, std of the layer's weights)), and after each step the map is recomputed and
compared with the original map by Spearman rank correlation of the signed maps and of their
absolute values, and SSIM (of the maps scaled to [0, 1] together), each per map and averaged over
the maps, as in the paper. A map that stays similar while
the model it explains is destroyed does not explain the model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from torch import nn

from ..errors import ParameterError, ShapeError, UnsupportedOperationError
from .curves import _as_chips, _as_maps, _outputs, resolve_base


def faithfulness_correlation(model, chips, maps, target, *, subset: int = 224, runs: int = 100, baseline=0.0,
                             seed: int = 0, batch_size: int | None = None, removed=None) -> np.ndarray:
    """(B,) faithfulness correlation of (B, h, w) maps of (B, 3, h, w) chips for ``target``.

    ``target``: a Target / callable outputs (B, ...) → (B,), or a list of one per chip (a pair's
    two faces have different targets: the similarity to the *other* face). ``baseline``: what
    removed pixels become (a number, ``"blur"`` or a tensor like the chips).

    ``removed``: optional (B, R, 1 or 3, h, w) 0/1 masks, what each of R runs removes, instead of
    ``runs`` seeded subsets of ``subset`` pixels. A (…, 3, h, w) mask removes single channel values;
    each removed value is attributed its pixel's map value (quantus' convention for images, see
    :mod:`facewidget.evaluate.quantus_adapter`): the attributed sum is Σ removed · map.
    """
    dev = model.device
    c = _as_chips(chips, dev)
    b, _, h, w = c.shape
    m = _as_maps(maps, b, (h, w)).to(torch.float64)
    if removed is not None:
        removed = torch.as_tensor(np.asarray(removed, dtype=np.float32)) if not isinstance(removed, torch.Tensor) \
            else removed.float()
        if removed.ndim != 5 or removed.shape[0] != b or removed.shape[2] not in (1, 3) or \
                tuple(removed.shape[-2:]) != (h, w) or removed.shape[1] < 3:
            raise ShapeError(f"removed must be ({b}, R >= 3, 1 or 3, {h}, {w}) masks; got {tuple(removed.shape)}")
    elif not 1 <= int(subset) < h * w:
        raise ParameterError("subset", subset, f"an int in [1, {h * w})")
    elif int(runs) < 3:
        raise ParameterError("runs", runs, "an int >= 3")
    targets = list(target) if isinstance(target, (list, tuple)) else [target] * b
    if len(targets) != b:
        raise ShapeError(f"{len(targets)} targets for {b} chips")
    base = resolve_base(baseline, c)
    if isinstance(base, str):
        raise ParameterError("baseline", baseline, "a number, 'blur' or a tensor like the chips")
    bs = batch_size or getattr(model, "batch_size", 32)
    g = torch.Generator().manual_seed(int(seed))
    out = np.empty(b)
    with torch.no_grad():
        for i in range(b):
            if removed is None:
                idx = torch.stack([torch.randperm(h * w, generator=g)[:subset] for _ in range(int(runs))])  # (R, subset)
                gone = torch.zeros(int(runs), h * w)
                gone.scatter_(1, idx, 1.0)
                gone = gone.reshape(-1, 1, h, w)
            else:
                gone = removed[i]  # (R, 1 or 3, h, w)
            gone = gone.to(dev)
            perturbed = c[i:i + 1] * (1 - gone) + base[i:i + 1] * gone
            clean = targets[i](_outputs(model, c[i:i + 1], bs)).double().cpu()
            drops = (clean - targets[i](_outputs(model, perturbed, bs)).double().cpu()).numpy()
            attributed = (gone.double() * m[i]).sum((1, 2, 3)).cpu().numpy()
            if np.std(drops) == 0 or np.std(attributed) == 0:
                out[i] = 0.0
            else:
                out[i] = float(stats.pearsonr(attributed, drops).statistic)
    return out


@dataclass
class RandomisationStep:
    """One step of the cascade: ``layer`` re-initialised (with all layers above it).

    ``spearman``, ``spearman_abs``, ``ssim``: means over the maps of the per-map values, which
    ``spearman_maps`` and ``spearman_abs_maps`` keep (one per map, in the order of the maps).
    """

    layer: str
    spearman: float
    spearman_abs: float
    ssim: float
    spearman_maps: list[float] = field(default_factory=list)
    spearman_abs_maps: list[float] = field(default_factory=list)


@dataclass
class RandomisationResult:
    """The cascade, output layer first; ``original`` = the maps of the trained model."""

    steps: list[RandomisationStep] = field(default_factory=list)
    original: np.ndarray | None = None

    def as_dict(self) -> dict:
        return {"steps": [vars(s) for s in self.steps]}


def parameter_layers(network: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters directly, in forward-definition order (input → output)."""
    return [(n, m) for n, m in network.named_modules() if n and any(True for _ in m.parameters(recurse=False))]


def _reinitialise(module: nn.Module, generator_seed: int) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator_seed)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
            return
        with torch.no_grad():
            for p in module.parameters(recurse=False):
                p.normal_(0.0, float(p.std()) if p.numel() > 1 else 1.0)


def _compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, list[float], list[float]]:
    """Per map (Adebayo et al. compare each input's map with its randomised map, then average):
    (mean Spearman, mean Spearman of |maps|, mean SSIM, Spearman per map, Spearman of |maps| per map)."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError:  # scikit-image is in the test / demo extras, not a core dependency
        raise UnsupportedOperationError("the randomisation test's SSIM needs scikit-image: "
                                        "pip install scikit-image") from None

    def spear(x, y):
        if np.std(x) == 0 or np.std(y) == 0:
            return 0.0
        return float(stats.spearmanr(x.ravel(), y.ravel()).statistic)

    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    scale = (hi - lo) or 1.0
    a2, b2 = ((a - lo) / scale).reshape(-1, *a.shape[-2:]), ((b - lo) / scale).reshape(-1, *b.shape[-2:])
    ssim = float(np.mean([structural_similarity(x, y, data_range=1.0) for x, y in zip(a2, b2)]))  # per map
    signed = [spear(x, y) for x, y in zip(a2, b2)]  # ranks: the common affine scaling changes nothing
    absolute = [spear(np.abs(x), np.abs(y)) for x, y in zip(a.reshape(a2.shape), b.reshape(b2.shape))]
    return float(np.mean(signed)), float(np.mean(absolute)), ssim, signed, absolute


def model_parameter_randomisation(model, explain_fn, *, layers: list[str] | None = None, seed: int = 0
                                  ) -> RandomisationResult:
    """Cascading randomisation (see the module doc).

    Args:
        model: a FaceModel with a torch network (``model.network``).
        explain_fn: ``explain_fn(model) -> (h, w)`` (or (K, h, w)) signed map(s) for a fixed input
            and target, e.g. ``lambda m: fw.explain_pair(a, b, m, n=1000).a.maps["signed"]``.
            Targets that depend on the model (a pair's similarity) are recomputed by it.
        layers: names (of :func:`parameter_layers`) to randomise, in cascade order from the
            output; default all of them, output first.
        seed: seeds the re-initialisation.
    Returns:
        :class:`RandomisationResult`, one step per layer.
    """
    net = getattr(model, "network", None)
    if not isinstance(net, nn.Module):
        raise UnsupportedOperationError(f"{model.config.name} has no torch network to randomise")
    original = np.asarray(explain_fn(model), dtype=np.float64)
    work = copy.copy(model)
    work.network = copy.deepcopy(net)
    named = dict(parameter_layers(work.network))
    order = list(reversed(list(named))) if layers is None else list(layers)
    unknown = [n for n in order if n not in named]
    if unknown:
        raise ParameterError("layers", unknown, f"names of parameterised layers: {list(named)}")
    work.runtime = "torch"  # each step changes the weights: exporting a graph per step would cost more than it saves
    result = RandomisationResult(original=original)
    for k, name in enumerate(order):
        _reinitialise(named[name], seed * 100003 + k)
        maps = np.asarray(explain_fn(work), dtype=np.float64)
        result.steps.append(RandomisationStep(name, *_compare(original, maps)))
    return result
