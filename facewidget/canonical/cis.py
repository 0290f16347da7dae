"""Canonical image saliency (CIS), John et al. 2021: occlusion at every mesh vertex.

For every mesh vertex ``i`` the photo is occluded by a square patch centred on the vertex (15 px
on a 224 px face in the paper; here ``patch_fraction`` of the model chip's side as it lies in the
photo, so the patch scales with the face), the model sees its aligned chip of the occluded photo,
and ``drop_i = target(clean) - target(occluded_i)``. The drops live on the mesh vertices, so they
land on the canonical face without any warping: by barycentric interpolation (default), or, as in
the paper, each drop spread over a square patch around its vertex on the canonical face with
overlaps averaged (``splat="patch"``).

Occluding the photo and then aligning it is computed in chip space: the aligned chip of the
occluded photo equals the clean chip blended with the *warped* patch indicator (a rotated square
in the chip), whose coverage is evaluated analytically per chip pixel through the inverse of the
face's photo→chip transform (with a one-pixel linear edge, as bilinear warping gives). This avoids
468 full-photo warps and is exact up to that edge interpolation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch

from ..align import invert_affine
from ..errors import NoFaceError, ShapeError
from ..explainers.engine import BatchLoop, ExplanationCancelled
from .atlas import N_VERTICES, uv_atlas
from .canonical_map import CanonicalMap
from .mesh import canonical_face
from .targets import default_target
from .visibility import DEFAULT_MIN_COSINE, visible_triangles, visible_vertices

PAPER_PATCH_FRACTION = 15.0 / 224.0


def patch_masks(transform, chip_size: tuple[int, int], centres: np.ndarray, side: float) -> torch.Tensor:
    """Coverage (K, 1, h, w) in [0, 1] of photo-space square patches, seen in chip space.

    Args:
        transform: (2, 3) photo→chip transform. chip_size: (h, w).
        centres: (K, 2) patch centres, photo x, y. side: patch side in photo pixels.
    """
    m = torch.as_tensor(np.asarray(transform), dtype=torch.float64).reshape(1, 2, 3)
    inv = invert_affine(m)[0]
    h, w = chip_size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    px = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    py = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    c = torch.as_tensor(np.asarray(centres), dtype=torch.float64)
    half = side / 2.0
    # one-pixel (photo) linear ramp at the border ≈ bilinear warping of a hard-edged square;
    # offsets are formed in float64 (photo coordinates can be large), the rest in float32
    dx = (px[None] - c[:, 0, None, None]).to(torch.float32)
    dy = (py[None] - c[:, 1, None, None]).to(torch.float32)
    cov_x = (half + 0.5 - dx.abs_()).clamp_(0, 1)
    cov_y = (half + 0.5 - dy.abs_()).clamp_(0, 1)
    return cov_x.mul_(cov_y)[:, None]


def chip_side_in_photo(transform) -> float:
    """Photo pixels per chip pixel × chip width: the chip's footprint side, in photo pixels."""
    m = np.asarray(transform, dtype=np.float64).reshape(2, 3)
    return 1.0 / np.sqrt(abs(np.linalg.det(m[:, :2])))


def _target_values(model, target: Callable, chips: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = target(model.infer(chips))
    out = torch.as_tensor(out)
    if out.ndim != 1 or out.shape[0] != chips.shape[0]:
        raise ShapeError(f"a target must map the network output to a ({chips.shape[0]},) tensor; "
                         f"got shape {tuple(out.shape)}")
    return out.detach().to("cpu", torch.float64)


def occlusion_drops(image, model, target: Callable, face=None, *, patch_fraction: float = PAPER_PATCH_FRACTION,
                    fill: float | str = 0.0, batch_size: int | None = None, progress=None,
                    vertices=None, cancel=None) -> dict:
    """Target drop for a patch occluding each mesh vertex.

    Args:
        image: RGB uint8 (H, W, 3) photo (anything :func:`facewidget.load_image` reads).
        model: :class:`~facewidget.models.base.FaceModel` (its template and input size are used).
        target: callable, network output (B, ...) → (B,) tensor (e.g. a class logit, or the
            similarity to a reference embedding). Higher = more of what is explained. None:
            the logit of the class predicted on the clean chip (classifiers), or the similarity
            to the clean chip's own embedding (identity models).
        face: the :class:`~facewidget.faces.Face` to explain (default: the largest detected).
        patch_fraction: patch side / the chip's side in the photo (paper: 15/224).
        fill: occluder value in [0, 1] (0 = black), or ``"mean"`` for the chip's mean colour.
        batch_size: occluded chips per forward pass (default ``model.batch_size``).
        progress: optional callable getting the explain engine's
            :class:`~facewidget.explainers.engine.ProgressUpdate` (``done``/``total`` occluded vertices;
            ``maps["values"]``: the drops so far, NaN where not yet occluded).
        cancel: an Event (``is_set()``) or callable; checked before every batch. When set, raises
            :class:`~facewidget.explainers.engine.ExplanationCancelled` whose ``partial`` holds the
            result of the vertices occluded so far.
        vertices: mesh vertex indices to occlude (default: all 468), e.g.
            :func:`vertex_subset` (k) for a faster, coarser map.
    Returns:
        dict with ``drops`` float64 (468,) (``clean - occluded``; NaN for vertices outside the
        photo and vertices not occluded), ``clean`` (target of the clean chip), ``patch_px`` (patch side in photo pixels),
        ``face`` and ``transform`` (2, 3).
    """
    from ..faces import detect_face
    from ..io import load_image

    img = load_image(image)
    if face is None:
        face = detect_face(img)
    if target is not None and not callable(target):
        raise ShapeError(f"target must be a callable from network output to a (B,) tensor; got {type(target).__name__}")
    if not 0 < patch_fraction < 1:
        raise ShapeError(f"patch_fraction must be in (0, 1); got {patch_fraction}")
    aligned = model.align(img, [face])
    chip = aligned.chips[:1].to(model.device)
    if target is None:
        target = default_target(model, chip)
    transform = aligned.transforms[0].cpu().numpy()
    side = float(patch_fraction * chip_side_in_photo(transform) * aligned.template.size[1])
    h, w = chip.shape[-2:]
    if isinstance(fill, str):
        if fill != "mean":
            raise ShapeError(f"fill must be a number in [0, 1] or 'mean'; got {fill!r}")
        fill_value = chip.mean(dim=(2, 3), keepdim=True)
    else:
        fill_value = torch.full((1, 3, 1, 1), float(fill), device=chip.device)
    clean = float(_target_values(model, target, chip)[0])
    centres = np.asarray(face.landmarks, dtype=np.float64)[:N_VERTICES, :2]
    ih, iw = img.shape[:2]
    inside = (centres[:, 0] >= 0) & (centres[:, 0] <= iw - 1) & (centres[:, 1] >= 0) & (centres[:, 1] <= ih - 1)
    drops = np.full(N_VERTICES, np.nan)
    if vertices is not None:
        chosen = np.unique(np.asarray(vertices, dtype=np.int64).reshape(-1))
        if not len(chosen) or chosen.min() < 0 or chosen.max() >= N_VERTICES:
            raise ShapeError(f"vertices must be mesh indices in [0, {N_VERTICES}); got {len(chosen)} values")
        keep = np.zeros(N_VERTICES, dtype=bool)
        keep[chosen] = True
        inside &= keep
    todo = np.flatnonzero(inside)
    bs = int(batch_size or getattr(model, "batch_size", 32) or 32)

    def result():
        return {"drops": drops.copy(), "clean": clean, "patch_px": side, "face": face, "transform": transform,
                "target": target}

    def step(start: int, stop: int) -> None:
        idx = todo[start:stop]
        mask = patch_masks(transform, (h, w), centres[idx], side).to(chip.device)
        occluded = chip * (1 - mask) + fill_value * mask
        drops[idx] = clean - _target_values(model, target, occluded).numpy()

    if len(todo):
        BatchLoop(len(todo), bs, progress=progress, cancel=cancel, first_batch=min(bs, 16),
                  maps_fn=lambda: {"values": drops.astype(np.float32)}, partial_fn=result).run(step)
    return result()


@lru_cache(maxsize=16)
def vertex_subset(k: int) -> np.ndarray:
    """``k`` mesh vertices spread evenly over the canonical face (farthest-point sampling in 3-D,
    starting at the nose tip, deterministic): occluding only these makes CIS ``468 / k`` times
    faster; the other vertices are then filled by :func:`fill_vertices`."""
    if not 1 <= int(k) <= N_VERTICES:
        raise ShapeError(f"a vertex subset needs 1 <= k <= {N_VERTICES}; got {k}")
    v = canonical_face().vertices.astype(np.float64)
    chosen = [1]
    dist = np.linalg.norm(v - v[1], axis=1)
    for _ in range(int(k) - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(v - v[nxt], axis=1))
    out = np.sort(np.asarray(chosen, dtype=np.int64))
    out.setflags(write=False)
    return out


def fill_vertices(values: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Harmonic interpolation of NaN vertex values over the mesh graph.

    Each missing vertex (in ``allowed``, default all) becomes the mean of its mesh neighbours,
    solved exactly as a sparse Laplace problem with the known values fixed. Vertices outside
    ``allowed`` stay NaN and do not pass values on; components with no known value stay NaN.
    """
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import spsolve

    vals = np.asarray(values, dtype=np.float64).copy()
    allowed = np.ones(N_VERTICES, bool) if allowed is None else np.asarray(allowed, bool)
    known = np.isfinite(vals) & allowed
    unknown = ~np.isfinite(vals) & allowed
    if not unknown.any() or not known.any():
        return vals
    t = canonical_face().triangles
    i = np.concatenate([t[:, 0], t[:, 1], t[:, 2], t[:, 1], t[:, 2], t[:, 0]])
    j = np.concatenate([t[:, 1], t[:, 2], t[:, 0], t[:, 0], t[:, 1], t[:, 2]])
    use = allowed[i] & allowed[j]
    adj = sp.csr_matrix((np.ones(int(use.sum())), (i[use], j[use])), shape=(N_VERTICES, N_VERTICES))
    adj.data[:] = 1.0  # duplicate edges (shared by two triangles) count once
    # only components that contain a known value can be filled
    _, comp = connected_components(adj, directed=False)
    fillable = unknown & np.isin(comp, np.unique(comp[known]))
    u = np.flatnonzero(fillable)
    if not len(u):
        return vals
    deg = np.asarray(adj.sum(1)).ravel()
    lap = sp.diags(deg) - adj
    k = np.flatnonzero(known)
    rhs = -(lap[u][:, k] @ vals[k])
    vals[u] = spsolve(lap[u][:, u].tocsc(), rhs)
    return vals


@lru_cache(maxsize=8)
def _patch_splat_matrix(resolution: int, patch_fraction: float) -> sp.csr_matrix:
    """(N_texels, 468) 0/1: texel inside the canonical patch of vertex i (patch side in uv units)."""
    atlas = uv_atlas(resolution)
    uv = canonical_face().uv.astype(np.float64)
    r = resolution
    rows, cols = np.divmod(atlas.texels, r)
    tu, tv = (cols + 0.5) / r, (rows + 0.5) / r
    half = patch_fraction / 2.0
    ri, ci = [], []
    for i in range(N_VERTICES):
        hit = np.flatnonzero((np.abs(tu - uv[i, 0]) <= half) & (np.abs(tv - uv[i, 1]) <= half))
        ri.append(hit)
        ci.append(np.full(len(hit), i))
    ri, ci = np.concatenate(ri), np.concatenate(ci)
    return sp.csr_matrix((np.ones(len(ri)), (ri, ci)), shape=(len(atlas.texels), N_VERTICES))


def splat_vertices(vertex_values, *, resolution: int = 256, splat: str = "barycentric",
                   triangle_visible: np.ndarray | None = None,
                   patch_fraction: float = PAPER_PATCH_FRACTION, metadata: dict | None = None) -> CanonicalMap:
    """Per-vertex values (NaN = unseen) → :class:`CanonicalMap`.

    ``splat="barycentric"`` interpolates inside every triangle; ``"patch"`` gives each texel the
    mean of the finite values of all vertices whose square canonical patch (side
    ``patch_fraction`` in uv units) covers it (the paper's "average the overlaps"). Texels of
    triangles not in ``triangle_visible`` are unseen either way.
    """
    vals = np.asarray(vertex_values, dtype=np.float64).reshape(-1)
    if vals.shape[0] != N_VERTICES:
        raise ShapeError(f"vertex values must have {N_VERTICES} entries; got {vals.shape[0]}")
    atlas = uv_atlas(resolution)
    if splat == "barycentric":
        cmap = CanonicalMap.from_vertex_values(vals, resolution=resolution, metadata=metadata)
        tex = cmap.texture
    elif splat == "patch":
        s = _patch_splat_matrix(resolution, float(patch_fraction))
        finite = np.isfinite(vals)
        num = s @ np.where(finite, vals, 0.0)
        den = s @ finite.astype(np.float64)
        flat = np.full(resolution * resolution, np.nan, dtype=np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            flat[atlas.texels] = np.where(den > 0, num / np.maximum(den, 1), np.nan)
        tex = flat.reshape(resolution, resolution)
    else:
        raise ShapeError(f"splat must be 'barycentric' or 'patch'; got {splat!r}")
    tri_vis = np.isfinite(vals[canonical_face().triangles]).all(1) if triangle_visible is None \
        else np.asarray(triangle_visible, dtype=bool)
    unseen = ~tri_vis[atlas.texel_triangles]
    flat = tex.reshape(-1).copy()
    flat[atlas.texels[unseen]] = np.nan
    tex = flat.reshape(resolution, resolution)
    return CanonicalMap(texture=tex, valid=np.isfinite(tex), vertex_values=vals, triangle_visible=tri_vis,
                        metadata=dict(metadata or {}))


def canonical_image_saliency(image, model, target: Callable, face=None, *, resolution: int = 256,
                             patch_fraction: float = PAPER_PATCH_FRACTION, fill: float | str = 0.0,
                             splat: str = "barycentric", min_cosine: float = DEFAULT_MIN_COSINE,
                             batch_size: int | None = None, progress=None, vertices=None,
                             cancel=None) -> CanonicalMap:
    """CIS of one face: occlusion drops at every vertex, on the canonical face.

    See :func:`occlusion_drops` for the arguments. Vertices of no visible triangle (turned away
    from the camera, or outside the photo) are unseen (NaN), not zero. With ``vertices`` (a
    subset, e.g. ``vertex_subset(120)``), only those are occluded and the other visible vertices
    are filled by harmonic interpolation (:func:`fill_vertices`). ``metadata`` records the
    method, its parameters, the model id and weights hash, and the clean target value.

    ``progress``/``cancel`` follow the explain engine's contract (so ``view.run(canonical_image_saliency,
    ...)`` shows the drops live): cancelled, it returns the map of the vertices occluded so far
    (the others filled as for a subset) with ``metadata["cancelled"] = True``.
    """
    cancelled = False
    try:
        res = occlusion_drops(image, model, target, face, patch_fraction=patch_fraction, fill=fill,
                              batch_size=batch_size, progress=progress, vertices=vertices, cancel=cancel)
    except ExplanationCancelled as exc:
        if exc.partial is None:
            raise
        res, cancelled = exc.partial, True
        vertices = np.flatnonzero(np.isfinite(res["drops"]))
    face = res["face"]
    vis = visible_triangles(face, min_cosine=min_cosine)
    seen = visible_vertices(vis)
    drops = res["drops"].copy()
    drops[~seen] = np.nan
    if vertices is not None:
        drops = fill_vertices(drops, allowed=seen)
    cfg = getattr(model, "config", None)
    meta = {"method": "cis", "resolution": int(resolution), "patch_fraction": float(patch_fraction),
            "patch_px": float(res["patch_px"]), "fill": fill, "splat": splat, "min_cosine": float(min_cosine),
            "occluded_vertices": N_VERTICES if vertices is None else int(len(np.unique(vertices))),
            "clean_target": res["clean"], "target": getattr(res["target"], "__name__", repr(res["target"])),
            "model": getattr(cfg, "name", None), "weights_sha256": getattr(cfg, "weights_sha256", None),
            "image_size": list(face.image_size), "pose": [float(p) for p in face.pose], "torch": torch.__version__,
            "cancelled": cancelled}
    if not np.isfinite(drops).any():
        raise NoFaceError("no mesh vertex of this face is visible in the photo")
    return splat_vertices(drops, resolution=resolution, splat=splat, triangle_visible=vis,
                          patch_fraction=patch_fraction, metadata=meta)
