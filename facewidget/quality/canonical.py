"""Activation maps on the canonical face: the analyses without pose blur.

A **projector** is any callable ``projector(photo_map, face) -> texture``: it takes a photo-space
map (float32 (H, W), 0 outside the chip) and the :class:`~facewidget.Face` it belongs to, and
returns a fixed-shape array on the canonical face (per-vertex values (468,), a UV texture (t, t),
...). The canonical branch's ``facewidget.canonical.project(map, face)`` has this signature; any
other projector (e.g. one that samples the map at the mesh vertices) works the same way.

:class:`CanonicalSpace` bundles the projector with how to mirror its textures left↔right (for the
symmetrised deviation): ``mirror=None`` uses ``np.fliplr`` for 2-D textures and skips the
symmetrised deviation otherwise; pass e.g. a vertex permutation for per-vertex textures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..align import warp_to_image
from ..errors import ShapeError


@dataclass
class CanonicalSpace:
    """``projector(photo_map, face) -> texture`` plus an optional ``mirror(texture) -> texture``."""

    projector: Callable
    mirror: Callable | None = None
    name: str = "canonical"

    def mirror_fn(self, shape) -> Callable | None:
        if self.mirror is not None:
            return self.mirror
        return np.fliplr if len(shape) == 2 else None

    def project(self, chip_maps: np.ndarray, aligned, faces) -> np.ndarray:
        """(B, h, w) chip maps → (B, *texture) through each face's photo (``aligned`` = the chips' AlignedFaces)."""
        if faces is None:
            raise ShapeError("canonical analyses need faces with a mesh (build the batch from photos)")
        out = []
        for i, (m, face) in enumerate(zip(chip_maps, faces)):
            photo_map = warp_to_image(np.asarray(m, dtype=np.float32), aligned.transforms[i].numpy(),
                                      aligned.image_sizes[i])
            tex = np.asarray(self.projector(np.asarray(photo_map, dtype=np.float32), face), dtype=np.float64)
            if out and tex.shape != out[0].shape:
                raise ShapeError(f"the projector returned shape {tex.shape} after {out[0].shape}: textures must "
                                 "have one fixed shape")
            out.append(tex)
        return np.stack(out)


def mediapipe_space(resolution: int = 64) -> CanonicalSpace:
    """MediaPipe's canonical face through :func:`facewidget.canonical.project`: (R, R) uv textures.

    Texels of triangles a face turns away from the camera are NaN (unobserved) and left out of the
    statistics of that texel. The uv layout is mirror-symmetric (u ↔ 1 − u to within 1e-3), so
    ``np.fliplr`` mirrors the face left↔right.
    """
    from ..canonical import project

    def projector(photo_map, face):
        return project(photo_map, face, resolution=resolution).texture

    return CanonicalSpace(projector, mirror=np.fliplr, name=f"mediapipe-canonical-{resolution}")


def as_canonical_space(canonical) -> CanonicalSpace | None:
    """None, ``"mediapipe"`` (:func:`mediapipe_space`), a projector callable, or a :class:`CanonicalSpace`."""
    if canonical is None or isinstance(canonical, CanonicalSpace):
        return canonical
    if canonical == "mediapipe":
        return mediapipe_space()
    if callable(canonical):
        return CanonicalSpace(canonical)
    raise ShapeError(f"canonical= must be a projector callable (photo_map, face) -> texture or a CanonicalSpace; "
                     f"got {type(canonical).__name__}")
