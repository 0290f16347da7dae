"""Named facial regions on MediaPipe's canonical face.

Every region is a set of mesh triangles (and the vertices they use), derived from MediaPipe's
mesh topology, not drawn by hand:

* The **seed contours** are MediaPipe's published landmark index sets: the ``FACEMESH_*``
  connection sets of ``mediapipe.tasks.python.vision.FaceLandmarksConnections`` (lips, eyes,
  eyebrows, nose, face oval) and the eye rings of the MediaPipe/TF.js face-mesh annotations
  (``leftEyeUpper0/1/2``, ``leftEyeLower0..3``). They are written out below for the subject's
  left side; the right side is their mirror image (vertex ``i`` ↔ the vertex at ``(-x, y, z)``),
  so the left/right regions are exact mirrors.
* **Assignment rule**, applied to each triangle's centroid in uv (texture) coordinates, which is
  a planar embedding of the mesh, in this priority order:

  1. ``upper_lip`` / ``lower_lip``: inside the outer lip contour; above / below the midline
     between the upper and lower inner lip contours.
  2. ``left_eye`` / ``right_eye``: inside the polygon bounded above by the lower edge of the
     eyebrow and below by the ``EyeLower2`` ring (eye, eyelids and the eye socket).
  3. ``left_brow`` / ``right_brow``: inside the polygon between the eyebrow's upper and lower edge
     contours (extended to the eyebrow's ends).
  4. ``nose``: inside the convex hull of ``FACEMESH_NOSE`` plus the nasion (168) and the inner ends
     of the ``EyeLower3`` rings (bridge between the eyes).
  5. ``jaw`` (face contour): triangles touching the face oval (``FACEMESH_FACE_OVAL``) below the
     eyebrows, and everything lateral to the outer eye corner below the brow line (temple to
     jaw angle: the side of the face).
  6. ``forehead``: the rest above the eyebrows' lower edge.
  7. ``chin``: the rest below the mouth-corner line and between the mouth corners' verticals
     widened by ``CHIN_WIDEN``; the philtrum (below the nose, above the mouth-corner line, within
     ``PHILTRUM_WIDTH`` of the mouth half-width) joins ``upper_lip`` (the skin part of the upper lip).
  8. ``nose`` also takes what is left between the inner eye corners above their level (bridge).
  9. ``left_cheek`` / ``right_cheek``: the rest, split by the midline (u = 0.5).

Result (triangles per region, all 898 assigned): forehead 62, left/right_brow 11 each,
left/right_eye 92 each, nose 164, left/right_cheek 82 each, upper_lip 86 (with the philtrum),
lower_lip 68, chin 58, jaw 90. ``regions()[name].to_dict()`` lists the triangle and vertex
indices; ``outline`` gives the boundary edges to draw.

Conventions: "left"/"right" are the **subject's** own; the subject's left is x > 0 in the
canonical mesh (image right in a frontal photo), u > 0.5 in uv. uv has v = 0 at the top.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import FacewidgetError
from .mesh import CanonicalFace, canonical_face

# --- MediaPipe landmark index sets (subject's LEFT side where sided) ---------------------------
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
LIPS_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)
NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 294, 278, 344, 440, 275, 45, 220, 115, 48, 64)
# Eye rings, outer corner → inner corner (MediaPipe/TF.js face-mesh annotations).
LEFT_EYE_UPPER0 = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER0 = (263, 249, 390, 373, 374, 380, 381, 382, 362)
LEFT_EYE_UPPER2 = (342, 445, 444, 443, 442, 441, 413)
LEFT_EYE_LOWER2 = (446, 261, 448, 449, 450, 451, 452, 453, 464)
LEFT_EYE_LOWER3 = (372, 340, 346, 347, 348, 349, 350, 357, 465)
# Eyebrow edges, outer end → inner end (FACEMESH_LEFT_EYEBROW, extended by the annotation's ends).
LEFT_EYEBROW_UPPER = (383, 300, 293, 334, 296, 336, 285, 417)
LEFT_EYEBROW_LOWER = (265, 353, 276, 283, 282, 295, 285)
NASION = 168

CHIN_WIDEN = 1.15
PHILTRUM_WIDTH = 0.6

REGION_NAMES = ("forehead", "left_brow", "right_brow", "left_eye", "right_eye", "nose", "left_cheek",
                "right_cheek", "upper_lip", "lower_lip", "chin", "jaw")


class RegionError(FacewidgetError, KeyError):
    """An unknown region name was asked for."""


@dataclass(frozen=True, eq=False)
class Region:
    """One named region of the canonical face.

    Attributes:
        name: e.g. ``"left_eye"`` (subject's left).
        triangles: int64 (T,) indices into ``CanonicalFace.triangles``.
        vertices: int64 (V,) sorted mesh vertex indices used by those triangles.
        outline: int64 (K, 2) boundary edges (vertex index pairs) of the region: edges used by
            exactly one of its triangles. Draw them in uv or photo coordinates.
    """

    name: str
    triangles: np.ndarray
    vertices: np.ndarray
    outline: np.ndarray

    def outline_uv(self, mesh: CanonicalFace | None = None) -> np.ndarray:
        """(K, 2, 2) outline segments in uv (u, v in [0, 1], v = 0 at the top)."""
        mesh = mesh or canonical_face()
        return mesh.uv[self.outline]

    def to_dict(self) -> dict:
        """JSON-ready lists: ``name``, ``triangles``, ``vertices``, ``outline`` (vertex pairs)."""
        return {"name": self.name, "triangles": self.triangles.tolist(), "vertices": self.vertices.tolist(),
                "outline": self.outline.tolist()}

    def outline_points(self, landmarks: np.ndarray) -> np.ndarray:
        """(K, 2, 2) outline segments in photo pixels given a face's (>=468, 2|3) landmarks."""
        return np.asarray(landmarks)[:, :2][self.outline]


@lru_cache(maxsize=1)
def mirror_index() -> np.ndarray:
    """(468,) int: ``mirror_index()[i]`` is the vertex at the mirror position (-x, y, z) of vertex i."""
    v = canonical_face().vertices.astype(np.float64)
    flipped = v * np.array([-1.0, 1.0, 1.0])
    d = ((v[None, :, :] - flipped[:, None, :]) ** 2).sum(-1)
    return d.argmin(1)


def _mirror(indices) -> tuple[int, ...]:
    m = mirror_index()
    return tuple(int(m[i]) for i in indices)


def _in_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test; points (N, 2), poly (K, 2)."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = poly[:, 0][None], poly[:, 1][None]
    x1, y1 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return ((crosses & (x < xint)).sum(1) % 2) == 1


def _convex_hull(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull

    return points[ConvexHull(points).vertices]


def _interp_curve(uv: np.ndarray, chain, u: np.ndarray) -> np.ndarray:
    """v of the polyline through ``chain`` (mesh indices) at abscissae ``u`` (clamped at its ends)."""
    p = uv[list(chain)]
    order = np.argsort(p[:, 0])
    return np.interp(u, p[order, 0], p[order, 1])


def _assign(mesh: CanonicalFace) -> np.ndarray:
    """(T,) region index into REGION_NAMES, or -1 for unassigned."""
    uv = mesh.uv.astype(np.float64)
    tri = mesh.triangles
    c = uv[tri].mean(1)
    label = np.full(len(tri), -1, dtype=np.int64)
    idx = {n: i for i, n in enumerate(REGION_NAMES)}

    def put(mask, name):
        m = mask & (label < 0)
        label[m] = idx[name]

    # 1. lips
    lips = uv[list(LIPS_UPPER_OUTER) + list(LIPS_LOWER_OUTER[::-1][1:-1])]
    inside_lips = _in_polygon(c, lips)
    mid = 0.5 * (_interp_curve(uv, LIPS_UPPER_INNER, c[:, 0]) + _interp_curve(uv, LIPS_LOWER_INNER, c[:, 0]))
    put(inside_lips & (c[:, 1] <= mid), "upper_lip")
    put(inside_lips & (c[:, 1] > mid), "lower_lip")
    # 2-3. eyes and brows, each side
    for side, flip in (("left", False), ("right", True)):
        f = _mirror if flip else (lambda s: s)
        brow_lo, brow_up, low2 = f(LEFT_EYEBROW_LOWER), f(LEFT_EYEBROW_UPPER), f(LEFT_EYE_LOWER2)
        eye_poly = uv[list(brow_lo) + list(low2[::-1])]
        put(_in_polygon(c, eye_poly), f"{side}_eye")
        brow_poly = uv[list(brow_up) + list(brow_lo[::-1])]
        put(_in_polygon(c, brow_poly), f"{side}_brow")
    # 4. nose
    nose_pts = list(NOSE) + [NASION, LEFT_EYE_LOWER3[-1], _mirror(LEFT_EYE_LOWER3)[-1]]
    put(_in_polygon(c, _convex_hull(uv[nose_pts])), "nose")
    # 5. jaw / contour
    brow_line = np.where(c[:, 0] >= 0.5, _interp_curve(uv, LEFT_EYEBROW_LOWER, c[:, 0]),
                         _interp_curve(uv, _mirror(LEFT_EYEBROW_LOWER), c[:, 0]))
    on_oval = np.isin(tri, FACE_OVAL).any(1)
    outer_u = abs(uv[LEFT_EYE_LOWER2[0], 0] - 0.5)
    lateral = np.abs(c[:, 0] - 0.5) > outer_u
    below_brows = c[:, 1] > brow_line
    put((on_oval | lateral) & below_brows, "jaw")
    # 6. forehead
    put(~below_brows, "forehead")
    # 7. chin, and the philtrum (the skin part of the upper lip, between nose and lips)
    corner_v = uv[list(MOUTH_CORNERS), 1].mean()
    corner_u = abs(uv[MOUTH_CORNERS[1], 0] - 0.5)
    put((c[:, 1] > corner_v) & (np.abs(c[:, 0] - 0.5) <= corner_u * CHIN_WIDEN), "chin")
    subnasale_v = uv[list(NOSE), 1].max()
    put((c[:, 1] > subnasale_v) & (c[:, 1] <= corner_v) & (np.abs(c[:, 0] - 0.5) <= corner_u * PHILTRUM_WIDTH),
        "upper_lip")
    # 8. the bridge between the inner eye corners (left over by the hull): nose
    inner = LEFT_EYE_LOWER2[-1]
    put((np.abs(c[:, 0] - 0.5) < abs(uv[inner, 0] - 0.5)) & (c[:, 1] < uv[inner, 1]), "nose")
    # 9. cheeks
    put(c[:, 0] >= 0.5, "left_cheek")
    put(c[:, 0] < 0.5, "right_cheek")
    return label


def _outline(triangles: np.ndarray) -> np.ndarray:
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    if not len(edges):
        return np.zeros((0, 2), dtype=np.int64)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    return uniq[counts == 1].astype(np.int64)


@lru_cache(maxsize=1)
def triangle_labels() -> np.ndarray:
    """(898,) int64: the index into :data:`REGION_NAMES` of every canonical triangle (-1: none)."""
    out = _assign(canonical_face())
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def regions() -> dict[str, Region]:
    """All named regions, ``{name: Region}``, in :data:`REGION_NAMES` order."""
    mesh = canonical_face()
    labels = triangle_labels()
    out = {}
    for i, name in enumerate(REGION_NAMES):
        t = np.flatnonzero(labels == i)
        tris = mesh.triangles[t]
        out[name] = Region(name=name, triangles=t, vertices=np.unique(tris).astype(np.int64),
                           outline=_outline(tris))
    return out


def region(name: str) -> Region:
    """The :class:`Region` called ``name`` (see :data:`REGION_NAMES`)."""
    try:
        return regions()[name]
    except KeyError:
        raise RegionError(f"unknown region {name!r}; known: {', '.join(REGION_NAMES)}") from None


def region_label_texture(resolution: int = 256) -> np.ndarray:
    """(R, R) int16 region index of every texel of the uv texture (-1 outside the mesh)."""
    from .atlas import uv_atlas

    atlas = uv_atlas(resolution)
    labels = triangle_labels()
    out = np.full(atlas.triangle.shape, -1, dtype=np.int16)
    inside = atlas.triangle >= 0
    out[inside] = labels[atlas.triangle[inside]]
    return out
