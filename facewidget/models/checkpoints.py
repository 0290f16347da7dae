"""User checkpoints of known architectures: insightface ``iresnet`` and facenet-pytorch ``InceptionResnetV1``.

Checkpoints are read with ``torch.load(..., weights_only=True)`` (no arbitrary pickles) and must
hold a state_dict in the upstream key layout, optionally wrapped as ``{"state_dict": ...}`` or
``{"model": ...}`` and/or prefixed ``module.`` (DataParallel). A checkpoint whose keys or shapes do
not match the architecture is refused with a :class:`~facewidget.errors.ModelError` that names the
missing and unexpected keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..data.assets import sha256_file
from ..errors import ModelError
from .base import FaceModel, ModelConfig
from .inception_resnet_v1 import OPTIONAL_KEY_PREFIXES, InceptionResnetV1
from .iresnet import IRESNET_LAYERS, build_iresnet


@dataclass(frozen=True)
class Architecture:
    """A supported checkpoint architecture: how to build it and how to feed it."""

    name: str
    build: Callable[[], nn.Module]
    config: dict
    optional_prefixes: tuple[str, ...] = ()


_ARCFACE = dict(task="identity", input_size=(112, 112), template="arcface-112", mean=(127.5,) * 3, std=(127.5,) * 3,
                colour_order="RGB", embedding_size=512, similarity="cosine", threshold=0.3)
ARCHITECTURES: dict[str, Architecture] = {
    arch: Architecture(arch, lambda arch=arch: build_iresnet(arch), dict(_ARCFACE, name=arch))
    for arch in IRESNET_LAYERS
}
ARCHITECTURES["inception_resnet_v1"] = Architecture(
    "inception_resnet_v1", InceptionResnetV1,
    dict(name="inception_resnet_v1", task="identity", input_size=(160, 160), template="arcface-112", padding=0.0,
         mean=(127.5,) * 3, std=(128.0,) * 3, colour_order="RGB", embedding_size=512, similarity="cosine",
         threshold=0.4),
    optional_prefixes=OPTIONAL_KEY_PREFIXES,
)
ALIASES = {"r18": "iresnet18", "r34": "iresnet34", "r50": "iresnet50", "r100": "iresnet100",
           "facenet": "inception_resnet_v1", "inceptionresnetv1": "inception_resnet_v1"}


def resolve_arch(arch: str) -> Architecture:
    key = ALIASES.get(arch.lower().replace("-", "_"), arch.lower().replace("-", "_"))
    key = ALIASES.get(key, key)
    if key not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)} "
                         f"(aliases {', '.join(ALIASES)})")
    return ARCHITECTURES[key]


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A checkpoint's state_dict, loaded safely (``weights_only=True``) and unwrapped."""
    try:
        obj = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"no checkpoint at {path}") from None
    except Exception as exc:  # noqa: BLE001 - unpickling errors have many types
        raise ModelError(f"{path} cannot be loaded with weights_only=True ({type(exc).__name__}: {exc}). "
                         "Save the model's state_dict (torch.save(model.state_dict(), path)), "
                         "not a pickled model.") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_state_dict_strict(module: nn.Module, state: dict[str, torch.Tensor], *, source: str,
                           optional_prefixes: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``module`` or raise ModelError naming missing/unexpected/mis-shaped keys."""
    state = {k: v for k, v in state.items() if not k.startswith(optional_prefixes)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                    for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or shapes:
        def head(keys):
            return ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")

        parts = []
        if missing:
            parts.append(f"missing keys [{head(missing)}]")
        if unexpected:
            parts.append(f"unexpected keys [{head(unexpected)}]")
        if shapes:
            parts.append(f"shape mismatches [{head(shapes)}]")
        raise ModelError(f"{source} does not match the architecture: " + "; ".join(parts))
    module.load_state_dict(state)


def load_checkpoint(path: str | os.PathLike, arch: str, *, config: dict | None = None, **kwargs) -> FaceModel:
    """A :class:`FaceModel` from a checkpoint of a known architecture (see :data:`ARCHITECTURES`)."""
    spec = resolve_arch(arch)
    network = spec.build()
    state = read_state_dict(path)
    load_state_dict_strict(network, state, source=f"checkpoint {os.fspath(path)} ({spec.name})",
                           optional_prefixes=spec.optional_prefixes)
    sha = sha256_file(path)
    cfg = dict(spec.config, weights_sha256=sha, extra={"checkpoint": os.fspath(path), "arch": spec.name})
    cfg.update(config or {})
    return FaceModel(network, ModelConfig(**cfg), **kwargs)
