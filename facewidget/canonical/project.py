"""Photo-space maps → the canonical face (piecewise-affine per triangle through the face's mesh)."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .atlas import N_VERTICES, uv_atlas
from .canonical_map import CanonicalMap
from .raster import bilinear_normalised, to_normalised
from .visibility import DEFAULT_MIN_COSINE, check_landmarks, visible_triangles, visible_vertices


def check_photo_map(saliency_map, face=None) -> np.ndarray:
    """A photo-space map as float (H, W) array, or a ShapeError."""
    if hasattr(saliency_map, "detach"):
        saliency_map = saliency_map.detach().cpu().numpy()
    m = np.asarray(saliency_map)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or min(m.shape) == 0:
        raise ShapeError(f"a photo-space map must be (H, W); got {m.shape}")
    if not np.issubdtype(m.dtype, np.number) or np.issubdtype(m.dtype, np.complexfloating):
        raise ShapeError(f"a photo-space map must be real-valued; got {m.dtype}")
    size = tuple(getattr(face, "image_size", ()) or ())
    if face is not None and len(size) == 2 and min(size) > 0 and tuple(m.shape) != tuple(size):
        raise ShapeError(f"the map is {m.shape} but the face was found in a {size} photo; "
                         "warp chip maps to the photo first (facewidget.warp_to_image)")
    return m.astype(np.float32, copy=False)


def project(saliency_map, face, resolution: int = 256, *, min_cosine: float = DEFAULT_MIN_COSINE,
            metadata: dict | None = None) -> CanonicalMap:
    """Take a photo-space map onto the canonical face.

    Every texel of the canonical uv texture lies in one canonical triangle at known barycentric
    coordinates; the same barycentric combination of that triangle's three landmarks in the photo
    gives where to read the map (bilinear). Triangles the face turns away from the camera
    (normal at more than ``acos(min_cosine)`` from the view direction, from the face's 3-D
    landmarks) or that leave the photo are *unseen*: their texels are NaN and ``valid`` is False.

    Args:
        saliency_map: (H, W) map of the photo the face was found in (numpy or torch).
        face: :class:`~facewidget.faces.Face` with 478 (or 468) landmarks in that photo.
        resolution: side R of the (R, R) texture.
    Returns:
        :class:`CanonicalMap` with texture, valid mask, per-vertex values (the map sampled at
        each landmark; NaN for vertices of no visible triangle) and metadata.
    """
    lm = check_landmarks(face)
    m = check_photo_map(saliency_map, face)
    atlas = uv_atlas(resolution)
    vis = visible_triangles(_Sized(lm, m.shape), min_cosine=min_cosine)
    texel_ok = vis[atlas.texel_triangles]
    # Barycentric weights sum to 1, so normalising the 468 landmarks to grid_sample's [-1, 1]
    # first equals normalising every texel's photo position; one sampling pass for texels + vertices.
    grid_lm = to_normalised(lm[:N_VERTICES, :2], m.shape)
    grid = np.concatenate([atlas.photo_points(grid_lm), grid_lm])
    values = bilinear_normalised(m, grid)
    vvals = values[-N_VERTICES:]
    vvals[~visible_vertices(vis)] = np.nan
    values = values[:-N_VERTICES]
    values[~texel_ok] = np.nan
    texture = np.full(resolution * resolution, np.nan, dtype=np.float32)
    texture[atlas.texels] = values
    texture = texture.reshape(resolution, resolution)
    meta = {"source": "photo", "resolution": int(resolution), "min_cosine": float(min_cosine),
            "image_size": [int(s) for s in m.shape], "visible_triangles": int(vis.sum())}
    pose = getattr(face, "pose", None)
    if pose is not None:
        meta["pose"] = [float(p) for p in pose]
    meta.update(metadata or {})
    return CanonicalMap(texture=texture, valid=np.isfinite(texture), vertex_values=vvals,
                        triangle_visible=vis, metadata=meta)


class _Sized:
    def __init__(self, landmarks, size):
        self.landmarks = landmarks
        self.image_size = tuple(size)

