"""Which canonical triangles a face shows to the camera."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .mesh import canonical_face

DEFAULT_MIN_COSINE = 0.1  # triangles seen at more than ~84° from their normal are unreliable


def check_landmarks(face) -> np.ndarray:
    """The face's (478|468, 3) landmarks as float64, or a ShapeError."""
    lm = getattr(face, "landmarks", None)
    if lm is None:
        raise ShapeError(f"expected a facewidget Face with landmarks; got {type(face).__name__}")
    lm = np.asarray(lm, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] < 468 or lm.shape[1] < 2:
        raise ShapeError(f"a face needs (>=468, 2|3) landmarks; got {lm.shape}")
    if not np.isfinite(lm[:468]).all():
        raise ShapeError("the face's landmarks contain NaN or infinity")
    return lm


def triangle_cosines(face) -> np.ndarray:
    """(898,) cosine between each triangle's outward normal and the direction to the camera.

    From the face's 3-D landmarks (x, y pixels, y down; z MediaPipe's relative depth in the same
    scale, smaller = nearer). Positive = facing the camera; <= 0 = turned away. With 2-D
    landmarks only, the sign of the photo-space winding (uv-consistent = facing) gives ±1.
    """
    lm = check_landmarks(face)
    tri = canonical_face().triangles
    p = lm[:468]
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    e1, e2 = b[:, :2] - a[:, :2], c[:, :2] - a[:, :2]
    # canonical uv triangles all wind with negative signed area (x right, y down); a triangle
    # that keeps that winding in the photo faces the camera.
    area2 = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    if p.shape[1] < 3:
        return np.where(area2 < 0, 1.0, -1.0)
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    return np.where(norm > 0, -area2 / np.maximum(norm, 1e-12), -1.0)


def visible_triangles(face, min_cosine: float = DEFAULT_MIN_COSINE) -> np.ndarray:
    """(898,) bool: triangles facing the camera by more than ``min_cosine`` and inside the photo."""
    cos = triangle_cosines(face)
    vis = cos > min_cosine
    h, w = getattr(face, "image_size", (0, 0)) or (0, 0)
    if h and w:
        lm = check_landmarks(face)[:468, :2]
        tri = canonical_face().triangles
        inside = (lm[:, 0] >= -0.5) & (lm[:, 0] <= w - 0.5) & (lm[:, 1] >= -0.5) & (lm[:, 1] <= h - 0.5)
        vis &= inside[tri].all(1)
    return vis


def visible_vertices(triangle_visible: np.ndarray) -> np.ndarray:
    """(468,) bool: vertices used by at least one visible triangle."""
    tri = canonical_face().triangles
    out = np.zeros(468, dtype=bool)
    out[tri[triangle_visible].reshape(-1)] = True
    return out
