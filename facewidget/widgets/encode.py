"""Conversions between numpy arrays and what the front end receives (display only, no science).

Images travel as PNG bytes, maps as raw little-endian ``float16`` or ``uint8`` buffers with their
shape; anywidget hands ``bytes`` (also inside dicts and lists) to JavaScript as a ``DataView``.

Map payload (a dict, the contract with ``js/src/buffers.js``):

``{"data": bytes, "shape": [h, w], "dtype": "float16" | "uint8", "lo": float, "hi": float,
"scale": float, "signed": bool, "affine": [a, b, c, d, e, f]}``

* ``float16``: ``value = half(data) * scale`` (``scale`` = max |value|, so small maps keep their
  relative precision; float16 alone would flush 1e-6 gradients to zero).
* ``uint8``: ``value = lo + data / 255 * (hi - lo)``.
* ``lo``/``hi`` are the finite minimum and maximum of the map, ``signed`` is ``lo < 0``.
* ``affine`` places the map on the photo: map pixel ``(u, v)`` lies at photo pixel
  ``(a u + b v + c, d u + e v + f)``. All coordinates follow facewidget's convention: x to the right,
  y down, pixel centres at integers (a W-pixel-wide photo spans x in [-0.5, W - 0.5]).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ShapeError

#: Longest side, in pixels, of a map sent to the front end (256x256 float16 = 128 KiB).
MAP_MAX_SIDE = 256
#: Longest side, in pixels, of a photo sent to the front end.
PHOTO_MAX_SIDE = 1024


def check_photo(image: Any) -> np.ndarray:
    """Validate an RGB uint8 (H, W, 3) photo (grey (H, W) is expanded); returns it contiguous."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"a photo must be RGB (H, W, 3) uint8; got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ShapeError(f"a photo must be uint8 (load it with facewidget.load_image); got {arr.dtype}")
    return np.ascontiguousarray(arr[:, :, :3])


def png_bytes(image: np.ndarray, max_side: int = PHOTO_MAX_SIDE) -> bytes:
    """PNG bytes of an RGB uint8 photo, shrunk (area average) so its longest side is <= ``max_side``.

    Coordinates stay in the original photo's pixels: the front end stretches the PNG over the
    original size it is told separately.
    """
    img = Image.fromarray(check_photo(image))
    w, h = img.size
    if max(w, h) > max_side:
        f = max_side / max(w, h)
        img = img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def check_map(values: Any, name: str = "map", allow_nan: bool = False) -> np.ndarray:
    """Validate a 2-D finite map (NaN allowed, meaning "no data", when ``allow_nan``); returns float32.

    torch tensors (CPU or CUDA) are accepted and copied to host memory.
    """
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().float().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ShapeError(f"{name} must be a 2-D (h, w) array; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ShapeError(f"{name} must be real-valued; got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        raise ShapeError(f"{name} contains {'infinity' if allow_nan else 'NaN or infinity'}")
    return arr


def resize_map(values: np.ndarray, max_side: int = MAP_MAX_SIDE) -> np.ndarray:
    """Shrink a float32 map (area average) so its longest side is <= ``max_side``."""
    h, w = values.shape
    if max(h, w) <= max_side:
        return values
    f = max_side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(Image.fromarray(values, mode="F").resize(size, Image.Resampling.BOX), dtype=np.float32)


def support_box(maps: list[np.ndarray], margin: int = 2) -> tuple[int, int, int, int]:
    """Index box ``(x0, y0, x1, y1)`` (exclusive ends) around the non-zero pixels of same-shape maps.

    Photo-space maps are 0 outside the chip's footprint; cropping to this box before sending keeps
    the resolution where the map has content. A map with no non-zero pixel gives the full extent.
    """
    h, w = maps[0].shape
    nz = np.zeros((h, w), dtype=bool)
    for m in maps:
        nz |= m != 0
    if not nz.any():
        return 0, 0, w, h
    ys = np.flatnonzero(nz.any(axis=1))
    xs = np.flatnonzero(nz.any(axis=0))
    return (max(0, int(xs[0]) - margin), max(0, int(ys[0]) - margin),
            min(w, int(xs[-1]) + 1 + margin), min(h, int(ys[-1]) + 1 + margin))


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine of ``outer(inner(p))``."""
    o = np.vstack([np.asarray(outer, np.float64).reshape(2, 3), [0, 0, 1]])
    i = np.vstack([np.asarray(inner, np.float64).reshape(2, 3), [0, 0, 1]])
    return (o @ i)[:2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine (e.g. the photo→chip transform of an explained face → chip→photo)."""
    full = np.vstack([np.asarray(m, np.float64).reshape(2, 3), [0, 0, 1]])
    if abs(np.linalg.det(full)) < 1e-12:
        raise ShapeError("the affine transform is singular")
    return np.linalg.inv(full)[:2]


def affine_box(affine: np.ndarray, shape: tuple[int, int]) -> list[float]:
    """Axis-aligned photo box ``[x0, y0, x1, y1]`` covered by an (h, w) map placed by ``affine``."""
    h, w = shape
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1], [w - 0.5, h - 0.5, 1]])
    p = corners @ np.asarray(affine, np.float64).reshape(2, 3).T
    return [float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())]


def box_affine(src: list[float], dst: list[float]) -> np.ndarray:
    """Affine that maps box ``src`` onto box ``dst`` (translation + per-axis scale)."""
    sx = (dst[2] - dst[0]) / (src[2] - src[0])
    sy = (dst[3] - dst[1]) / (src[3] - src[1])
    return np.array([[sx, 0, dst[0] - sx * src[0]], [0, sy, dst[1] - sy * src[1]]])


def map_payload(values: Any, affine: Any = None, encoding: str = "float16", max_side: int = MAP_MAX_SIDE,
                name: str = "map", allow_nan: bool = False) -> dict:
    """Encode a map for the front end (see the module docstring for the payload).

    Args:
        values: (h, w) real finite map (1-D (n,) arrays are accepted for per-vertex values).
        affine: 2x3 map pixel → photo pixel transform; default identity (the map is on the photo's grid).
        encoding: ``"float16"`` (2 bytes per value) or ``"uint8"`` (1 byte, 256 levels between the
            map's min and max).
        max_side: maps larger than this are shrunk (area average) before encoding; ``affine`` is
            adjusted so the map stays where it was.
        allow_nan: keep NaN ("no data", e.g. unseen canonical vertices; float16 and 1-D only).
    """
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().float().cpu().numpy()
    one_d = np.asarray(values).ndim == 1
    if allow_nan and (encoding != "float16" or not one_d):
        raise ShapeError("NaN (no data) travels only in 1-D float16 payloads")
    if one_d:
        arr = check_map(np.asarray(values)[None, :], name, allow_nan)
    else:
        arr = check_map(values, name)
    if encoding not in ("float16", "uint8"):
        raise ShapeError(f"map encoding must be 'float16' or 'uint8'; got {encoding!r}")
    aff = np.array([[1.0, 0, 0], [0, 1.0, 0]]) if affine is None else np.asarray(affine, np.float64)
    if aff.shape not in ((2, 3), (6,)):
        raise ShapeError(f"affine must be 2x3; got shape {aff.shape}")
    aff = aff.reshape(2, 3)
    if not one_d:
        h0, w0 = arr.shape
        arr = resize_map(arr, max_side)
        h, w = arr.shape
        if (h, w) != (h0, w0):  # new pixel centre u' ↔ old (u' + 0.5) w0 / w − 0.5
            fx, fy = w0 / w, h0 / h
            aff = compose_affine(aff, np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]]))
    h, w = arr.shape
    finite = arr[np.isfinite(arr)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    scale = max(abs(lo), abs(hi))
    if encoding == "float16":
        data = (arr / scale if scale > 0 else arr).astype("<f2").tobytes()
    else:
        span = hi - lo
        q = np.zeros_like(arr) if span <= 0 else (arr - lo) / span * 255.0
        data = np.clip(np.rint(q), 0, 255).astype(np.uint8).tobytes()
    return {"data": data, "shape": [w] if one_d else [h, w], "dtype": encoding, "lo": lo, "hi": hi,
            "scale": float(scale), "signed": lo < 0, "affine": [float(v) for v in aff.ravel()]}


def crop_photo_map(values: np.ndarray, margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Crop a photo-space map to its non-zero support; returns (crop, affine crop pixel → photo pixel)."""
    x0, y0, x1, y1 = support_box([values], margin)
    return values[y0:y1, x0:x1], np.array([[1.0, 0, x0], [0, 1.0, y0]])


def face_view_box(face, image_shape, margin: float = 1.8) -> list[float]:
    """A square photo box ``[x0, y0, x1, y1]`` around a face (its box enlarged ``margin`` times),
    clipped to the photo: what the views zoom to."""
    x0, y0, x1, y1 = (float(v) for v in face.box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * margin / 2
    h, w = image_shape[:2]
    return [max(-0.5, cx - half), max(-0.5, cy - half), min(w - 0.5, cx + half), min(h - 0.5, cy + half)]


def crop_view(picture: np.ndarray, box: list[float] | None) -> np.ndarray:
    """The part of a photo-sized picture inside ``box`` (photo pixels); the whole picture when empty."""
    if not box:
        return picture
    h, w = picture.shape[:2]
    x0, y0 = max(0, int(round(box[0] + 0.5))), max(0, int(round(box[1] + 0.5)))
    x1, y1 = min(w, int(round(box[2] + 0.5))), min(h, int(round(box[3] + 0.5)))
    return picture[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else picture


def decode_payload(payload: dict) -> np.ndarray:
    """Inverse of :func:`map_payload` (float32), as the front end decodes it."""
    shape = tuple(payload["shape"])
    if payload["dtype"] == "float16":
        arr = np.frombuffer(payload["data"], dtype="<f2").astype(np.float32)
        arr = arr * payload["scale"] if payload["scale"] > 0 else arr
    else:
        q = np.frombuffer(payload["data"], dtype=np.uint8).astype(np.float32)
        arr = payload["lo"] + q / 255.0 * (payload["hi"] - payload["lo"])
    return arr.reshape(shape)


def float32_bytes(arr: np.ndarray) -> bytes:
    return np.ascontiguousarray(arr, dtype="<f4").tobytes()


def uint16_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr)
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise ShapeError("indices must fit in uint16")
    return np.ascontiguousarray(arr, dtype="<u2").tobytes()
