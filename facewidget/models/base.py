"""One interface for every face model: :class:`ModelConfig` + :class:`FaceModel`.

A model carries its preprocessing (timm-style): input size, alignment template and padding,
normalisation, colour order. Chips enter as float32 RGB in [0, 1], (B, 3, h, w), the layout
:func:`facewidget.align_faces` produces; ``preprocess`` turns them into the network's input and
is differentiable, so gradient explainers can start from chips.

Similarity conventions
    ``score(e1, e2)`` is the model's native verification score (Euclidean distance for dlib,
    cosine for cosine models) and ``config.threshold`` is in the same unit; ``verify`` applies
    it. ``similarity(e1, e2)`` is always oriented *higher = more similar* (cosine, or the negative
    Euclidean distance): explainers use it as their target.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ..align import TEMPLATES, AlignedFaces, AlignmentTemplate, align_faces
from ..errors import NoFaceError, ShapeError, UnsupportedOperationError, ParameterError
from .runtime import RUNTIMES, fingerprint, has_hooks, onnxruntime_version, session_for
from .runtime import run as run_session


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to feed a model and read its output.

    Attributes:
        name: model id (e.g. ``"dlib-resnet"``).
        task: ``"identity"`` (embeddings), ``"classification"`` (logits) or ``"age"`` (81-class
            expected-age head).
        input_size: (height, width) of the network input.
        template: alignment template name (see :data:`facewidget.align.TEMPLATES`) or an
            :class:`AlignmentTemplate`; ``padding`` overrides its padding when not None.
        mean, std: per-channel, in the 0-255 pixel scale: ``x = (pixel - mean) / std``.
        colour_order: ``"RGB"`` or ``"BGR"`` (the network's input order).
        embedding_size: embedding length (identity models).
        classes: class labels (classifiers).
        similarity: ``"euclidean"`` or ``"cosine"`` (identity models).
        threshold: same-person threshold in the native score unit (distance < threshold for
            Euclidean, cosine >= threshold for cosine).
        weights_sha256: sha256 of the weights file the model was built from.
    """

    name: str
    task: str = "identity"
    input_size: tuple[int, int] = (112, 112)
    template: str | AlignmentTemplate = "arcface-112"
    padding: float | None = None
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    std: tuple[float, float, float] = (127.5, 127.5, 127.5)
    colour_order: str = "RGB"
    embedding_size: int | None = None
    classes: tuple[str, ...] | None = None
    similarity: str = "cosine"
    threshold: float | None = None
    weights_sha256: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def alignment_template(self) -> AlignmentTemplate:
        t = self.template if isinstance(self.template, AlignmentTemplate) else TEMPLATES[self.template]
        changes: dict[str, Any] = {}
        if tuple(t.size) != tuple(self.input_size):
            changes["size"] = tuple(self.input_size)
        if self.padding is not None:
            changes["padding"] = self.padding
        return t.with_(**changes) if changes else t

    def to_dict(self) -> dict:
        d = asdict(self)
        if isinstance(self.template, AlignmentTemplate):
            d["template"] = self.template.name
        return d


def state_dict_sha256(module: nn.Module) -> str:
    """A stable hash of a module's parameters and buffers (for models not built from one file)."""
    digest = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


class FaceModel:
    """A face model with its preprocessing. Build with :func:`facewidget.load_model`.

    Attributes:
        config: :class:`ModelConfig`.
        network: ``nn.Module`` on normalised tensors (None for black-box ONNX models).
        device: where the network runs (CUDA when available).
        batch_size: chips per forward pass in :meth:`embed`.
        runtime: what runs gradient-free forwards (:meth:`infer`): ``"auto"`` (ONNX Runtime on CPU
            when the network exports and matches torch, else torch; see
            :mod:`facewidget.models.runtime`) or ``"torch"`` (always eager torch).
    """

    differentiable = True

    def __init__(self, network: nn.Module, config: ModelConfig, *, device=None, batch_size: int = 32,
                 runtime: str = "auto"):
        from_file = config.weights_sha256 is not None  # else hashed here from the state dict
        if config.weights_sha256 is None and network is not None:
            config = replace(config, weights_sha256=state_dict_sha256(network))
        if runtime not in RUNTIMES:
            raise ParameterError("runtime", runtime, f"one of {RUNTIMES}")
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.network = network.eval().to(self.device)
        self.batch_size = batch_size
        self.runtime = runtime
        # how load_model can build this model again (set by load_model; what a Dask worker receives)
        self.load_spec: dict | None = None
        # the weights of the file config.weights_sha256 names: the exported graph may be cached on disk
        self._file_weights = ((self.network, fingerprint(self.network), config.weights_sha256)
                              if from_file and isinstance(self.network, nn.Module) else None)
        mean = torch.tensor(config.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(config.std, dtype=torch.float32).view(1, 3, 1, 1)
        self._mean, self._std = mean.to(self.device), std.to(self.device)

    def reconfigure(self, **changes) -> "FaceModel":
        """Change config fields in place (e.g. ``threshold``); keeps the normalisation tensors in step."""
        self.config = replace(self.config, **changes)
        self._mean = torch.tensor(self.config.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.config.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        return self

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_module(cls, module: nn.Module, config: ModelConfig | dict, **kwargs) -> "FaceModel":
        """Wrap any ``nn.Module`` with a config (a :class:`ModelConfig` or a dict of its fields)."""
        if isinstance(config, dict):
            config = ModelConfig(**config)
        return cls(module, config, **kwargs)

    def __repr__(self) -> str:
        c = self.config
        return f"FaceModel({c.name!r}, task={c.task!r}, input={c.input_size}, device={self.device})"

    # -- preprocessing ---------------------------------------------------------------------
    def check_chips(self, chips: torch.Tensor) -> torch.Tensor:
        if not isinstance(chips, torch.Tensor):
            chips = torch.as_tensor(np.asarray(chips))
        if chips.ndim == 3:
            chips = chips[None]
        h, w = self.config.input_size
        if chips.ndim != 4 or chips.shape[1] != 3 or tuple(chips.shape[-2:]) != (h, w):
            raise ShapeError(f"{self.config.name} needs chips of shape (B, 3, {h}, {w}); got {tuple(chips.shape)}")
        if not chips.is_floating_point():
            raise ShapeError(f"chips must be float in [0, 1]; got {chips.dtype}")
        return chips.to(self.device, torch.float32)

    def preprocess(self, chips: torch.Tensor) -> torch.Tensor:
        """Chips (B, 3, h, w) RGB in [0, 1] → the network's input. Differentiable."""
        x = self.check_chips(chips) * 255.0
        x = (x - self._mean) / self._std
        if self.config.colour_order.upper() == "BGR":
            x = x.flip(1)
        return x

    def align(self, image, faces=None) -> AlignedFaces:
        """Chips for ``faces`` of ``image`` (default: the largest detected face)."""
        from ..faces import detect_face
        from ..io import load_image

        img = load_image(image)
        if faces is None:
            faces = [detect_face(img)]
        return align_faces(img, faces, self.config.alignment_template(), device=self.device)

    # -- forward ---------------------------------------------------------------------------
    def forward_chips(self, chips: torch.Tensor) -> torch.Tensor:
        """Network output for chips in [0, 1] (embeddings or logits). Keeps gradients."""
        return self.network(self.preprocess(chips))

    def _fast_session(self):
        """The ONNX Runtime session :meth:`infer` uses now, or None (torch runs the network)."""
        if (getattr(self, "runtime", "auto") == "torch" or self.device.type != "cpu"
                or type(self).forward_chips is not FaceModel.forward_chips
                or not isinstance(self.network, nn.Module) or has_hooks(self.network)):
            return None
        return session_for(self.network, (3, *self.config.input_size), self.config.name,
                           file_weights=getattr(self, "_file_weights", None))

    def infer(self, chips: torch.Tensor) -> torch.Tensor:
        """Network output for chips in [0, 1], without gradients, by the fastest runtime available.

        Same values as :meth:`forward_chips` (to ~1e-6 relative); on CPU ONNX Runtime runs the
        network when it can (see ``runtime``). Forward hooks on the network make it use torch.
        """
        with torch.no_grad():
            session = self._fast_session()
            if session is None:
                return self.forward_chips(chips)
            return run_session(session, self.preprocess(chips))

    @property
    def runtime_in_use(self) -> str:
        """``"onnxruntime <version>"`` or ``"torch <version>"``: what :meth:`infer` runs (for manifests)."""
        if self._fast_session() is not None:
            return f"onnxruntime {onnxruntime_version()}"
        return f"torch {torch.__version__}"

    def _as_chips(self, x) -> torch.Tensor:
        """A photo (array/path/...), an :class:`AlignedFaces`, or chips → chips on the device."""
        if isinstance(x, AlignedFaces):
            return x.chips.to(self.device)
        if isinstance(x, torch.Tensor) and x.ndim in (3, 4) and x.is_floating_point() and x.shape[-3] == 3:
            return self.check_chips(x)
        return self.align(x).chips

    @torch.no_grad()
    def embed(self, x, faces=None) -> torch.Tensor:
        """Outputs for a photo (+ optional faces), an :class:`AlignedFaces` or chips; batched, no grad
        (through :meth:`infer`)."""
        chips = self.align(x, faces).chips if faces is not None else self._as_chips(x)
        if chips.shape[0] == 0:
            raise NoFaceError("nothing to embed: no chips")
        outs = [self.infer(chips[i:i + self.batch_size]) for i in range(0, chips.shape[0], self.batch_size)]
        return torch.cat(outs)

    # -- identity --------------------------------------------------------------------------
    def _require_identity(self):
        if self.config.task != "identity":
            raise UnsupportedOperationError(f"{self.config.name} is a {self.config.task} model, not an identity model")

    def score(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """Native verification score (distance for Euclidean models, cosine for cosine models)."""
        self._require_identity()
        e1, e2 = torch.atleast_2d(e1), torch.atleast_2d(e2)
        if self.config.similarity == "euclidean":
            return torch.linalg.vector_norm(e1 - e2, dim=-1)
        return torch.nn.functional.cosine_similarity(e1, e2, dim=-1)

    def similarity(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """Similarity oriented higher = more similar (cosine, or negative Euclidean distance)."""
        s = self.score(e1, e2)
        return -s if self.config.similarity == "euclidean" else s

    @property
    def oriented_threshold(self) -> float:
        """``config.threshold`` in :meth:`similarity` units."""
        t = self.config.threshold
        if t is None:
            raise UnsupportedOperationError(f"{self.config.name} has no verification threshold")
        return -t if self.config.similarity == "euclidean" else t

    def same(self, score) -> torch.Tensor | bool:
        """The decision for native score(s)."""
        t = self.config.threshold
        if t is None:
            raise UnsupportedOperationError(f"{self.config.name} has no verification threshold")
        return score < t if self.config.similarity == "euclidean" else score >= t

    def verify(self, a, b) -> tuple[float, bool]:
        """(native score, same person?) for two photos / chips."""
        s = self.score(self.embed(a), self.embed(b))[0]
        return float(s), bool(self.same(s))

    # -- classifiers -----------------------------------------------------------------------
    def _require_classifier(self):
        if self.config.task not in ("classification", "age"):
            raise UnsupportedOperationError(f"{self.config.name} is an {self.config.task} model, not a classifier")

    def probabilities(self, x, faces=None) -> torch.Tensor:
        """(B, classes) class probabilities (softmax of the network's logits); no grad."""
        self._require_classifier()
        return torch.softmax(self.embed(x, faces), dim=-1)

    def expected_age(self, x, faces=None) -> torch.Tensor:
        """(B,) expected age in years (age models: probabilities · class centres); no grad."""
        return self.target("expected_age")(self.embed(x, faces))

    # -- explanation targets -----------------------------------------------------------------
    def target(self, kind: str | None = None, index: int | None = None, *, reference=None, chips=None):
        """The one target system: a :class:`~facewidget.explainers.targets.Target`, a callable
        ``target(output) -> (B,) tensor`` on the network's output, used by explain, canonical
        (CIS / CMS) and quality alike. Differentiable (when the model is); keeps the batch dimension;
        ``describe()`` and ``__name__`` name it in manifests.

        Kinds:
            ``"logit"`` (alias ``"class"``): the logit of class ``index`` (classifiers and age
            models; ``index=None`` with ``chips`` = the class predicted on the first chip);
            ``"probability"``: the softmax probability of class ``index``;
            ``"expected_age"`` (alias ``"age"``): Σ p_k · centre_k in years (age models; centres
            from ``config.extra["age_centres"]``, dlib's 0.25, 1, …, 80 by default);
            ``"similarity"``: :meth:`similarity` to ``reference`` (a (D,) / (1, D) embedding, one
            per row (B, D), a photo or chips; without one, the first of ``chips`` itself),
            higher = more similar (identity models);
            ``"embedding"``: component ``index`` of the embedding (identity models);
            ``None``: the model's natural target (similarity for identity models, expected age for
            age models, the predicted logit for classifiers).
        """
        from ..explainers.targets import model_target

        return model_target(self, kind, index, reference=reference, chips=chips)
