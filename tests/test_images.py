"""load_image: every accepted source, EXIF orientation, and the bad-input corpus."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import facewidget as fw
from facewidget.io import images as images_mod


def _jpeg_bytes(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)


def test_sources_agree(tmp_path, small):
    png = tmp_path / "x.png"
    Image.fromarray(small).save(png)
    expected = small
    assert np.array_equal(fw.load_image(png), expected)
    assert np.array_equal(fw.load_image(str(png)), expected)
    assert np.array_equal(fw.load_image(png.read_bytes()), expected)
    with open(png, "rb") as fh:
        assert np.array_equal(fw.load_image(fh), expected)
    assert np.array_equal(fw.load_image(Image.open(png)), expected)
    assert np.array_equal(fw.load_image(small), expected)
    chw = torch.from_numpy(small).permute(2, 0, 1)
    assert np.array_equal(fw.load_image(chw), expected)
    assert np.array_equal(fw.load_image(torch.from_numpy(small)), expected)  # HWC tensor
    assert np.array_equal(fw.load_image(chw.float() / 255), expected)


def test_array_dtypes_and_layouts(small):
    grey = small[:, :, 0]
    out = fw.load_image(grey)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, 1], grey)
    assert np.array_equal(fw.load_image(grey[:, :, None]), out)
    u16 = small.astype(np.uint16) * 257
    assert np.array_equal(fw.load_image(u16), small)
    f = small.astype(np.float32) / 255
    assert np.array_equal(fw.load_image(f), small)
    rgba = np.dstack([small, np.full(small.shape[:2], 255, np.uint8)])
    assert np.array_equal(fw.load_image(rgba), small)
    transparent = rgba.copy()
    transparent[..., 3] = 0
    assert (fw.load_image(transparent) == 255).all()  # alpha composited onto white


# How a viewer shows stored pixels for each EXIF orientation (EXIF 2.32, tag 0x0112: where the stored
# row 0 / column 0 go), written with numpy from the standard, not with Pillow's table.
EXIF_DISPLAY = {
    1: lambda a: a,  # row 0 top, column 0 left
    2: lambda a: a[:, ::-1],  # row 0 top, column 0 right: mirrored
    3: lambda a: a[::-1, ::-1],  # row 0 bottom, column 0 right: 180°
    4: lambda a: a[::-1],  # row 0 bottom, column 0 left: flipped
    5: lambda a: a.transpose(1, 0, 2),  # row 0 left, column 0 top: transposed
    6: lambda a: np.rot90(a, -1),  # row 0 right, column 0 top: 90° clockwise
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # row 0 right, column 0 bottom: transverse
    8: lambda a: np.rot90(a, 1),  # row 0 left, column 0 bottom: 90° anticlockwise
}


def _blocks(h_blocks: int, w_blocks: int, block: int = 8, seed: int = 3) -> np.ndarray:
    """An asymmetric picture of flat 8×8 colour blocks (JPEG keeps flat blocks nearly exact)."""
    colours = np.random.default_rng(seed).integers(0, 256, size=(h_blocks, w_blocks, 3), dtype=np.uint8)
    return np.repeat(np.repeat(colours, block, 0), block, 1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    """Each of the 8 EXIF orientations gives the picture a viewer would show, pixel by pixel; the
    picture (3×5 random colour blocks) differs from every other orientation of itself, so a wrong
    rotation or a missing mirror fails."""
    stored = _blocks(3, 5)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, format="JPEG", quality=95, subsampling=0, exif=exif.tobytes())
    out = fw.load_image(buf.getvalue())
    expected = EXIF_DISPLAY[orientation](stored)
    assert out.shape == expected.shape
    error = np.abs(out.astype(int) - expected.astype(int))
    assert error.max() <= 4, (error.mean(), error.max())  # flat 8×8 blocks at quality 95: JPEG error ~1
    for other, show in EXIF_DISPLAY.items():  # the picture tells every orientation apart
        wrong = show(stored)
        if other != orientation and wrong.shape == out.shape:
            assert np.abs(out.astype(int) - wrong.astype(int)).mean() > 20, other


def test_16bit_png(tmp_path):
    arr = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    p = tmp_path / "g16.png"
    Image.fromarray(arr).save(p)
    out = fw.load_image(p)
    assert out.shape == (64, 64, 3)
    for y, x in ((-1, -1), (32, 10), (0, 5)):
        assert out[y, x, 0] == round(int(arr[y, x]) * 255 / 65535)


def _png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels (its data is tiny and invalid)."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


BAD_INPUTS = [
    ("junk bytes", b"this is not an image at all", fw.UnreadableImageError),
    ("empty bytes", b"", fw.EmptyImageError),
    ("empty array", np.zeros((0, 10, 3), np.uint8), fw.EmptyImageError),
    ("NaN array", np.full((4, 4, 3), np.nan, np.float32), fw.NonFiniteImageError),
    ("inf array", np.full((4, 4), np.inf), fw.NonFiniteImageError),
    ("float out of range", np.full((4, 4, 3), 3.0), fw.UnsupportedImageModeError),
    ("int32 array", np.zeros((4, 4, 3), np.int32), fw.UnsupportedImageModeError),
    ("5 channels", np.zeros((4, 4, 5), np.uint8), fw.UnsupportedImageModeError),
    ("4-d array", np.zeros((2, 4, 4, 3), np.uint8), fw.UnsupportedImageModeError),
    ("object array", np.array([[None]]), fw.UnsupportedImageModeError),
    ("complex array", np.zeros((4, 4), np.complex64), fw.UnsupportedImageModeError),
    ("decompression bomb", _png_header_bomb(30000, 30000), fw.ImageTooLargeError),
    ("unsupported type", 12345, fw.UnsupportedImageModeError),
]


@pytest.mark.parametrize("name,src,error", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_raise_named_errors(name, src, error):
    with pytest.raises(error) as info:
        fw.load_image(src)
    assert isinstance(info.value, fw.FacewidgetError)
    assert str(info.value)  # a message a person can read


def test_truncated_file(tmp_path, sample_images):
    data = _jpeg_bytes(sample_images["astronaut"])
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(fw.TruncatedImageError):
        fw.load_image(p)
    assert p.read_bytes() == data[: len(data) // 2]  # the input is never modified


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(fw.UnreadableImageError, match="cannot be opened"):
        fw.load_image(tmp_path / "nope.jpg")
    with pytest.raises(fw.UnreadableImageError, match="not a file"):
        fw.load_image(tmp_path)


def test_pixel_and_file_size_limits(tmp_path, monkeypatch, small):
    monkeypatch.setattr(images_mod, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(fw.ImageTooLargeError, match="FACEWIDGET_MAX_IMAGE_PIXELS"):
        fw.load_image(small)
    monkeypatch.setattr(images_mod, "MAX_IMAGE_PIXELS", 10**9)
    p = tmp_path / "big.png"
    Image.fromarray(small).save(p)
    monkeypatch.setattr(images_mod, "MAX_FILE_BYTES", 10)
    with pytest.raises(fw.ImageTooLargeError, match="bytes"):
        fw.load_image(p)


def test_sample_32bit_png_loads_as_rgb(sample_images):
    img = sample_images["32bit"]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` pixels (the pixel data is missing)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


class _RecordingModule(type(Image)):
    writes: list = []

    def __setattr__(self, name, value):
        type(self).writes.append(name)
        super().__setattr__(name, value)


def test_load_image_never_changes_pils_process_wide_limit(monkeypatch, small):
    """PIL's MAX_IMAGE_PIXELS is shared by every thread and library: load_image neither writes nor
    depends on it; facewidget's own limit is checked from the header, before decoding."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # a user's stricter PIL setting
    monkeypatch.setattr(Image, "__class__", _RecordingModule)
    _RecordingModule.writes.clear()
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="PNG")
    assert fw.load_image(buf.getvalue()).shape == small.shape
    with pytest.raises(fw.ImageTooLargeError, match="pixels"):  # 40 gigapixels claimed: refused unread
        fw.load_image(_png_header_claiming(200_000, 200_000))
    assert "MAX_IMAGE_PIXELS" not in _RecordingModule.writes
    assert Image.MAX_IMAGE_PIXELS == 10
