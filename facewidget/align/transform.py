"""Batched similarity alignment and its inverse, in torch (CPU or GPU).

Conventions
    Points are (x, y) pixels with pixel centres at integer coordinates. A transform is a 2×3
    matrix ``M`` mapping *photo* coordinates to *chip* coordinates: ``chip = M @ [x, y, 1]``.
    Images and maps are ``(B, C, H, W)`` float tensors; chips are float32 RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import NoFaceError, ShapeError
from .templates import AlignmentTemplate


def estimate_similarity(src, dst) -> torch.Tensor:
    """Least-squares similarity transforms (rotation, uniform scale, translation; no reflection).

    Args:
        src: (B, K, 2) or (K, 2) source points. dst: (B, K, 2) or (K, 2) target points. K >= 2.
    Returns:
        (B, 2, 3) float64 transforms with ``dst ≈ M @ [src, 1]`` (Umeyama's solution, which for
        2-D similarities equals linear least squares over (a, b, tx, ty)).
    """
    src = torch.as_tensor(src, dtype=torch.float64)
    dst = torch.as_tensor(dst, dtype=torch.float64, device=src.device)
    if src.ndim == 2:
        src = src[None]
    if dst.ndim == 2:
        dst = dst[None].expand(src.shape[0], -1, -1)
    if src.ndim != 3 or src.shape[-1] != 2 or src.shape != dst.shape or src.shape[1] < 2:
        raise ShapeError(f"estimate_similarity needs (B, K, 2) point sets of equal shape with K >= 2; "
                         f"got {tuple(src.shape)} and {tuple(dst.shape)}")
    mu_s, mu_d = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
    s, d = src - mu_s, dst - mu_d
    var = (s ** 2).sum(dim=(1, 2))
    # a = Σ s·d / Σ|s|², b = Σ s×d / Σ|s|² (complex-number form of a 2-D similarity)
    a = (s[..., 0] * d[..., 0] + s[..., 1] * d[..., 1]).sum(1) / var
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(1) / var
    rot = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], -2)  # (B, 2, 2)
    t = mu_d[:, 0] - (rot @ mu_s[:, 0, :, None])[..., 0]
    return torch.cat([rot, t[..., None]], dim=-1)


def invert_affine(m) -> torch.Tensor:
    """Inverse of (B, 2, 3) affine transforms."""
    m = torch.as_tensor(m, dtype=torch.float64)
    lin_inv = torch.linalg.inv(m[..., :2])
    return torch.cat([lin_inv, -(lin_inv @ m[..., 2:])], dim=-1)


def _normaliser(h: int, w: int) -> torch.Tensor:
    """3×3 map from pixel coordinates to grid_sample's [-1, 1] (align_corners=True)."""
    return torch.tensor([[2.0 / max(w - 1, 1), 0, -1.0], [0, 2.0 / max(h - 1, 1), -1.0], [0, 0, 1.0]],
                        dtype=torch.float64)


def _theta(m_out_to_in: torch.Tensor, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> torch.Tensor:
    """affine_grid's normalised (B, 2, 3) theta for an output→input pixel transform."""
    b = m_out_to_in.shape[0]
    full = torch.cat([m_out_to_in.cpu(), torch.tensor([[[0, 0, 1.0]]], dtype=torch.float64).expand(b, 1, 3)], 1)
    return (_normaliser(*in_hw) @ full @ torch.linalg.inv(_normaliser(*out_hw)))[:, :2]


def warp_affine(images: torch.Tensor, transforms, out_size: tuple[int, int], *,
                mode: str = "bilinear", fill: float = 0.0) -> torch.Tensor:
    """Warp (B, C, H, W) ``images`` by (B, 2, 3) input→output ``transforms`` into ``out_size``.

    Pixels that map outside the input get ``fill``.
    """
    if images.ndim != 4:
        raise ShapeError(f"warp_affine needs (B, C, H, W) images; got {tuple(images.shape)}")
    m = torch.as_tensor(transforms, dtype=torch.float64, device=images.device)
    if m.ndim == 2:
        m = m[None]
    dtype = images.dtype if images.is_floating_point() else torch.float32
    b, c = m.shape[0], images.shape[1]
    oh, ow = out_size
    theta = _theta(invert_affine(m), tuple(images.shape[-2:]), tuple(out_size)).to(images.device, dtype)
    grid = F.affine_grid(theta, [b, c, oh, ow], align_corners=True)
    src = images.to(dtype) - fill
    if images.shape[0] == 1 and b > 1:
        # One photo, many chips: stack the chips' grids along the height and sample the photo once,
        # instead of expanding it to the batch (grid_sample would copy it b times).
        out = F.grid_sample(src, grid.reshape(1, b * oh, ow, 2), mode=mode, padding_mode="zeros", align_corners=True)
        out = out.reshape(c, b, oh, ow).permute(1, 0, 2, 3).contiguous()
    elif images.shape[0] == b:
        out = F.grid_sample(src, grid, mode=mode, padding_mode="zeros", align_corners=True)
    else:
        raise ShapeError(f"warp_affine got {images.shape[0]} images for {b} transforms")
    return out + fill


@dataclass
class AlignedFaces:
    """Chips of faces and the transforms that made them.

    Attributes:
        chips: (B, 3, h, w) float32 RGB in [0, 1].
        transforms: (B, 2, 3) float64 photo→chip transforms (one per chip).
        template: the :class:`AlignmentTemplate` used.
        image_sizes: (height, width) of each chip's source photo.
    """

    chips: torch.Tensor
    transforms: torch.Tensor
    template: AlignmentTemplate
    image_sizes: list[tuple[int, int]]

    def __len__(self) -> int:
        return self.chips.shape[0]


def _image_tensor(image, device) -> torch.Tensor:
    if isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] == 3:
        t = image
    else:
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ShapeError(f"align_faces needs an RGB uint8 (H, W, 3) photo; got {arr.dtype} {arr.shape} "
                             "(use facewidget.load_image first)")
        t = torch.from_numpy(arr).permute(2, 0, 1)
    return t.to(device=device, dtype=torch.float32).div_(255.0)[None]


def align_faces(image, faces, template: AlignmentTemplate, *, padding: float | None = None,
                device=None) -> AlignedFaces:
    """Align ``faces`` of one photo to ``template``; returns :class:`AlignedFaces`.

    Args:
        image: RGB uint8 (H, W, 3) array (or a (3, H, W) tensor).
        faces: a :class:`~facewidget.faces.Face` or a list of them, from this photo.
        template: where the landmarks go. ``padding`` overrides the template's padding.
        device: torch device for the warp (default: CUDA when available).

    When a chip is much smaller than the face in the photo, the face region is first shrunk with
    an anti-aliasing filter, so the chip does not alias (dlib does the same with a pyramid).
    """
    if not isinstance(faces, (list, tuple)):
        faces = [faces]
    if not faces:
        raise NoFaceError("align_faces was given no faces")
    device = torch.device(device) if device is not None else (
        torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    photo = _image_tensor(image, device)
    _, _, h, w = photo.shape
    src = torch.tensor(np.stack([f.points(template.landmarks) for f in faces]), dtype=torch.float64)
    dst = torch.tensor(template.target_points(padding), dtype=torch.float64)
    transforms = estimate_similarity(src, dst)
    out_hw = tuple(template.size)
    chips = torch.empty((len(faces), 3, *out_hw), dtype=torch.float32, device=device)
    if template.dlib_chip_geometry:
        transforms = dlib_chip_transforms(transforms, out_hw)
        for level, (image_level, level_to_photo), idx in _dlib_pyramid_levels(photo, transforms, out_hw):
            chips[idx] = warp_affine(image_level, (transforms[idx] @ level_to_photo).to(device), out_hw)
    else:
        for level, idx in _pyramid_levels(transforms).items():
            chips[idx] = _warp_level(photo, transforms[idx], level, out_hw)
    return AlignedFaces(chips=chips.clamp_(0, 1), transforms=transforms,
                        template=template, image_sizes=[(h, w)] * len(faces))


def dlib_chip_transforms(transforms: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """Adjust plain template transforms to dlib's ``get_face_chip`` pixel grid.

    dlib centres the chip on the template centre ``(w/2, h/2)`` and spreads a box of
    ``w·s − 1`` photo pixels (s = photo pixels per chip pixel) over chip pixel centres
    ``0 … w−1``, so chip pixel c sits at template coordinate ``w/2 + (c − (w−1)/2)·(w·s − 1)/((w−1)·s)``.
    """
    h, w = out_hw
    scale = torch.sqrt(torch.det(transforms[:, :2, :2]).abs())  # chip px per photo px
    kx = (w - 1) / (w - scale)
    ky = (h - 1) / (h - scale)
    adjust = torch.zeros(transforms.shape[0], 3, 3, dtype=transforms.dtype, device=transforms.device)
    adjust[:, 0, 0], adjust[:, 1, 1], adjust[:, 2, 2] = kx, ky, 1.0
    adjust[:, 0, 2] = (w - 1) / 2 - kx * w / 2
    adjust[:, 1, 2] = (h - 1) / 2 - ky * h / 2
    full = torch.cat([transforms, torch.tensor([[[0, 0, 1.0]]], dtype=transforms.dtype,
                                               device=transforms.device).expand(transforms.shape[0], -1, -1)], 1)
    return (adjust @ full)[:, :2]


_BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)
# Where dlib's extract_image_chip *assumes* a pyramid pixel lies in its parent (point_up:
# (p + (1.25, 0.75)) * 2), not where the filter puts it (2p + 2); matching the assumption
# reproduces dlib's chips more closely (measured: biden's chip drift 0.048 → 0.021).
_PYRAMID_LEVEL_TO_PARENT = torch.tensor([[2.0, 0, 2.5], [0, 2.0, 1.5], [0, 0, 1]], dtype=torch.float64)


def _pyramid_down(image: torch.Tensor) -> torch.Tensor:
    """dlib's ``pyramid_down<2>``: 5-tap binomial filter, keep every other pixel (out i ↔ in 2i + 2)."""
    k = torch.tensor(_BINOMIAL_5, dtype=image.dtype, device=image.device) / 16.0
    c = image.shape[1]
    x = F.conv2d(image, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), stride=(1, 2), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), stride=(2, 1), groups=c)


def _dlib_pyramid_levels(photo: torch.Tensor, transforms: torch.Tensor, out_hw):
    """dlib's chip sampling: halve the photo with its binomial pyramid while the chip's footprint
    halved is still larger than the chip, then sample bilinearly (no further prefilter).

    Yields (level, (image at that level, level→photo 3×3), chip indices); each pyramid level is
    computed once and shared by every chip that needs it.
    """
    oh, ow = out_hw
    scales = torch.sqrt(torch.det(transforms[:, :, :2]).abs()).tolist()  # chip px per photo px
    wanted: dict[int, list[int]] = {}
    for i, s in enumerate(scales):
        footprint, level = (ow / s - 1) * (oh / s - 1), 0
        while footprint / 4 > oh * ow and min(photo.shape[-2:]) / 2 ** (level + 1) > 8:
            footprint /= 4
            level += 1
        wanted.setdefault(level, []).append(i)
    image, level_to_photo = photo, torch.eye(3, dtype=torch.float64)
    for level in range(max(wanted) + 1):
        if level in wanted:
            yield level, (image, level_to_photo), wanted[level]
        if level < max(wanted):
            image = _pyramid_down(image)
            level_to_photo = level_to_photo @ _PYRAMID_LEVEL_TO_PARENT


def _pyramid_levels(transforms: torch.Tensor) -> dict[int, list[int]]:
    """Group chips by pyramid level L (the photo shrunk 2^L times first, so the warp itself scales
    by 0.59-1.19 and does not alias). Chips of one level are warped in one batched call."""
    scales = torch.sqrt(torch.det(transforms[:, :, :2]).abs())  # chip px per photo px
    levels: dict[int, list[int]] = {}
    for i, s in enumerate(scales.tolist()):
        level = max(0, int(np.floor(np.log2(1.0 / max(s, 1e-9)) + 0.25)))
        levels.setdefault(level, []).append(i)
    return levels


def _warp_level(photo: torch.Tensor, transforms: torch.Tensor, level: int, out_hw) -> torch.Tensor:
    """Warp chips from pyramid level ``level`` of the part of ``photo`` their footprints cover."""
    if level == 0:
        return warp_affine(photo, transforms.to(photo.device), out_hw)
    _, _, h, w = photo.shape
    oh, ow = out_hw
    corners = torch.tensor([[0, 0, 1], [ow - 1, 0, 1], [0, oh - 1, 1], [ow - 1, oh - 1, 1]], dtype=torch.float64)
    footprint = corners @ invert_affine(transforms).transpose(1, 2)  # (B, 4, 2) in photo pixels
    f = 2 ** level
    x0 = int(max(0, np.floor(footprint[..., 0].min().item()) - 2 * f))
    y0 = int(max(0, np.floor(footprint[..., 1].min().item()) - 2 * f))
    x1 = int(min(w, np.ceil(footprint[..., 0].max().item()) + 2 * f + 1))
    y1 = int(min(h, np.ceil(footprint[..., 1].max().item()) + 2 * f + 1))
    if x1 - x0 < 2 * f or y1 - y0 < 2 * f:  # the chips lie (almost) wholly outside the photo
        return warp_affine(photo, transforms.to(photo.device), out_hw)
    crop = photo[:, :, y0:y1, x0:x1]
    ch, cw = crop.shape[-2:]
    nh, nw = max(2, round(ch / f)), max(2, round(cw / f))
    small = F.interpolate(crop, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    # Pixel centre j of the shrunk crop sits at crop coordinate (j + 0.5)·(cw / nw) − 0.5.
    sx, sy = cw / nw, ch / nh
    small_to_photo = torch.tensor([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5], [0, 0, 1.0]],
                                  dtype=torch.float64)
    return warp_affine(small, (transforms @ small_to_photo).to(photo.device), out_hw)


def _as_maps(maps) -> tuple[torch.Tensor, int]:
    """Maps as (B, C, H, W) float tensor plus how many leading dims to drop on return."""
    t = torch.as_tensor(np.asarray(maps) if not isinstance(maps, torch.Tensor) else maps)
    if not t.is_floating_point():
        t = t.float()
    if t.ndim == 2:
        return t[None, None], 2
    if t.ndim == 3:
        return t[:, None], 1
    if t.ndim == 4:
        return t, 0
    raise ShapeError(f"a map must be (H, W), (B, H, W) or (B, C, H, W); got {tuple(t.shape)}")


def _restore(out: torch.Tensor, drop: int, like) -> np.ndarray | torch.Tensor:
    if drop == 2:
        out = out[0, 0]
    elif drop == 1:
        out = out[:, 0]
    return out if isinstance(like, torch.Tensor) else out.cpu().numpy()


def warp_to_image(chip_map, transform, image_shape, *, fill: float = 0.0):
    """Put a chip-space map back onto the photo.

    Args:
        chip_map: (h, w), (B, h, w) or (B, C, h, w) map in chip space (numpy or torch).
        transform: (2, 3) or (B, 2, 3) photo→chip transform (as in :class:`AlignedFaces`).
        image_shape: (H, W[, 3]) of the photo.
    Returns:
        The map in photo space, same leading layout and type (numpy or torch); ``fill`` outside
        the chip's footprint.
    """
    maps, drop = _as_maps(chip_map)
    m = torch.as_tensor(transform, dtype=torch.float64)
    if m.ndim == 2:
        m = m[None]
    out = warp_affine(maps, invert_affine(m), tuple(image_shape[:2]), fill=fill)
    return _restore(out, drop, chip_map)


def warp_to_chip(image_map, transform, chip_size, *, fill: float = 0.0):
    """Take a photo-space map into chip space (the inverse of :func:`warp_to_image`)."""
    maps, drop = _as_maps(image_map)
    m = torch.as_tensor(transform, dtype=torch.float64)
    if m.ndim == 2:
        m = m[None]
    out = warp_affine(maps, m, tuple(chip_size), fill=fill)
    return _restore(out, drop, image_map)
