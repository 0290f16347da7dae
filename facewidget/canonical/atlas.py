"""The uv atlas: which canonical triangle covers each texel, and where inside it.

Texture convention: a texture is an (R, R) array; texel ``[row, col]`` sits at
``u = (col + 0.5) / R``, ``v = (row + 0.5) / R`` (v = 0 at the top, like an image), so a texture
looks like a frontal photo of the face (the subject's left on the right).

The atlas is rasterised once per resolution and cached. With it

* a photo position for every texel of a face is one sparse (N_texels × 468) product with the
  face's landmarks (:meth:`UVAtlas.photo_points`), and
* per-vertex values become a texture by barycentric interpolation (:meth:`UVAtlas.splat`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from ..errors import ShapeError
from .mesh import canonical_face
from .raster import rasterise

N_VERTICES = 468
MAX_RESOLUTION = 2048


@dataclass(frozen=True, eq=False)
class UVAtlas:
    """Rasterised uv layout of the canonical face at one resolution.

    Attributes:
        resolution: R, the texture side.
        triangle: int32 (R, R) canonical triangle index per texel, -1 outside the mesh.
        barycentric: float32 (R, R, 3) barycentric coordinates of the texel centre in that
            triangle (0 outside the mesh).
        texels: int64 (N,) flat indices (row * R + col) of the texels inside the mesh.
        weights: CSR (N, 468) matrix: row n holds the barycentric weights of texel ``texels[n]``
            on its triangle's three vertices (rows sum to 1).
    """

    resolution: int
    triangle: np.ndarray
    barycentric: np.ndarray
    texels: np.ndarray
    weights: sp.csr_matrix

    @property
    def inside(self) -> np.ndarray:
        """(R, R) bool: texels covered by the mesh."""
        return self.triangle >= 0

    @property
    def texel_triangles(self) -> np.ndarray:
        """(N,) triangle index of each inside texel."""
        return self.triangle.reshape(-1)[self.texels]

    def photo_points(self, landmarks: np.ndarray) -> np.ndarray:
        """(N, 2) float64 photo x, y of every inside texel (piecewise-affine through the mesh).

        Args:
            landmarks: (>=468, 2|3) landmark array of a face, x, y in pixels.
        """
        pts = np.asarray(landmarks, dtype=np.float64)[:N_VERTICES, :2]
        if pts.shape[0] != N_VERTICES:
            raise ShapeError(f"photo_points needs {N_VERTICES} landmarks; got {pts.shape[0]}")
        return self.weights @ pts

    def splat(self, vertex_values: np.ndarray) -> np.ndarray:
        """(R, R) float32 texture interpolating per-vertex values barycentrically.

        A texel is NaN when any of its triangle's vertices is NaN (unseen) and outside the mesh.
        """
        vals = np.asarray(vertex_values, dtype=np.float64).reshape(-1)
        if vals.shape[0] != N_VERTICES:
            raise ShapeError(f"splat needs {N_VERTICES} vertex values; got {vals.shape[0]}")
        out = np.full(self.resolution * self.resolution, np.nan, dtype=np.float32)
        out[self.texels] = self.weights @ vals
        return out.reshape(self.resolution, self.resolution)


def _rasterise(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    mesh = canonical_face()
    texel_xy = mesh.uv.astype(np.float64) * resolution - 0.5  # texel centres: col = u·R − 0.5
    return rasterise(texel_xy, mesh.triangles, (resolution, resolution))


@lru_cache(maxsize=8)
def uv_atlas(resolution: int = 256) -> UVAtlas:
    """The (cached) :class:`UVAtlas` of the canonical face at ``resolution``."""
    if not isinstance(resolution, (int, np.integer)) or not 8 <= resolution <= MAX_RESOLUTION:
        raise ShapeError(f"texture resolution must be an int in [8, {MAX_RESOLUTION}]; got {resolution!r}")
    resolution = int(resolution)
    triangle, bary = _rasterise(resolution)
    mesh = canonical_face()
    flat_tri = triangle.reshape(-1)
    texels = np.flatnonzero(flat_tri >= 0)
    b = bary.reshape(-1, 3)[texels].astype(np.float64)
    b /= b.sum(1, keepdims=True)
    cols = mesh.triangles[flat_tri[texels]].astype(np.int64)
    rows = np.repeat(np.arange(len(texels)), 3)
    weights = sp.csr_matrix((b.reshape(-1), (rows, cols.reshape(-1))), shape=(len(texels), N_VERTICES))
    for arr in (triangle, bary):
        arr.setflags(write=False)
    return UVAtlas(resolution=resolution, triangle=triangle, barycentric=bary, texels=texels, weights=weights)
