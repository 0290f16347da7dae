"""Triangle rasterisation (barycentric, pixel centres at integer coordinates) and bilinear sampling."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def rasterise(points: np.ndarray, triangles: np.ndarray, shape: tuple[int, int], *,
              order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise triangles onto an (H, W) grid.

    Args:
        points: (V, 2) x, y in pixel units (pixel centres at integers, x = column).
        triangles: (T, 3) vertex indices.
        shape: (H, W) of the grid.
        order: triangle indices in painting order (later ones overwrite earlier ones, e.g. far to
            near for a painter's algorithm). Default: all triangles in index order, where the
            first triangle to cover a pixel keeps it (shared edges go to the lower index).
    Returns:
        triangle (H, W) int32 (-1 where none) and barycentric (H, W, 3) float32.
    """
    h, w = shape
    pts = np.asarray(points, dtype=np.float64)
    tri_img = np.full((h, w), -1, dtype=np.int32)
    bary = np.zeros((h, w, 3), dtype=np.float32)
    overwrite = order is not None
    seq = order if order is not None else range(len(triangles))
    eps = 1e-9
    for t in seq:
        a, b, c = pts[triangles[t]]
        x0, x1 = max(int(np.floor(min(a[0], b[0], c[0]))), 0), min(int(np.ceil(max(a[0], b[0], c[0]))), w - 1)
        y0, y1 = max(int(np.floor(min(a[1], b[1], c[1]))), 0), min(int(np.ceil(max(a[1], b[1], c[1]))), h - 1)
        if x1 < x0 or y1 < y0:
            continue
        det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        if abs(det) < 1e-12:
            continue
        ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        l0 = ((b[1] - c[1]) * (xs - c[0]) + (c[0] - b[0]) * (ys - c[1])) / det
        l1 = ((c[1] - a[1]) * (xs - c[0]) + (a[0] - c[0]) * (ys - c[1])) / det
        l2 = 1.0 - l0 - l1
        hit = (l0 >= -eps) & (l1 >= -eps) & (l2 >= -eps)
        if not overwrite:
            hit &= tri_img[y0:y1 + 1, x0:x1 + 1] < 0
        if not hit.any():
            continue
        tri_img[ys[hit], xs[hit]] = t
        bary[ys[hit], xs[hit]] = np.stack([l0[hit], l1[hit], l2[hit]], -1).clip(0, 1)
    return tri_img, bary


def bilinear(image, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of a 2-D ``image`` at float (N, 2) x, y (pixel centres at integers).

    NaN-aware: a sample is the weighted mean of its finite neighbours (NaN when none has weight).
    Points more than half a pixel outside the image give NaN. Returns float32 (N,).
    """
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    img = np.ascontiguousarray(image, dtype=np.float32)
    h, w = img.shape
    pts = np.asarray(xy, dtype=np.float32)
    x, y = pts[:, 0], pts[:, 1]
    with np.errstate(invalid="ignore"):
        outside = ~((x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5))  # NaN → outside
    grid = np.empty((len(pts), 2), dtype=np.float32)
    np.multiply(x, 2.0 / max(w - 1, 1), out=grid[:, 0])
    np.multiply(y, 2.0 / max(h - 1, 1), out=grid[:, 1])
    grid -= 1.0
    grid[outside] = 0.0
    # grid_sample (align_corners=True, border) is bilinear with pixel centres at integer coordinates
    out = F.grid_sample(torch.from_numpy(img)[None, None], torch.from_numpy(grid).view(1, 1, -1, 2),
                        mode="bilinear", padding_mode="border", align_corners=True).view(-1).numpy().copy()
    bad = ~np.isfinite(out) & ~outside
    if bad.any():  # NaN/inf neighbours: renormalise over the finite ones
        out[bad] = _bilinear_nan_aware(img, x[bad], y[bad])
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
