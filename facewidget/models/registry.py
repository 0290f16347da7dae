"""``load_model``: one entry point for built-in models, user checkpoints, modules and ONNX files."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ..errors import ModelError
from .base import FaceModel, ModelConfig
from .builtin import BUILTIN, load_dlib_resnet
from .checkpoints import ALIASES, ARCHITECTURES, load_checkpoint
from .runtime import RUNTIMES


def available_models() -> list[str]:
    """Names :func:`load_model` accepts without a file."""
    return list(BUILTIN)


def load_model(name_or_path, *, arch: str | None = None, config: ModelConfig | dict | None = None,
               weights: str | os.PathLike | None = None, device=None, batch_size: int = 32,
               runtime: str = "auto", **overrides) -> FaceModel:
    """Load a face model.

    Args:
        name_or_path: one of
            * a built-in name: ``"dlib-resnet"`` (identity, 128-D, Euclidean < 0.6), ``"dlib-gender"``,
              ``"dlib-age"`` (``weights=`` may point at the file instead of the fetched asset);
            * a checkpoint path with ``arch=`` ``"iresnet18" | "iresnet34" | "iresnet50" | "iresnet100"``
              (aliases r18 … r100) or ``"inception_resnet_v1"`` (alias facenet), loaded with
              ``weights_only=True``;
            * a ``.onnx`` file (black box through onnxruntime; ``config=`` describes its input);
            * a dlib ``.dat`` face ResNet file;
            * an ``nn.Module`` with ``config=`` (a :class:`ModelConfig` or dict).
        device: torch device (default: CUDA when available); batch_size: chips per forward pass.
        runtime: ``"auto"`` (gradient-free forwards through ONNX Runtime on CPU when the network
            exports; see :mod:`facewidget.models.runtime`) or ``"torch"``.
        **overrides: :class:`ModelConfig` fields to change (e.g. ``threshold=0.35``).
    Raises:
        ModelError: unknown name, missing file, or a checkpoint that does not match its architecture.
    """
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be one of {RUNTIMES}; got {runtime!r}")
    kw = dict(device=device, batch_size=batch_size)
    if isinstance(name_or_path, nn.Module):
        if config is None:
            raise ModelError("a module needs config= (a ModelConfig or a dict of its fields)")
        model = FaceModel.from_module(name_or_path, config, **kw)
    elif isinstance(name_or_path, str) and name_or_path in BUILTIN:
        model = BUILTIN[name_or_path](weights, **kw)
    elif isinstance(name_or_path, (str, os.PathLike)):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ModelError(f"{name_or_path!r} is neither a built-in model ({', '.join(BUILTIN)}) nor a file")
        if arch is not None:
            model = load_checkpoint(path, arch, config=_as_dict(config), **kw)
        elif path.suffix.lower() == ".onnx":
            from .onnx_model import OnnxFaceModel

            model = OnnxFaceModel(path, config, **kw)
        elif path.suffix.lower() == ".dat":
            model = load_dlib_resnet(path, **kw)
        else:
            raise ModelError(f"{path}: say which architecture it holds with arch= (one of "
                             f"{', '.join(ARCHITECTURES)}; aliases {', '.join(ALIASES)})")
    else:
        raise ModelError(f"load_model takes a name, a path or an nn.Module; got {type(name_or_path).__name__}")
    model.runtime = runtime
    if isinstance(name_or_path, (str, os.PathLike)):  # how to load it again (on a Dask worker)
        model.load_spec = {"name_or_path": str(name_or_path), "arch": arch,
                           "weights": None if weights is None else str(weights), "config": _as_dict(config),
                           "batch_size": batch_size, "runtime": runtime, "overrides": dict(overrides)}
    if overrides:
        try:
            model.reconfigure(**overrides)
        except TypeError as exc:
            raise ModelError(f"unknown config field in {sorted(overrides)}: {exc}") from None
    return model


def _as_dict(config) -> dict | None:
    if config is None or isinstance(config, dict):
        return config
    return {k: v for k, v in config.__dict__.items()}
