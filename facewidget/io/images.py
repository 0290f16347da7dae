"""``load_image``: any common image source to an RGB uint8 array of shape (H, W, 3).

Accepted sources
    path (str / os.PathLike), bytes / bytearray / memoryview, a binary file object, a PIL image,
    a numpy array (H×W, H×W×1, H×W×3, H×W×4; uint8, uint16, bool, or float in [0, 1]), or a torch
    tensor (CHW or HWC, same dtypes; a leading batch dimension of 1 is dropped).
Conventions
    Channels are RGB; alpha is composited onto white; EXIF orientation is applied to encoded files.
Limits
    Images above ``MAX_IMAGE_PIXELS`` pixels (default 50 megapixels, env
    ``FACEWIDGET_MAX_IMAGE_PIXELS``) raise :class:`ImageTooLargeError` before they are decoded.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (
    EmptyImageError,
    ImageTooLargeError,
    NonFiniteImageError,
    TruncatedImageError,
    UnreadableImageError,
    UnsupportedImageModeError,
)

MAX_IMAGE_PIXELS = int(os.environ.get("FACEWIDGET_MAX_IMAGE_PIXELS", 50_000_000))
MAX_FILE_BYTES = 256 * 1024 * 1024


def _check_pixels(height: int, width: int, what: str) -> None:
    if height == 0 or width == 0:
        raise EmptyImageError(f"{what} is empty ({height}×{width} pixels)")
    if height * width > MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(
            f"{what} has {height}×{width} = {height * width:,} pixels, above the limit of "
            f"{MAX_IMAGE_PIXELS:,} (set FACEWIDGET_MAX_IMAGE_PIXELS to raise it)"
        )


def _from_pil(img: Any, what: str) -> np.ndarray:
    from PIL import Image, ImageOps

    _check_pixels(img.height, img.width, what)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block should not make a readable image unusable
        pass
    mode = img.mode
    if mode in {"I;16", "I;16B", "I;16L", "I"}:
        arr = np.asarray(img)
        scale = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return _from_array(arr.astype(np.float64) / scale, what)
    if mode == "F":
        return _from_array(np.asarray(img, dtype=np.float64), what)
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    try:
        rgb = img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise UnsupportedImageModeError(f"{what} has pixel mode {mode!r}, which cannot be converted to RGB") from exc
    return np.array(rgb, dtype=np.uint8)


def _open_unchecked(fh: Any):
    """What ``PIL.Image.open`` returns, without its decompression-bomb check.

    PIL checks the pixel count against its process-wide ``Image.MAX_IMAGE_PIXELS``; changing that
    would change every thread's and library's PIL. Instead the registered format plugins are asked
    directly, as ``Image.open`` does, and facewidget's own limit is checked from the header (the size
    is known before any pixel is decoded).
    """
    from PIL import Image

    if not (hasattr(fh, "seek") and getattr(fh, "seekable", lambda: True)()):
        fh = io.BytesIO(fh.read())
    start = fh.tell()
    prefix = fh.read(16)
    for full_registry in (False, True):  # Image.open tries the common plugins, then all of them
        if full_registry:
            Image.init()
        else:
            Image.preinit()
        for fmt in list(Image.ID):
            factory, accept = Image.OPEN[fmt]
            if accept is not None:
                verdict = accept(prefix)
                if not verdict or isinstance(verdict, str):
                    continue
            fh.seek(start)
            try:
                return factory(fh, "")
            except (SyntaxError, IndexError, TypeError, ValueError, EOFError, OSError, struct.error):
                continue  # not this format (PIL's plugins signal it this way)
    raise UnreadableImageError("no image format matched")


def _decode(fh: Any, what: str) -> np.ndarray:
    try:
        img = _open_unchecked(fh)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for junk input
        raise UnreadableImageError(f"{what} is not an image facewidget can read ({exc})") from exc
    _check_pixels(img.height, img.width, what)
    try:
        img.load()
    except OSError as exc:
        if "truncated" in str(exc).lower() or "end of" in str(exc).lower():
            raise TruncatedImageError(f"{what} is truncated: the file ends before the image data") from exc
        raise UnreadableImageError(f"{what} could not be decoded ({exc})") from exc
    except Exception as exc:  # noqa: BLE001
        raise UnreadableImageError(f"{what} could not be decoded ({exc})") from exc
    return _from_pil(img, what)


def _from_array(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise UnsupportedImageModeError(f"{what} has dtype {arr.dtype}; expected uint8, uint16, bool or float")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise UnsupportedImageModeError(
            f"{what} has shape {arr.shape}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
        )
    _check_pixels(arr.shape[0], arr.shape[1], what)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise NonFiniteImageError(f"{what} contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise UnsupportedImageModeError(
                f"{what} is float with values in [{lo:.3g}, {hi:.3g}]; float images must lie in [0, 1]"
            )
        arr = np.rint(arr * 255.0)
    elif arr.dtype == np.uint16:
        arr = np.rint(arr.astype(np.float64) * (255.0 / 65535.0))
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        raise UnsupportedImageModeError(
            f"{what} has dtype {arr.dtype}; integer images must be uint8 or uint16 (floats in [0, 1])"
        )
    arr = arr.astype(np.uint8, copy=False)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = np.rint(arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _from_tensor(tensor: Any, what: str) -> np.ndarray:
    t = tensor.detach().cpu()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim == 3 and t.shape[0] in (1, 3, 4):
        t = t.permute(1, 2, 0)  # channels first is the torch convention; HWC otherwise
    import torch

    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return _from_array(t.numpy(), what)


def load_image(src: Any) -> np.ndarray:
    """Read ``src`` into an RGB uint8 array of shape (H, W, 3). See the module docstring."""
    if isinstance(src, np.ndarray):
        return _from_array(src, "the array")
    if isinstance(src, (str, os.PathLike)):
        path = Path(src).expanduser()
        what = f"image file {str(path)!r}"
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UnreadableImageError(f"{what} cannot be opened ({exc.strerror or exc})") from exc
        if not path.is_file():
            raise UnreadableImageError(f"{what} is not a file")
        if size > MAX_FILE_BYTES:
            raise ImageTooLargeError(f"{what} is {size:,} bytes, above the {MAX_FILE_BYTES:,}-byte limit")
        try:
            with open(path, "rb") as fh:
                return _decode(fh, what)
        except OSError as exc:
            raise UnreadableImageError(f"{what} cannot be read ({exc.strerror or exc})") from exc
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise EmptyImageError("the image bytes are empty")
        return _decode(io.BytesIO(data), "the image bytes")
    if hasattr(src, "read"):
        return _decode(src, "the image file object")
    try:
        from PIL import Image

        if isinstance(src, Image.Image):
            return _from_pil(src, "the PIL image")
    except ImportError:  # pragma: no cover - pillow is a dependency
        pass
    if type(src).__module__.startswith("torch"):
        return _from_tensor(src, "the tensor")
    raise UnsupportedImageModeError(
        f"cannot read an image from {type(src).__name__}; pass a path, bytes, a file object, "
        "a PIL image, a numpy array or a torch tensor"
    )
