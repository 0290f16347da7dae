"""What every explainer shares: its result at chip level, the registry, and small helpers.

An explainer is a function ``compute(model, chips, targets, *, seed, progress, cancel,
progress_interval, **params) -> MethodMaps``:

* ``chips``: (K, 3, h, w) float32 RGB in [0, 1] on the model's device, ``targets``: K targets.
* It returns one **signed** chip map per chip (positive = the pixels raise the target) and optional
  extra maps. A pair is two chips with similarity targets (A vs emb(B), B vs emb(A)); the API splits
  the signed map into ``similar = max(map, 0)`` and ``dissimilar = max(-map, 0)``.
* Progress updates carry ``maps`` = (K, h, w) float32 signed maps so far.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError, UnsupportedOperationError, ParameterError
from ..models.locks import network_lock


@dataclass
class MethodMaps:
    """Chip-level result of an explainer.

    Attributes:
        saliency: float32 (K, h, w) signed maps, one per chip.
        extra: per chip, further named maps (e.g. xSSAB's ``"positive"``/``"negative"``).
        params: the parameters actually used (defaults filled in).
        timings: seconds per phase (see :class:`~facewidget.explainers.engine.Timings`).
        done, total: work items finished / planned (less than total for a cancelled run, or an
            ``n="auto"`` run that became stable before ``n_max``).
        reliability: for ``n="auto"`` runs, the split-half reliability the maps reached.
    """

    saliency: np.ndarray
    extra: list[dict[str, np.ndarray]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    done: int = 0
    total: int = 0
    reliability: float | None = None  # split-half reliability reached (n="auto" runs)


Explainer = Callable[..., MethodMaps]

METHODS: dict[str, Explainer] = {}
BLACK_BOX: set[str] = set()


def register(name: str, *, black_box: bool):
    """Decorator: register an explainer under ``name``."""

    def deco(fn):
        METHODS[name] = fn
        if black_box:
            BLACK_BOX.add(name)
        fn.method_name = name
        fn.black_box = black_box
        return fn

    return deco


def get_method(name: str) -> Explainer:
    from . import corrrise, gradcam, gradcampp, integrated_gradients, occlusion, rise, scorecam, xssab  # noqa: F401

    if not isinstance(name, str) or name not in METHODS:
        raise ParameterError("method", name, f"one of {sorted(METHODS)}")
    return METHODS[name]


# -- helpers -------------------------------------------------------------------------------------


# Parameters several methods share, checked in one place: name -> (kind, what is allowed).
# "count": an integer >= 1 (None where the default is None); "positive": a finite number > 0;
# "fraction": a number in (0, 1); "number": any finite number. A method-specific string (such as
# n="auto") passes through to the method, which checks it.
PARAMETER_KINDS: dict[str, tuple[str, str]] = {
    "n": ("count", "an integer >= 2 (masks)"),
    "patches": ("count", "an integer >= 1"),
    "cells": ("count", "an integer >= 1"),
    "steps": ("count", "an integer >= 1"),
    "window": ("count", "an integer >= 1 (pixels) or None"),
    "stride": ("count", "an integer >= 1 (pixels) or None"),
    "batch_size": ("count", "an integer >= 1 or None"),
    "channels": ("count", "an integer >= 2 or None"),
    "patch": ("positive", "a size in pixels > 0"),
    "keep": ("fraction", "a probability in (0, 1)"),
    "threshold": ("number", "a finite number or None"),
}
STRING_PASSES = {"n": ("auto",)}


def check_seed(seed: Any) -> int:
    """The seed as an int; ParameterError unless it is an integer in [0, 2**63)."""
    import numbers

    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ParameterError("seed", seed, "an integer in [0, 2**63)")
    return int(seed)


def check_parameter(name: str, value: Any, default: Any) -> None:
    """ParameterError unless ``value`` has the kind :data:`PARAMETER_KINDS` gives ``name``."""
    import math
    import numbers

    kind, allowed = PARAMETER_KINDS.get(name, (None, ""))
    if kind is None or (value is None and default is None) or value in STRING_PASSES.get(name, ()):
        return
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ParameterError(name, value, allowed)
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ParameterError(name, value, allowed)
    if (kind == "positive" and value <= 0) or (kind == "fraction" and not 0 < value < 1):
        raise ParameterError(name, value, allowed)


def method_params(method: str, defaults: dict, params: dict) -> dict:
    """``defaults`` updated with ``params``; ParameterError naming a parameter ``method`` does not
    know, or a shared parameter (:data:`PARAMETER_KINDS`) of the wrong kind."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ParameterError(unknown[0], params[unknown[0]], f"one of {method}'s parameters {sorted(defaults)}",
                             message=f"{method} got unknown parameters {unknown}; known: {sorted(defaults)}")
    for name, value in params.items():
        check_parameter(name, value, defaults[name])
    return {**defaults, **params}


def scale_px(pixels_at_112: float, size) -> int:
    """A length given at 112×112 scaled to a chip of ``size`` (h, w)."""
    return max(1, int(round(pixels_at_112 * min(size) / 112.0)))


def resolve_fill(fill, chip: torch.Tensor) -> float | torch.Tensor:
    """What occluded pixels become: a number (0 = black), ``"mean"`` (the chip's mean colour) or
    ``"blur"`` (a Gaussian-blurred chip, sigma = 1/16 of the chip side)."""
    if isinstance(fill, (int, float)) and not isinstance(fill, bool):
        if not math.isfinite(fill):
            raise ParameterError("fill", fill, "a finite number, 'mean' or 'blur'")
        return float(fill)
    if isinstance(fill, str) and fill == "mean":
        return chip.mean(dim=(1, 2), keepdim=True)
    if isinstance(fill, str) and fill == "blur":
        return gaussian_blur(chip[None], sigma=min(chip.shape[-2:]) / 16.0)[0]
    raise ParameterError("fill", fill, "a finite number, 'mean' or 'blur'")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, h, w) with reflect padding."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    pad = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    k = k[radius - pad:radius + pad + 1]
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def require_gradients(model, method: str) -> nn.Module:
    """The model's torch network, or UnsupportedOperationError for black-box models."""
    if not getattr(model, "differentiable", False) or not isinstance(getattr(model, "network", None), nn.Module):
        raise UnsupportedOperationError(
            f"{method} needs gradients, but {model.config.name} is a black-box model (differentiable=False); "
            "use a black-box method: corrrise, rise, occlusion or scorecam")
    return model.network


def resolve_layer(model, layer) -> tuple[str, nn.Module]:
    """(name, module) of the layer to explain through.

    ``layer``: an ``nn.Module`` inside the network, a dotted name from ``network.named_modules()``,
    or None for the default: the last ``Conv2d`` *or activation module following one* (ReLU family,
    so post-activation feature maps are preferred, as in Grad-CAM's use of block outputs) whose output
    is at least 7 pixels on its short side (the last such layer when none is), found with one probe
    forward pass.
    """
    net = getattr(model, "network", None)
    if not isinstance(net, nn.Module):
        raise UnsupportedOperationError(
            f"{model.config.name} exposes no torch network, so its layers' activations cannot be read; "
            "pass activations=callable(chips)->(B, C, h', w') or use corrrise, rise or occlusion")
    named = dict(net.named_modules())
    if isinstance(layer, nn.Module):
        for name, mod in named.items():
            if mod is layer:
                return name, mod
        raise ShapeError("the given layer is not a module of the model's network")
    if isinstance(layer, str):
        if layer not in named:
            convs = [n for n, m in named.items() if isinstance(m, nn.Conv2d)]
            raise ShapeError(f"no layer {layer!r} in {model.config.name}; conv layers: {convs}")
        return layer, named[layer]
    if layer is not None:
        raise ShapeError(f"layer must be a module, a name or None; got {type(layer).__name__}")
    activations = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SiLU, nn.GELU)
    convs, seen_conv = [], False
    for n, m in named.items():
        if isinstance(m, nn.Conv2d):
            seen_conv = True
            convs.append((n, m))
        elif seen_conv and isinstance(m, activations):
            convs.append((n, m))
    if not convs:
        raise UnsupportedOperationError(
            f"{model.config.name} has no torch Conv2d layer (a black-box or non-convolutional network): pass "
            "layer= a module of it, or activations=callable(chips)->(B, C, h', w') for Score-CAM")
    sizes: dict[str, tuple[int, int]] = {}

    owner = threading.get_ident()

    def recorder(name):
        def hook(mod, inputs, output):  # returns None: a forward hook's return value replaces the output
            if threading.get_ident() == owner and isinstance(output, torch.Tensor) and output.ndim == 4:
                sizes.setdefault(name, tuple(output.shape[-2:]))
        return hook

    with network_lock(model):
        hooks = [m.register_forward_hook(recorder(n)) for n, m in convs]
        try:
            h, w = model.config.input_size
            with torch.no_grad():
                model.forward_chips(torch.full((1, 3, h, w), 0.5, device=model.device))
        finally:
            for hk in hooks:
                hk.remove()
    convs = [(n, m) for n, m in convs if n in sizes]
    if not convs:
        raise UnsupportedOperationError(f"no conv layer of {model.config.name} ran in a forward pass; pass layer=")
    big = [(n, m) for n, m in convs if n in sizes and min(sizes[n]) >= 7]
    return (big or convs)[-1]


class ActivationRecorder:
    """Context manager: records a layer's output (keeping its graph) during forward passes.

    Only forwards of the thread that entered it are recorded (the hook sits on a network other
    threads may be running at the same time). With ``model`` given, the network's lock
    (:func:`facewidget.models.locks.network_lock`) is held for the whole block, so hooked
    computations on one model run one after the other.
    """

    def __init__(self, module: nn.Module, model=None):
        self.module, self.output = module, None
        self._hook: Any = None
        self._lock = network_lock(model) if model is not None else None

    def __enter__(self):
        owner = threading.get_ident()

        def hook(mod, inputs, output):
            if threading.get_ident() == owner:
                self.output = output

        if self._lock is not None:
            self._lock.acquire()
        try:
            self._hook = self.module.register_forward_hook(hook)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self._hook.remove()
        finally:
            if self._lock is not None:
                self._lock.release()
        return False


def to_chip_size(maps: torch.Tensor, size) -> torch.Tensor:
    """(B, C, h', w') → (B, C, h, w), bilinear, align_corners=False (pixel-centre geometry)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)
