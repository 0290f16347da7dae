"""The public entry points: :func:`explain_pair` and :func:`explain`.

Both take photos (anything :func:`facewidget.load_image` reads), find the face (largest, unless
given), align it with the model's own template, run one explainer on the chip(s) and return result
objects with chip-space maps (and photo-space maps through ``ExplainedFace.photo_map``) plus a
manifest that makes the result reproducible.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import platform
import time
from importlib import metadata
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ParameterError, ShapeError
from .base import BLACK_BOX, MethodMaps, check_seed, get_method
from .engine import ExplanationCancelled, ProgressUpdate, autocast_context, check_precision, precision_scope
from .results import ExplainedFace, Explanation, PairExplanation
from .targets import SimilarityTarget, resolve_target


# -- manifest ------------------------------------------------------------------------------------


def package_versions() -> dict[str, str | None]:
    """Versions of the packages a result depends on (None when not installed)."""
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> dict[str, str | None]:
    # looked up once per process: importlib.metadata scans sys.path on every call, which was 30 %
    # of a small Grad-CAM's time in a data-set run (measured: 0.26 s of 0.87 s for 40 chips)
    out: dict[str, str | None] = {}
    for name in ("facewidget", "torch", "numpy", "mediapipe", "onnxruntime"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out["facewidget"] is None:
        from .. import __version__

        out["facewidget"] = __version__
    out["python"] = platform.python_version()
    return out


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.nn.Module):
        return type(value).__name__
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return repr(value)


def runtime_used(model, method: str | None = None, precision: str = "fp32") -> str | None:
    """What actually ran the method's forwards: the model's gradient-free runtime (ONNX Runtime on
    CPU when the network exports) for black-box methods at float32; torch for gradient methods and
    for fp16 / bf16 (autocast), even when an ONNX graph exists."""
    if method is not None and (method not in BLACK_BOX or precision != "fp32") \
            and isinstance(getattr(model, "network", None), torch.nn.Module):
        return f"torch {torch.__version__}"
    return getattr(model, "runtime_in_use", None)


def model_info(model, method: str | None = None, precision: str = "fp32") -> dict[str, Any]:
    c = model.config
    return {"name": c.name, "weights_sha256": c.weights_sha256, "task": c.task, "input_size": list(c.input_size),
            "similarity": c.similarity if c.task == "identity" else None, "threshold": c.threshold,
            "differentiable": bool(getattr(model, "differentiable", False)),
            "runtime": runtime_used(model, method, precision)}


def build_manifest(method: str, result: MethodMaps, model, seed: int, timings: dict, *, cancelled: bool = False,
                   precision: str = "fp32", **more) -> dict[str, Any]:
    if result.reliability is not None:  # n="auto": how many masks it took and how stable the maps are
        more = {"n_used": int(result.done), "reliability": round(float(result.reliability), 6), **more}
    return {
        "method": method,
        "params": _jsonable(result.params),
        "seed": int(seed),
        "model": model_info(model, method, precision),
        "versions": package_versions(),
        "device": str(model.device),
        "precision": precision,
        "timings": {**{k: round(v, 6) for k, v in timings.items()}, "method": result.timings},
        "done": result.done,
        "total": result.total,
        "cancelled": cancelled,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **_jsonable(more),
    }


# -- helpers -------------------------------------------------------------------------------------


def chip_uint8(chip: torch.Tensor) -> np.ndarray:
    """(3, h, w) float [0, 1] → (h, w, 3) uint8."""
    return (chip.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _prepare(img, model, face):
    from ..faces import detect_face
    from ..io import load_image

    image = load_image(img)
    if face is None:
        face = detect_face(image)
    aligned = model.align(image, [face])
    return image, face, aligned.chips[0].to(model.device), aligned.transforms[0].cpu().numpy()


def pair_chip_maps(result: MethodMaps, i: int) -> dict[str, np.ndarray]:
    """similar / dissimilar (and extra) maps of chip i of a pair result."""
    extra = result.extra[i] if result.extra else {}
    if "positive" in extra and "negative" in extra:  # xSSAB gives both directly
        maps = {"similar": extra["positive"], "dissimilar": extra["negative"]}
    else:
        s = result.saliency[i]
        maps = {"similar": np.maximum(s, 0), "dissimilar": np.maximum(-s, 0)}
    maps["signed"] = result.saliency[i]
    maps.update({k: v for k, v in extra.items() if k not in ("positive", "negative")})
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in maps.items()}


def _relay_progress(progress, convert: Callable[[Any], Any]):
    """Forward the engine's updates to ``progress`` with their live maps in the public layout
    (``convert`` runs only when a callback reads ``update.maps``)."""
    if progress is None:
        return None

    def wrapped(update: ProgressUpdate):
        def maps():
            live = update.maps
            return None if live is None else convert(live)

        progress(ProgressUpdate(update.done, update.total, update.elapsed_s, maps, update.phase, update.reliability))

    return wrapped


def _pair_live_maps(live) -> dict:
    extra = {}
    if isinstance(live, dict):  # signed maps with their p_value / significant maps
        extra = {k: v for k, v in live.items() if k != "signed"}
        live = live["signed"]
    return {key: {"similar": np.maximum(live[i], 0).astype(np.float32),
                  "dissimilar": np.maximum(-live[i], 0).astype(np.float32),
                  **{k: v[i] for k, v in extra.items()}}
            for i, key in enumerate(("a", "b"))}


def _single_live_maps(live) -> dict:
    if isinstance(live, dict):
        return {("saliency" if k == "signed" else k): v[0] for k, v in live.items()}
    return {"saliency": live[0]}


def _gradient_autocast(model, method: str):
    """Gradient methods run their forwards (and backwards) under the precision scope's autocast;
    black-box methods set it per forward batch in the engine."""
    import contextlib

    if method in BLACK_BOX:
        return contextlib.nullcontext()
    return autocast_context(model.device, None)


# -- public API ----------------------------------------------------------------------------------


def explain_pair(img_a, img_b, model, method: str = "corrrise", *, faces=None, seed: int = 0, progress=None,
                 cancel=None, progress_interval: float = 0.25, precision: str = "fp32", **params) -> PairExplanation:
    """Explain why ``model`` finds two faces similar or not.

    Args:
        img_a, img_b: photos (array, path, bytes, PIL image; see :func:`facewidget.load_image`).
        model: an identity :class:`~facewidget.models.FaceModel`.
        method: ``"corrrise"`` (default), ``"rise"``, ``"occlusion"``, ``"scorecam"`` (black box),
            ``"gradcam"``, ``"xssab"``, ``"integrated_gradients"`` (need gradients).
        faces: ``(face_a, face_b)`` (either may be None) to pick faces; default the largest ones.
        seed: seed of the random masks (same seed → same maps on CPU).
        progress: ``progress(update)`` with ``update.done``, ``update.total``, ``update.maps`` =
            ``{"a": {"similar", "dissimilar"[, "p_value", "significant"]}, "b": {...}}`` so far and
            ``update.reliability`` (``n="auto"``; see the engine's docs).
        cancel: a ``threading.Event`` or callable; the run stops within one batch and raises
            :class:`~facewidget.explainers.engine.ExplanationCancelled` (a ``CancelledError``) whose
            ``partial`` is a PairExplanation of what was done (``manifest["cancelled"]`` True),
            or None when nothing was.
        precision: ``"fp32"`` (default, every device), or ``"fp16"`` / ``"bf16"`` (opt-in: forwards
            under torch autocast); recorded as ``manifest["precision"]``.
        **params: the method's parameters (see each method's module; unknown ones raise ParameterError).
    Returns:
        :class:`PairExplanation`: ``a`` and ``b`` each with chip maps ``similar``, ``dissimilar``
        (>= 0), ``signed`` (similar − dissimilar; xSSAB also ``combined``); perturbation methods
        (corrrise, rise, occlusion) also ``p_value`` (per pixel, in [0, 1]) and ``significant``
        (0/1, Benjamini–Hochberg at ``fdr``); ``score`` (native),
        ``same`` and ``threshold`` (None when the model has no threshold), ``manifest`` (with
        ``n_used`` and ``reliability`` when ``n="auto"``).
    """
    t0 = time.perf_counter()
    check_precision(precision)
    if model.config.task != "identity":
        raise ShapeError(f"explain_pair needs an identity model; {model.config.name} is a {model.config.task} model")
    fn = get_method(method)
    seed = check_seed(seed)
    face_a, face_b = (None, None) if faces is None else tuple(faces)
    image_a, face_a, chip_a, tr_a = _prepare(img_a, model, face_a)
    image_b, face_b, chip_b, tr_b = _prepare(img_b, model, face_b)
    chips = torch.stack([chip_a, chip_b])
    with torch.no_grad():
        emb = model.embed(chips).float()
    score = float(model.score(emb[0], emb[1])[0])
    threshold = model.config.threshold
    same = bool(model.same(torch.tensor(score))) if threshold is not None else None
    targets = [SimilarityTarget(model, emb[1]), SimilarityTarget(model, emb[0])]
    prep_s = time.perf_counter() - t0

    def assemble(result: MethodMaps, cancelled: bool) -> PairExplanation:
        faces_out = [ExplainedFace(image=img, face=f, chip=chip_uint8(c), transform=tr, maps=pair_chip_maps(result, i))
                     for i, (img, f, c, tr) in enumerate(((image_a, face_a, chip_a, tr_a), (image_b, face_b, chip_b, tr_b)))]
        timings = {"prepare_s": prep_s, "total_s": time.perf_counter() - t0}
        manifest = build_manifest(method, result, model, seed, timings, cancelled=cancelled, kind="pair",
                                  precision=precision, black_box=method in BLACK_BOX)
        return PairExplanation(a=faces_out[0], b=faces_out[1], score=score, same=same, threshold=threshold,
                               manifest=manifest)

    try:
        with precision_scope(precision), _gradient_autocast(model, method):
            result = fn(model, chips, targets, seed=seed, progress=_relay_progress(progress, _pair_live_maps),
                        cancel=cancel, progress_interval=progress_interval, **params)
    except ExplanationCancelled as stop:
        stop.partial = assemble(stop.partial, True) if isinstance(stop.partial, MethodMaps) else None
        raise
    return assemble(result, False)


def explain(img, model, target=None, method: str = "corrrise", *, face=None, reference=None, class_index=None,
            seed: int = 0, progress=None, cancel=None, progress_interval: float = 0.25, precision: str = "fp32",
            **params) -> Explanation:
    """Explain one face's ``target``.

    Args:
        img: a photo. face: which face (default: the largest).
        target: ``"similarity"`` (with ``reference`` = photo, chips or an embedding), a class index
            or label (logit), ``"logit"`` / ``"probability"`` (with ``class_index``, default the
            predicted class), ``"age"`` (expected age), a callable outputs (B, ...) → (B,), or None
            (similarity when ``reference`` is given, else the model's natural target).
        method, seed, progress, cancel, precision, **params: as for :func:`explain_pair`; progress maps are
            ``{"saliency": (h, w)}``.
    Returns:
        :class:`Explanation` whose face has a signed ``"saliency"`` chip map (positive = raises the
        target) plus method extras; ``value`` = the target on the unperturbed chip.
    """
    t0 = time.perf_counter()
    check_precision(precision)
    fn = get_method(method)
    seed = check_seed(seed)
    image, face, chip, tr = _prepare(img, model, face)
    tgt = resolve_target(target, model, chip, reference=reference, class_index=class_index)
    with torch.no_grad():
        value = float(tgt(model.forward_chips(chip[None]).float())[0])
    if not math.isfinite(value):
        raise ShapeError(f"the target is not finite on this face ({value})")
    prep_s = time.perf_counter() - t0

    def assemble(result: MethodMaps, cancelled: bool) -> Explanation:
        maps = {"saliency": result.saliency[0]}
        if result.extra:
            maps.update(result.extra[0])
        maps = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in maps.items()}
        ef = ExplainedFace(image=image, face=face, chip=chip_uint8(chip), transform=tr, maps=maps)
        timings = {"prepare_s": prep_s, "total_s": time.perf_counter() - t0}
        manifest = build_manifest(method, result, model, seed, timings, cancelled=cancelled, kind="single",
                                  precision=precision, target=tgt.describe(), black_box=method in BLACK_BOX)
        return Explanation(face=ef, target=tgt.describe(), value=value, manifest=manifest)

    try:
        with precision_scope(precision), _gradient_autocast(model, method):
            result = fn(model, chip[None], [tgt], seed=seed, progress=_relay_progress(progress, _single_live_maps),
                        cancel=cancel, progress_interval=progress_interval, **params)
    except ExplanationCancelled as stop:
        stop.partial = assemble(stop.partial, True) if isinstance(stop.partial, MethodMaps) else None
        raise
    return assemble(result, False)
