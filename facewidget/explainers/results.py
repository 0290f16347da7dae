"""Result objects of the explainers (the contract the widgets and canonical maps consume).

Conventions: chip-space maps are float32 (h, w) in the model's chip; photo-space maps are float32
(H, W) in the photo, 0 outside the chip's footprint. ``transform`` is the (2, 3) photo→chip
transform. Similar/dissimilar maps are >= 0; single-face maps may be signed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..faces import Face


@dataclass
class ExplainedFace:
    """One face of an explanation: the photo, the face, its chip and the maps (chip and photo space).

    Attributes:
        image: RGB uint8 (H, W, 3) photo.
        face: the :class:`~facewidget.faces.Face` explained.
        chip: RGB uint8 (h, w, 3) aligned chip the model saw.
        transform: float64 (2, 3) photo→chip transform.
        maps: name → float32 (h, w) chip-space map (e.g. ``"similar"``, ``"dissimilar"``, ``"saliency"``).
    """

    image: np.ndarray
    face: Face
    chip: np.ndarray
    transform: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    _photo_cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def photo_map(self, name: str) -> np.ndarray:
        """The named map warped onto the photo (float32 (H, W), cached)."""
        if name not in self._photo_cache:
            from ..align import warp_to_image

            self._photo_cache[name] = np.asarray(
                warp_to_image(self.maps[name], self.transform, self.image.shape), dtype=np.float32)
        return self._photo_cache[name]


@dataclass
class PairExplanation:
    """Why a pair matched or not.

    Attributes:
        a, b: :class:`ExplainedFace` with ``"similar"`` and ``"dissimilar"`` maps each.
        score: native verification score of the pair (distance for dlib, cosine otherwise).
        same: the model's decision at ``threshold``.
        threshold: the native threshold used.
        manifest: method, parameters, seed, model name and weights hash, versions, timings.
    """

    a: ExplainedFace
    b: ExplainedFace
    score: float
    same: bool
    threshold: float
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class Explanation:
    """A single-face explanation of a target (class logit/probability, expected age, similarity).

    Attributes:
        face: :class:`ExplainedFace` with a ``"saliency"`` map (may be signed) and optional others.
        target: description of the target (e.g. ``{"kind": "class", "index": 1, "label": "female"}``).
        value: the target's value on the unoccluded input.
        manifest: as for :class:`PairExplanation`.
    """

    face: ExplainedFace
    target: dict[str, Any]
    value: float
    manifest: dict[str, Any] = field(default_factory=dict)
