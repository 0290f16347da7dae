"""Triangle rasterisation (barycentric, pixel centres at integer coordinates) and bilinear sampling."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def rasterise(points: np.ndarray, triangles: np.ndarray, shape: tuple[int, int], *,
              order: np.ndarray | None = None, chunk: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise triangles onto an (H, W) grid (vectorised over the triangles' bounding boxes).

    Args:
        points: (V, 2) x, y in pixel units (pixel centres at integers, x = column).
        triangles: (T, 3) vertex indices.
        shape: (H, W) of the grid.
        order: triangle indices in painting order (later ones win where they overlap, e.g. far
            to near for a painter's algorithm); triangles not listed are not drawn. Default: all
            triangles, where the lowest index wins (shared edges go to the lower index).
        chunk: candidate pixels processed at once (bounds memory for huge faces).
    Returns:
        triangle (H, W) int32 (-1 where none) and barycentric (H, W, 3) float32.
    """
    h, w = shape
    pts = np.asarray(points, dtype=np.float64)
    tris = np.asarray(triangles)
    ids = np.arange(len(tris)) if order is None else np.asarray(order, dtype=np.int64)
    # priority: higher wins
    priority = -ids if order is None else np.arange(len(ids))
    tri_img = np.full((h, w), -1, dtype=np.int32)
    bary = np.zeros((h, w, 3), dtype=np.float32)
    best = np.full(h * w, np.iinfo(np.int64).min, dtype=np.int64)
    if not len(ids):
        return tri_img, bary
    p = pts[tris[ids]]  # (T, 3, 2)
    x0 = np.clip(np.floor(p[..., 0].min(1)), 0, w).astype(np.int64)
    x1 = np.clip(np.ceil(p[..., 0].max(1)), -1, w - 1).astype(np.int64)
    y0 = np.clip(np.floor(p[..., 1].min(1)), 0, h).astype(np.int64)
    y1 = np.clip(np.ceil(p[..., 1].max(1)), -1, h - 1).astype(np.int64)
    nx, ny = np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)
    a, b, c = p[:, 0], p[:, 1], p[:, 2]
    det = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    counts = np.where(np.abs(det) < 1e-12, 0, nx * ny)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    eps = 1e-9
    start = 0
    while start < len(ids):
        stop = int(np.searchsorted(bounds, bounds[start] + chunk, side="right")) - 1
        stop = max(stop, start + 1)
        sel = np.arange(start, stop)
        cnt = counts[sel]
        total = int(cnt.sum())
        start = stop
        if not total:
            continue
        t = np.repeat(sel, cnt)
        k = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        xs = x0[t] + k % nx[t]
        ys = y0[t] + k // nx[t]
        cx, cy = c[t, 0], c[t, 1]
        d = det[t]
        l0 = ((b[t, 1] - c[t, 1]) * (xs - cx) + (c[t, 0] - b[t, 0]) * (ys - cy)) / d
        l1 = ((c[t, 1] - a[t, 1]) * (xs - cx) + (a[t, 0] - c[t, 0]) * (ys - cy)) / d
        l2 = 1.0 - l0 - l1
        hit = (l0 >= -eps) & (l1 >= -eps) & (l2 >= -eps)
        t, pix = t[hit], ys[hit] * w + xs[hit]
        lam = np.stack([l0[hit], l1[hit], l2[hit]], -1)
        pr = priority[t]
        # per pixel keep the highest priority (also against earlier chunks)
        srt = np.lexsort((-pr, pix))
        pix_s, first = np.unique(pix[srt], return_index=True)
        win = srt[first]
        better = pr[win] > best[pix_s]
        win, pix_s = win[better], pix_s[better]
        best[pix_s] = pr[win]
        tri_img.reshape(-1)[pix_s] = ids[t[win]]
        bary.reshape(-1, 3)[pix_s] = lam[win].clip(0, 1)
    return tri_img, bary


def bilinear(image, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of a 2-D ``image`` at float (N, 2) x, y (pixel centres at integers).

    NaN-aware: a sample is the weighted mean of its finite neighbours (NaN when none has weight).
    Points more than half a pixel outside the image give NaN. Returns float32 (N,).
    """
    img = _as_image(image)
    h, w = img.shape
    pts = np.asarray(xy, dtype=np.float32)
    return bilinear_normalised(img, pts * np.float32([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)]) - np.float32(1.0))


def _as_image(image) -> np.ndarray:
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    return np.ascontiguousarray(image, dtype=np.float32)


def to_normalised(xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixel x, y (centres at integers) → grid_sample's align_corners=True coordinates in [-1, 1]."""
    h, w = shape
    return np.asarray(xy, dtype=np.float64) * [2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)] - 1.0


def bilinear_normalised(image, grid: np.ndarray) -> np.ndarray:
    """:func:`bilinear` at (N, 2) coordinates already normalised by :func:`to_normalised`."""
    img = _as_image(image)
    h, w = img.shape
    g = np.array(grid, dtype=np.float32)  # a copy: out-of-image points are overwritten below
    lim_x, lim_y = 1.0 + 1.0 / max(w - 1, 1), 1.0 + 1.0 / max(h - 1, 1)  # half a pixel outside
    with np.errstate(invalid="ignore"):
        outside = ~((np.abs(g[:, 0]) <= lim_x) & (np.abs(g[:, 1]) <= lim_y))  # NaN → outside
    g[outside] = 0.0
    # grid_sample (align_corners=True, border) is bilinear with pixel centres at integer coordinates
    out = F.grid_sample(torch.from_numpy(img)[None, None], torch.from_numpy(g).view(1, 1, -1, 2),
                        mode="bilinear", padding_mode="border", align_corners=True).view(-1).numpy().copy()
    bad = ~np.isfinite(out) & ~outside
    if bad.any():  # NaN/inf neighbours: renormalise over the finite ones
        x = (g[bad, 0] + 1.0) * (max(w - 1, 1) / 2.0)
        y = (g[bad, 1] + 1.0) * (max(h - 1, 1) / 2.0)
        out[bad] = _bilinear_nan_aware(img, x, y)
    out[outside] = np.nan
    return out


def _bilinear_nan_aware(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = img.shape
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.minimum(x.astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(y.astype(np.int64), max(h - 2, 0))
    fx, fy = x - x0, y - y0
    dx = 1 if w > 1 else 0
    dy = w if h > 1 else 0
    flat = img.reshape(-1)
    i00 = y0 * w + x0
    num = np.zeros(len(x), dtype=np.float64)
    den = np.zeros(len(x), dtype=np.float64)
    for offset, wt in ((0, (1 - fx) * (1 - fy)), (dx, fx * (1 - fy)), (dy, (1 - fx) * fy), (dy + dx, fx * fy)):
        c = flat[i00 + offset]
        ok = np.isfinite(c)
        num += np.where(ok, c, 0) * wt
        den += ok * wt
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-6, num / den, np.nan).astype(np.float32)
