"""Canonical regions on photos: outlines and per-triangle labels for the photo views (display only).

A region of the canonical face is a set of triangles of MediaPipe's mesh. Every detected face has
the same mesh (its 478 landmarks), so a region has a place on every photo: the boundary edges of its
triangles (edges used by exactly one of them), drawn through that face's landmarks. The science
lives in :mod:`facewidget.canonical.regions`; this module only converts for the front end.

Wire format: outline segments are little-endian float32 ``(K, 4)`` bytes ``x0, y0, x1, y1`` in
photo pixels (x right, y down, pixel centres at integers); triangle labels are int16 per mesh
triangle, the index into ``region_names`` (-1: no region).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ParameterError, ShapeError


def outline_edges(mesh_triangles: np.ndarray, region_triangles: np.ndarray) -> np.ndarray:
    """(K, 2) vertex pairs bounding a set of triangles (edges used by exactly one of them)."""
    from ..canonical.regions import _outline

    tris = np.asarray(mesh_triangles)[np.asarray(region_triangles, np.int64)]
    return _outline(tris)


def outline_segments(landmarks: np.ndarray, edges: np.ndarray) -> bytes:
    """Float32 bytes of the (K, 4) photo-pixel segments of ``edges`` through a face's landmarks."""
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 2 or lm.shape[1] < 2 or (len(edges) and lm.shape[0] <= int(np.max(edges))):
        raise ShapeError(f"landmarks must be (>= 468, 2|3) face mesh points; got {lm.shape}")
    seg = lm[:, :2][np.asarray(edges, np.int64)].reshape(-1, 4)
    return np.ascontiguousarray(seg, dtype="<f4").tobytes()


def triangle_labels_bytes(n_triangles: int, regions: Sequence[tuple[str, np.ndarray]]) -> tuple[list[str], bytes]:
    """``(names, int16 bytes)``: the region index of every mesh triangle (-1: none)."""
    labels = np.full(n_triangles, -1, dtype="<i2")
    names = []
    for k, (name, tris) in enumerate(regions):
        names.append(str(name))
        labels[np.asarray(tris, np.int64)] = k
    return names, labels.tobytes()


def labelled_triangles(names: Sequence[str], labels: bytes, name: str) -> np.ndarray:
    """Indices of the triangles labelled ``name`` in a :func:`triangle_labels_bytes` table."""
    if name not in names:
        raise ParameterError("name", name, f"one of the view's regions {list(names)}")
    return np.flatnonzero(np.frombuffer(labels, dtype="<i2") == list(names).index(name))


def default_regions() -> list[tuple[str, np.ndarray]]:
    """The package's named canonical regions, ``[(name, triangle indices)]``."""
    from ..canonical.regions import regions

    return [(name, r.triangles) for name, r in regions().items()]
