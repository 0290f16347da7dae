"""Run the `quantus <https://github.com/understandable-machine-intelligence-lab/Quantus>`_ metrics
(Hedström et al., JMLR 2023) on facewidget's maps of similarity targets.

Quantus evaluates classifiers: ``model(x)[i, y_i]`` is the score explained for row i. A face pair
has no classes, so the adapter hands quantus a :class:`SimilarityClassifier`: an ``nn.Module``
whose column j is the model's oriented similarity (higher = more similar) to reference j, and
``y_i`` = the reference of chip i. The adapter gives every chip its own reference (for a pair:
reference i = the other face), so ``y = [0, 1, …, B − 1]``.

Conventions handed to quantus:
    x_batch: (B, 3, h, w) float32 numpy, RGB, values in [0, 1] (our chips, channel first);
        the classifier applies the model's own normalisation (and BGR flip) inside.
    y_batch: (B,) int64 numpy, the column (reference) each chip is explained for.
    a_batch: (B, 1, h, w) float32 numpy, the signed map (higher = more evidence for the target);
        quantus broadcasts it over the 3 channels.

How quantus' definitions differ from the papers and from ours (facewidget.evaluate.faithfulness,
curves), checked on quantus 0.6.0:
    * Features are channel values, not pixels. Its faithfulness correlation (Bhatt et al. 2020)
      draws subsets of ``subset`` of the 3·h·w channel values (ours: of the h·w pixels, all
      channels at once) and attributes each removed value its pixel's map value. Given the same
      removed values, the two agree: :func:`~facewidget.evaluate.faithfulness.faithfulness_correlation`
      accepts them as ``removed`` (per-channel masks), and ``return_removed=True`` returns the
      ones quantus drew.
    * Its pixel flipping (like most of its faithfulness metrics) scores softmax probabilities by
      default; the columns here are similarities, not logits of exclusive classes, so the adapter
      passes ``softmax=False`` to every metric.
    * Its ``"black"`` baseline is each image's minimum value, not 0; the adapter passes the
      number ``baseline`` (default 0.0 = black) instead.
    * Its pixel flipping (the deletion curve, Bach et al. 2015) ranks the channel values by the
      broadcast map; on a map without ties a pixel's three values are adjacent in that order, so
      steps of 3·k values remove whole pixels: the curve is our deletion curve (black fill) at
      fractions k/(h·w), 2k/(h·w), … Ties are ordered by numpy's sort (ours: by the seed).
    * Its MPRT (Adebayo et al. 2018) re-initialises every module that has ``reset_parameters``
      (ours: every module that owns parameters), from the output to the input, with
      ``torch.manual_seed(seed + 1)`` before *every* layer (so same-shaped layers get the same
      draws; ours seeds each layer differently), and compares by Spearman rank correlation of the
      absolute maps, each divided by its maximum (= our ``spearman_abs_maps``). It reports a score for
      the unchanged model too (``"original"``: 1 for a deterministic explainer).

Not adapted: quantus' ROAD scores whether the argmax class survives the imputation, which a
similarity target does not have (:func:`~facewidget.evaluate.curves.single_curve` with
``base="road"`` is our ROAD curve). Under NumPy 2 quantus' AUC helper fails (it calls
``np.trapz``, removed in NumPy 2.4): the adapter returns the pixel-flipping curve, and
:func:`~facewidget.evaluate.curves.auc` integrates it.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError, ShapeError, UnsupportedOperationError
from ..errors import MissingExtraError
from .curves import _as_chips, _as_maps

QUANTUS_VERSION = "0.6.0"
"""The quantus release the adapter is tested with (``make`` installs exactly this one)."""

INSTALL_HINT = (f'pip install "facewidget[quantus]" && pip install --no-deps quantus=={QUANTUS_VERSION} '
                "(--no-deps: quantus declares opencv-python, which would replace the opencv-contrib-python "
                "that mediapipe needs; its other dependencies are in the quantus extra)")

METRICS = ("faithfulness_correlation", "pixel_flipping", "mprt")


def require_quantus():
    """The ``quantus`` module, or :class:`~facewidget.errors.MissingExtraError` saying how to install it."""
    try:
        import quantus
    except ImportError as exc:
        raise MissingExtraError(f"the quantus adapter needs the quantus package ({exc}): {INSTALL_HINT}") from None
    return quantus


class _Shared:
    """Holds an object that ``copy.deepcopy`` shares instead of copying (quantus deep-copies the
    classifier to randomise it; the FaceModel only lends its preprocessing and similarity)."""

    def __init__(self, obj):
        self.obj = obj

    def __deepcopy__(self, memo):
        return self


class SimilarityClassifier(nn.Module):
    """The "classifier" quantus evaluates: ``forward(x)`` (B, 3, h, w) RGB in [0, 1] → (B, R), column
    j = ``model.similarity`` of x's embedding to reference j (higher = more similar).

    ``references``: (R, D) embeddings (fixed), or (R, 3, h, w) chips embedded by this module's own
    network at every call, so a randomised copy (quantus' MPRT) compares against the references as
    *it* embeds them, as :func:`~facewidget.evaluate.faithfulness.model_parameter_randomisation`
    does with a pair's targets.
    """

    def __init__(self, model, references: torch.Tensor):
        super().__init__()
        if not isinstance(getattr(model, "network", None), nn.Module):
            raise UnsupportedOperationError(f"{model.config.name} has no torch network for quantus to run")
        model._require_identity()
        self.network = model.network
        self._face = _Shared(model)
        refs = torch.as_tensor(references).detach().float().to(model.device)
        if refs.ndim not in (2, 4):
            raise ShapeError(f"references must be (R, D) embeddings or (R, 3, h, w) chips; got {tuple(refs.shape)}")
        self.register_buffer("reference_chips", model.check_chips(refs) if refs.ndim == 4 else None)
        self.register_buffer("reference_embeddings", refs if refs.ndim == 2 else None)
        self.eval()

    def embed(self, chips: torch.Tensor) -> torch.Tensor:
        return self.network(self._face.obj.preprocess(chips)).float()

    def references(self) -> torch.Tensor:
        """(R, D) reference embeddings under this module's network."""
        if self.reference_chips is not None:
            return self.embed(self.reference_chips)
        return self.reference_embeddings.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._face.obj.similarity(self.embed(x)[:, None, :], self.references()[None])


def explain_function(model, explain, *, seed: int = 0) -> Callable:
    """A quantus ``explain_func(model, inputs, targets, **kw) -> (B, 1, h, w)`` that runs one of our
    explainers on the (possibly randomised) :class:`SimilarityClassifier` quantus passes.

    ``explain``: a registered method name (``"occlusion"``, ``"integrated_gradients"``, …; run
    with ``seed``) or ``explain(model, chips, targets) -> (B, h, w)`` signed maps, ``targets`` a
    list of :class:`~facewidget.explainers.targets.SimilarityTarget` to the classifier's references.
    """
    from ..explainers.base import get_method
    from ..explainers.targets import SimilarityTarget

    if isinstance(explain, str):
        method = get_method(explain)

        def explain(m, chips, targets):
            return method(m, chips, targets, seed=seed).saliency
    elif not callable(explain):
        raise ParameterError("explain", explain, "a method name or a callable (model, chips, targets) -> (B, h, w)")

    def explain_func(model: SimilarityClassifier, inputs, targets, **_):
        view = copy.copy(model._face.obj)
        view.network = model.network
        view.runtime = "torch"  # the weights change with every step: no exported graph
        chips = torch.as_tensor(np.asarray(inputs), dtype=torch.float32, device=view.device)
        with torch.no_grad():
            refs = model.references()
        tgts = [SimilarityTarget(view, refs[int(t)]) for t in np.asarray(targets).reshape(-1)]
        maps = np.asarray(explain(view, chips, tgts), dtype=np.float32)
        return maps.reshape(len(chips), 1, *chips.shape[-2:])

    return explain_func


def to_quantus(model, chips, maps, target=None, *, reference_chips=None):
    """(classifier, x_batch, y_batch, a_batch) for quantus (conventions: see the module doc).

    Exactly one of ``target`` (a :class:`~facewidget.explainers.targets.SimilarityTarget` or a
    list of one per chip: fixed reference embeddings) and ``reference_chips`` ((B, 3, h, w): chip
    i explains its similarity to reference_chips[i], re-embedded by the model being evaluated).
    """
    from ..explainers.targets import SimilarityTarget

    c = model.check_chips(_as_chips(chips, model.device))
    b = c.shape[0]
    m = _as_maps(maps, b, tuple(c.shape[-2:]))
    if (target is None) == (reference_chips is None):
        raise ParameterError("target", target, "given, or reference_chips given instead (exactly one of the two)")
    if reference_chips is not None:
        refs = model.check_chips(_as_chips(reference_chips, model.device))
        if refs.shape != c.shape:
            raise ShapeError(f"reference_chips must be like the chips {tuple(c.shape)}; got {tuple(refs.shape)}")
        references = refs
        y = np.arange(b)
    else:
        targets = list(target) if isinstance(target, (list, tuple)) else [target] * b
        if len(targets) != b or not all(isinstance(t, SimilarityTarget) for t in targets):
            raise ParameterError("target", target, f"a SimilarityTarget or a list of {b} of them (one per chip)")
        embs = [torch.atleast_2d(t.reference.detach().float().to(model.device)) for t in targets]
        if any(e.shape[0] != 1 for e in embs):
            raise ShapeError("each SimilarityTarget must hold one reference embedding (D,)")
        references = torch.cat(embs)
        y = np.arange(b)
    classifier = SimilarityClassifier(model, references)
    x = c.detach().cpu().numpy().astype(np.float32)
    a = m.detach().cpu().numpy().astype(np.float32)[:, None]
    return classifier, x, y.astype(np.int64), a


@contextlib.contextmanager
def _numpy_seed(seed: int):
    """Quantus draws from numpy's global generator: seed it here and restore the caller's state after."""
    state = np.random.get_state()
    np.random.seed(int(seed))
    try:
        yield
    finally:
        np.random.set_state(state)


def quantus_metrics(model, chips, maps, target=None, *, reference_chips=None,
                    metrics: Sequence[str] = ("faithfulness_correlation", "pixel_flipping"), explain=None,
                    subset: int = 224, runs: int = 100, baseline: float = 0.0, steps: int = 12, seed: int = 0,
                    batch_size: int = 64, return_removed: bool = False) -> dict[str, Any]:
    """Quantus' metrics on our maps of a similarity target.

    Args:
        model: an identity FaceModel with a torch network.
        chips: (B, 3, h, w) RGB in [0, 1]. maps: (B, h, w) signed maps (higher = more evidence).
        target, reference_chips: what the maps explain (see :func:`to_quantus`).
        metrics: any of ``"faithfulness_correlation"`` (quantus.FaithfulnessCorrelation: ``subset``
            channel values, ``runs`` runs, ``baseline`` fill, Pearson), ``"pixel_flipping"``
            (quantus.PixelFlipping: ``steps`` steps of h·w/steps pixels set to ``baseline``;
            ``steps`` must be a multiple of 3 dividing h·w, e.g. 12 for 150×150 chips) and
            ``"mprt"`` (quantus.MPRT, cascading from the output; needs ``explain``).
        explain: for ``"mprt"``: a method name or a callable (see :func:`explain_function`) that
            made ``maps``; it is rerun on each randomised model.
        seed: numpy's global generator for the subsets, MPRT's torch seed (both generators are
            restored afterwards) and the explainer's.
        return_removed: also return the (B, runs, 3, h, w) uint8 masks of the channel values
            quantus removed in each faithfulness run (for
            :func:`~facewidget.evaluate.faithfulness.faithfulness_correlation`'s ``removed``).
    Returns:
        ``{"quantus": version, "faithfulness_correlation": [B floats], "pixel_flipping": {"fractions":
        [steps], "values": [B][steps]} (the target after each step, clean point excluded as quantus
        does), "mprt": {"layers": [names, output first], "original": [B], "scores": {layer: [B]}}}``
        with the metrics asked for.
    """
    quantus = require_quantus()
    unknown = [m for m in metrics if m not in METRICS]
    if isinstance(metrics, str) or unknown or not metrics:
        raise ParameterError("metrics", metrics, f"a non-empty sequence of {METRICS}")
    if "mprt" in metrics and explain is None:
        raise ParameterError("explain", explain, "a method name or callable when metrics include 'mprt'")
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
        raise ParameterError("baseline", baseline, "a number (the value removed channel values become)")
    classifier, x, y, a = to_quantus(model, chips, maps, target, reference_chips=reference_chips)
    b, _, h, w = x.shape
    common = dict(model=classifier, x_batch=x, y_batch=y, a_batch=a, channel_first=True,
                  device=str(model.device), batch_size=int(batch_size), softmax=False)
    out: dict[str, Any] = {"quantus": getattr(quantus, "__version__", "?")}
    if "faithfulness_correlation" in metrics:
        if not 1 <= int(subset) < 3 * h * w or int(runs) < 3:
            raise ParameterError("subset", (subset, runs), f"subset in [1, {3 * h * w}) and runs >= 3")
        drawn: list[np.ndarray] = []

        def recording_perturb(arr, indices, **kwargs):
            drawn.append(np.array(indices))
            return quantus.functions.perturb_func.batch_baseline_replacement_by_indices(arr=arr, indices=indices,
                                                                                        **kwargs)

        metric = quantus.FaithfulnessCorrelation(nr_runs=int(runs), subset_size=int(subset), abs=False, normalise=False,
                                                 perturb_func=recording_perturb, perturb_baseline=float(baseline),
                                                 return_aggregate=False, disable_warnings=True)
        with _numpy_seed(seed):
            out["faithfulness_correlation"] = [float(v) for v in metric(**{**common, "batch_size": max(b, 1)})]
        if return_removed:
            masks = np.zeros((b, len(drawn), 3 * h * w), dtype=np.uint8)
            for r, idx in enumerate(drawn):
                masks[np.arange(b)[:, None], r, idx] = 1
            out["faithfulness_correlation_removed"] = masks.reshape(b, len(drawn), 3, h, w)
    if "pixel_flipping" in metrics:
        # quantus needs its step (3·per_step channel values) to divide h·w
        if not (1 <= int(steps) <= h * w and int(steps) % 3 == 0 and (h * w) % int(steps) == 0):
            raise ParameterError("steps", steps, f"a multiple of 3 that divides h·w = {h * w} (quantus' step "
                                                 "of 3·h·w/steps channel values must divide h·w)")
        per_step = h * w // int(steps)
        metric = quantus.PixelFlipping(features_in_step=3 * per_step, perturb_baseline=float(baseline), abs=False,
                                       normalise=False, return_aggregate=False, disable_warnings=True)
        values = np.asarray(metric(**common), dtype=np.float64)
        done = np.minimum(np.arange(1, values.shape[1] + 1) * per_step, h * w)
        out["pixel_flipping"] = {"fractions": (done / (h * w)).tolist(), "values": values.tolist()}
    if "mprt" in metrics:
        metric = quantus.MPRT(layer_order="top_down", seed=int(seed), return_aggregate=False, disable_warnings=True)
        cuda = [model.device.index or 0] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # quantus calls torch.manual_seed: keep the caller's generator
            scores = metric(**common, explain_func=explain_function(model, explain, seed=seed))
        original = scores.pop("original")
        out["mprt"] = {"layers": [k.removeprefix("network.") for k in scores], "original": [float(v) for v in original],
                       "scores": {k.removeprefix("network."): [float(v) for v in vals] for k, vals in scores.items()}}
    return out
