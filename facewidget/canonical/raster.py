"""Triangle rasterisation (barycentric, pixel centres at integer coordinates) and bilinear sampling."""

from __future__ import annotations

import numpy as np


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
    Single-threaded numpy on purpose: it is a few vector passes over N points, and torch's
    thread pool contends with MediaPipe's on small CPUs.
    """
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape
    pts = np.asarray(xy, dtype=np.float32)
    x, y = pts[:, 0], pts[:, 1]
    with np.errstate(invalid="ignore"):
        outside = ~((x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5))  # NaN → outside
    x = np.clip(np.where(outside, 0.0, x), 0, w - 1).astype(np.float32)
    y = np.clip(np.where(outside, 0.0, y), 0, h - 1).astype(np.float32)
    x0 = np.minimum(x.astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(y.astype(np.int64), max(h - 2, 0))
    fx, fy = x - x0, y - y0
    dx = 1 if w > 1 else 0
    dy = w if h > 1 else 0
    flat = img.reshape(-1)
    i00 = y0 * w + x0
    c00, c01, c10, c11 = flat[i00], flat[i00 + dx], flat[i00 + dy], flat[i00 + dy + dx]
    w00, w01, w10, w11 = (1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy
    out = c00 * w00 + c01 * w01 + c10 * w10 + c11 * w11
    bad = ~np.isfinite(out)
    if bad.any():  # NaN/inf neighbours: renormalise over the finite ones
        num = np.zeros(int(bad.sum()), dtype=np.float32)
        den = np.zeros_like(num)
        for c, wt in ((c00, w00), (c01, w01), (c10, w10), (c11, w11)):
            cb, wb = c[bad], wt[bad]
            ok = np.isfinite(cb)
            num += np.where(ok, cb, 0) * wb
            den += ok * wb
        with np.errstate(invalid="ignore", divide="ignore"):
            out[bad] = np.where(den > 1e-6, num / den, np.nan)
    out[outside] = np.nan
    return out
