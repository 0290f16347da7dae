"""Python drawing of the views' state for the static PNG fallback (same rules as the front end).

Display only: colour mapping (``colormap.py``), placing maps by their affine, and a painter's-
algorithm drawing of the canonical mesh with Lambert shading (``js/src/geometry.js`` does the same).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .colormap import colorize, lut, scale_values
from .encode import compose_affine, invert_affine

#: light direction in view space (x right, y up, z towards the viewer), normalised in use
LIGHT = np.array([0.3, 0.5, 1.0])
AMBIENT = 0.35
#: grey of triangles with no data (NaN values: the photo did not show them)
UNSEEN = 200.0


def overlay_on_photo(photo: np.ndarray, values: np.ndarray, affine, *, colormap="inferno",
                     diverging_colormap="rdbu", scale="auto", threshold=0.0, opacity=0.6, value_range=None,
                     mask=None) -> np.ndarray:
    """RGB uint8 photo with ``values`` (map pixel grid placed by ``affine`` map→photo) blended on top."""
    rgba = colorize(values, colormap, diverging_colormap, scale, threshold, opacity, value_range=value_range, mask=mask)
    h, w = photo.shape[:2]
    inv = invert_affine(affine)  # photo pixel centre → map pixel centre
    # PIL samples output pixel (x, y) at its centre (x + 0.5, y + 0.5) in edge coordinates
    edge = compose_affine(compose_affine(np.array([[1, 0, 0.5], [0, 1, 0.5]]), inv),
                          np.array([[1, 0, -0.5], [0, 1, -0.5]]))
    layer = Image.fromarray(rgba, "RGBA").convert("RGBa").transform(
        (w, h), Image.Transform.AFFINE, data=tuple(edge.ravel()), resample=Image.Resampling.BILINEAR)
    layer = np.asarray(layer.convert("RGBA"), dtype=np.float32)
    a = layer[..., 3:4] / 255.0
    out = photo.astype(np.float32) * (1 - a) + layer[..., :3] * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """3x3 view rotation: yaw about the y axis, then pitch about the x axis (degrees)."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rx @ ry


def triangle_orientation(vertices: np.ndarray, triangles: np.ndarray) -> float:
    """+1 or -1 so that ``sign * cross(v1 - v0, v2 - v0)`` points out of the face (towards +z)."""
    v = vertices.astype(np.float64)
    n = np.cross(v[triangles[:, 1]] - v[triangles[:, 0]], v[triangles[:, 2]] - v[triangles[:, 0]])
    return 1.0 if (n[:, 2] > 0).sum() >= (n[:, 2] < 0).sum() else -1.0


def render_mesh(vertices: np.ndarray, triangles: np.ndarray, values: np.ndarray | None, *, yaw=0.0,
                pitch=0.0, size=(360, 400), colormap="inferno", diverging_colormap="rdbu", scale="auto",
                highlight: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 picture of the mesh coloured by per-vertex ``values`` (grey when None)."""
    w, h = size
    v = vertices.astype(np.float64)
    v = v - (v.max(0) + v.min(0)) / 2
    rv = v @ rotation(yaw, pitch).T
    radius = np.linalg.norm(v[:, :2], axis=1).max()
    s = 0.95 * min(w, h) / (2 * radius)
    sx = w / 2 + rv[:, 0] * s
    sy = h / 2 - rv[:, 1] * s
    sign = triangle_orientation(vertices, triangles)
    tv = rv[triangles]
    normals = sign * np.cross(tv[:, 1] - tv[:, 0], tv[:, 2] - tv[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    light = LIGHT / np.linalg.norm(LIGHT)
    shade = AMBIENT + (1 - AMBIENT) * np.clip(normals @ light, 0, None)
    if values is None:
        colours = np.full((len(triangles), 3), UNSEEN)
    else:
        vals = np.asarray(values, np.float64)
        t, _, mode = scale_values(vals, scale)
        table = lut(diverging_colormap if mode == "diverging" else colormap).astype(np.float64)
        tone = t[triangles].mean(1)
        colours = table[np.clip(np.rint(np.nan_to_num(tone) * 255), 0, 255).astype(int)]
        colours[~np.isfinite(tone)] = UNSEEN
    colours = np.clip(colours * shade[:, None], 0, 255).astype(np.uint8)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    order = np.argsort(tv[:, :, 2].mean(1))  # far first
    for i in order:
        if normals[i, 2] <= 0:
            continue
        pts = [(sx[k], sy[k]) for k in triangles[i]]
        c = tuple(int(x) for x in colours[i])
        outline = (255, 255, 255) if highlight is not None and highlight[i] else c
        draw.polygon(pts, fill=c, outline=outline)
    return np.asarray(img)


def side_by_side(images: list[np.ndarray], height: int = 320, gap: int = 8) -> np.ndarray:
    """Images scaled to a common height and placed left to right on white."""
    scaled = []
    for im in images:
        f = height / im.shape[0]
        scaled.append(np.asarray(Image.fromarray(im).resize((max(1, round(im.shape[1] * f)), height),
                                                             Image.Resampling.BILINEAR)))
    width = sum(s.shape[1] for s in scaled) + gap * (len(scaled) - 1)
    out = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for s in scaled:
        out[:, x:x + s.shape[1]] = s
        x += s.shape[1] + gap
    return out


__all__ = ["overlay_on_photo", "render_mesh", "rotation", "side_by_side", "triangle_orientation"]
