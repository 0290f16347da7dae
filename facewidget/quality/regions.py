"""The central face region of a chip: inside the face oval of the mesh.

``face_region_mask(face, transform, size)`` rasterises MediaPipe's face-oval contour (36 mesh points,
forehead to chin along the jaw) mapped into the chip by the photo→chip ``transform``. Analyses
average these masks over all faces of a set; pixels covered by at least half the faces form the
**central face region**, the rest (background, hair, borders, ears) is "outside".
For chip-only batches (no mesh) the region is the ellipse inscribed in the template's landmark box
grown by 60 % (:func:`template_region_mask`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)


def face_region_mask(face, transform, size) -> np.ndarray:
    """(h, w) float32 {0, 1}: chip pixels inside the face oval of ``face`` ((2, 3) photo→chip transform)."""
    h, w = int(size[0]), int(size[1])
    m = np.asarray(transform, dtype=np.float64).reshape(2, 3)
    pts = face.landmarks[list(FACE_OVAL), :2].astype(np.float64)
    chip_pts = pts @ m[:, :2].T + m[:, 2]
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).polygon([(float(x), float(y)) for x, y in chip_pts], fill=1)
    return np.asarray(img, dtype=np.float32)


def template_region_mask(template, size) -> np.ndarray:
    """(h, w) float32 {0, 1}: an ellipse around the template's landmark points, grown by 60 %."""
    h, w = int(size[0]), int(size[1])
    pts = template.with_(size=(h, w)).target_points()
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = max(x1 - x0, 1.0) * 0.8, max(y1 - y0, 1.0) * 0.8 * 1.6
    yy, xx = np.mgrid[0:h, 0:w]
    return ((((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) <= 1.0).astype(np.float32)
