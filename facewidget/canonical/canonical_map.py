""":class:`CanonicalMap`: a saliency map living on MediaPipe's canonical face."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ShapeError
from .atlas import N_VERTICES, uv_atlas
from .mesh import canonical_face
from .raster import bilinear, rasterise
from .regions import REGION_NAMES, region_label_texture
from .visibility import check_landmarks, visible_triangles


@dataclass(eq=False)
class CanonicalMap:
    """A map on the canonical face's uv texture, plus its per-vertex values.

    Attributes:
        texture: float32 (R, R) values; texel ``[row, col]`` at u = (col + 0.5)/R,
            v = (row + 0.5)/R (v = 0 at the top, a frontal view with the subject's left on the
            right). NaN where not ``valid``.
        valid: bool (R, R): texels inside the mesh on a triangle the photo showed. Unseen
            texels are *missing*, never zero: they are left out of every mean and sum.
        vertex_values: float32 (468,) the map at each mesh vertex (NaN: unseen).
        triangle_visible: bool (898,) triangles the source photo showed.
        metadata: what made the map (method, parameters, pose, image size, ...).
    """

    texture: np.ndarray
    valid: np.ndarray
    vertex_values: np.ndarray
    triangle_visible: np.ndarray
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        t = np.asarray(self.texture, dtype=np.float32)
        if t.ndim != 2 or t.shape[0] != t.shape[1]:
            raise ShapeError(f"a canonical texture must be square (R, R); got {t.shape}")
        v = np.asarray(self.valid, dtype=bool)
        if v.shape != t.shape:
            raise ShapeError(f"valid mask {v.shape} does not match the texture {t.shape}")
        vv = np.asarray(self.vertex_values, dtype=np.float32).reshape(-1)
        if vv.shape[0] != N_VERTICES:
            raise ShapeError(f"vertex_values must have {N_VERTICES} entries; got {vv.shape[0]}")
        self.texture = np.where(v, t, np.float32(np.nan)).astype(np.float32)
        self.valid = v & np.isfinite(self.texture)
        self.vertex_values = vv
        self.triangle_visible = np.asarray(self.triangle_visible, dtype=bool).reshape(-1)

    @property
    def resolution(self) -> int:
        return self.texture.shape[0]

    @classmethod
    def from_vertex_values(cls, vertex_values, *, resolution: int = 256, metadata: dict | None = None) -> "CanonicalMap":
        """A map from per-vertex values (NaN = unseen), interpolated barycentrically onto the texture."""
        vals = np.asarray(vertex_values, dtype=np.float64).reshape(-1)
        if vals.shape[0] != N_VERTICES:
            raise ShapeError(f"vertex_values must have {N_VERTICES} entries; got {vals.shape[0]}")
        atlas = uv_atlas(resolution)
        tex = atlas.splat(vals)
        tri_vis = np.isfinite(vals[canonical_face().triangles]).all(1)
        return cls(texture=tex, valid=np.isfinite(tex), vertex_values=vals, triangle_visible=tri_vis,
                   metadata=dict(metadata or {}))

    # -- summaries --------------------------------------------------------------------------
    def mean(self) -> float:
        """Mean over valid texels (NaN when none)."""
        return float(np.nanmean(self.texture)) if self.valid.any() else float("nan")

    def normalised(self) -> "CanonicalMap":
        """A copy scaled so the valid texels sum to 1 (for comparing masses across maps)."""
        total = float(np.nansum(self.texture))
        scale = 1.0 / total if total else 1.0
        return CanonicalMap(self.texture * scale, self.valid, self.vertex_values * scale, self.triangle_visible,
                            {**self.metadata, "normalised": True})

    def region_scores(self, by: str = "share") -> list[dict]:
        """Per-region scores, ranked by ``by`` = ``"share"`` of mass (large regions weigh more) or
        ``"mean"`` (saliency per unit of canonical area), largest first.

        Each record: ``region``, ``rank`` (1 = most salient), ``mean`` (mean of valid texels;
        NaN if none is valid), ``share`` (the region's sum over valid texels / the sum over all
        valid texels — for signed maps shares can be negative; they always sum to 1 over the
        regions when the total is non-zero), ``coverage`` (fraction of the region's texels that
        are valid), ``texels`` (valid texel count). ``pandas.DataFrame(records)`` makes a table.
        """
        labels = region_label_texture(self.resolution).reshape(-1)
        k = len(REGION_NAMES)
        inside = labels >= 0
        valid = self.valid.reshape(-1) & inside
        lab = labels[valid].astype(np.int64)
        sums = np.bincount(lab, weights=self.texture.reshape(-1)[valid].astype(np.float64), minlength=k)
        counts = np.bincount(lab, minlength=k)
        sizes = np.bincount(labels[inside].astype(np.int64), minlength=k)
        total = sums.sum()
        recs = []
        for i, name in enumerate(REGION_NAMES):
            n = int(counts[i])
            s = float(sums[i])
            recs.append({"region": name, "mean": s / n if n else float("nan"),
                         "share": s / total if total else float("nan"),
                         "coverage": n / max(int(sizes[i]), 1), "texels": n})
        if by not in ("share", "mean"):
            raise ShapeError(f"region_scores ranks by 'share' or 'mean'; got {by!r}")
        order = sorted(range(len(recs)), key=lambda k: -np.nan_to_num(recs[k][by], nan=-np.inf))
        ranked = [recs[k] for k in order]
        for r, rec in enumerate(ranked, 1):
            rec["rank"] = r
        return ranked

    # -- files ---------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the map to a compressed ``.npz`` (arrays + metadata as JSON)."""
        import json

        np.savez_compressed(path, texture=self.texture, valid=self.valid, vertex_values=self.vertex_values,
                            triangle_visible=self.triangle_visible,
                            metadata=np.asarray(json.dumps(self.metadata, default=str)))

    @classmethod
    def load(cls, path) -> "CanonicalMap":
        """Read a map written by :meth:`save` (no pickles are loaded)."""
        import json

        with np.load(path, allow_pickle=False) as z:
            return cls(texture=z["texture"], valid=z["valid"], vertex_values=z["vertex_values"],
                       triangle_visible=z["triangle_visible"], metadata=json.loads(str(z["metadata"])))

    # -- back to a photo --------------------------------------------------------------------
    def translate(self, face, image_shape=None, *, fill: float = np.nan, min_cosine: float | None = None) -> np.ndarray:
        """Put this canonical map onto a photo through ``face``'s mesh (the inverse warp).

        Args:
            face: a :class:`~facewidget.faces.Face` in the target photo.
            image_shape: (H, W[, C]) of the target photo (default: ``face.image_size``).
            fill: value outside the face and where the map or the face has no data.
            min_cosine: visibility threshold of the target face's triangles (see
                :func:`~facewidget.canonical.visibility.visible_triangles`).
        Returns:
            float32 (H, W) photo-space map. Where triangles overlap in the photo (a turned head)
            the nearest one (MediaPipe depth) wins.
        """
        lm = check_landmarks(face)
        if image_shape is None:
            image_shape = getattr(face, "image_size", None)
        if image_shape is None or len(image_shape) < 2 or min(image_shape[:2]) <= 0:
            raise ShapeError(f"translate needs the target image shape (H, W); got {image_shape!r}")
        h, w = int(image_shape[0]), int(image_shape[1])
        mesh = canonical_face()
        kwargs = {} if min_cosine is None else {"min_cosine": min_cosine}
        vis = visible_triangles(_WithSize(face, (h, w)), **kwargs)
        tri = mesh.triangles
        depth = lm[:468, 2][tri].mean(1) if lm.shape[1] > 2 else np.zeros(len(tri))
        order = np.flatnonzero(vis)
        order = order[np.argsort(-depth[order], kind="stable")]  # far first, near last (painter)
        tri_img, bary = rasterise(lm[:468, :2], tri, (h, w), order=order)
        out = np.full((h, w), fill, dtype=np.float32)
        hit = tri_img >= 0
        if not hit.any():
            return out
        b = bary[hit].astype(np.float64)
        uvs = np.einsum("nk,nkd->nd", b, mesh.uv.astype(np.float64)[tri[tri_img[hit]]])
        vals = bilinear(self.texture, uvs * self.resolution - 0.5)
        out[hit] = np.where(np.isfinite(vals), vals, fill)
        return out


class _WithSize:
    """A face seen through another image size (for visibility against the target photo)."""

    def __init__(self, face, size):
        self.landmarks = face.landmarks
        self.image_size = size
