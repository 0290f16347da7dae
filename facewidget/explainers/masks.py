"""Mask sources for the engine (chip space, float32 in [0, 1], 1 = pixel kept).

* :class:`PatchMasks` — CorrRISE's occluding patches: each mask blacks out ``patches`` squares of
  ``patch`` pixels (30 px at 112×112 by default, scaled to the chip size).
* :class:`GridMasks` — RISE masks: a ``cells``×``cells`` binary grid, each cell kept with
  probability ``keep``, upsampled bilinearly to (cells + 1)·cell size and cropped at a random shift.
* :class:`SlidingWindows` — every window of ``window`` pixels at ``stride`` occluded once
  (deterministic).
* :class:`TensorMasks` — a fixed stack of masks (Score-CAM's normalised activation maps).

Random sources draw only the few random parameters per mask (patch corners, grid bits, shifts) from
the CPU generator they are given, so masks are identical on every device for one seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ShapeError, ParameterError


def _check_size(size) -> tuple[int, int]:
    h, w = (int(size[0]), int(size[1]))
    if h < 2 or w < 2:
        raise ShapeError(f"mask size must be at least 2x2; got {size}")
    return h, w


class PatchMasks:
    """Occluding-patch masks (CorrRISE).

    Args:
        size: (h, w) chip size.
        patches: squares per mask (CorrRISE used about 3-10). Default 5: the *mean* count.
        count: ``"poisson"`` (default): each mask has a Poisson(``patches``) number of squares, so
            the squares form a Poisson process and whether two regions more than a square apart are
            occluded is independent. With a ``"fixed"`` count, a square over one region is a square
            missing elsewhere: occluding the background then correlates with keeping the face, so a
            region the model ignores gets a real, nonzero correlation (measured: 74 % of such pixels
            "significant" at n = 1500 on a synthetic model) that no test can call noise.
        patch: side in pixels *at 112×112*; scaled by min(h, w) / 112 (30 px → 40 px at 150).
        placement: how square corners are drawn. ``"random"`` (default): independent uniform.
            ``"stratified"``: per block of masks, a Latin hypercube over the block's squares (each
            of rows and columns cut into as many strata as squares, one square per stratum).
            ``"sobol"``: a scrambled Sobol sequence (scramble seeded by ``seed``) over the
            2·``patches`` corner coordinates of each mask, indexed by mask number.
    Every pixel is occluded with the same probability: square corners are drawn so that squares may
    hang over the chip's border (top-left in [-(side - 1), h - 1]).
    """

    count = None
    PLACEMENTS = ("random", "stratified", "sobol")

    def __init__(self, size, patches: int = 5, patch: float = 30.0, placement: str = "random", seed: int = 0,
                 count: str = "poisson"):

        self.size = _check_size(size)
        if patches < 1:
            raise ParameterError("patches", patches, "an integer >= 1")
        if patch <= 0:
            raise ParameterError("patch", patch, "a size in pixels > 0")
        if placement not in self.PLACEMENTS:
            raise ParameterError("placement", placement, f"one of {self.PLACEMENTS}")
        if count not in ("poisson", "fixed"):
            raise ParameterError("patch_count", count, "'poisson' or 'fixed'")
        self.patches, self.patch, self.placement, self.seed = int(patches), float(patch), placement, int(seed)
        self.poisson = count == "poisson"
        # with a Poisson count, corners are drawn for a cap of squares and the first k_i are used
        self.slots = int(self.patches + 6 * math.sqrt(self.patches) + 4) if self.poisson else self.patches
        self.side = max(1, int(round(patch * min(self.size) / 112.0)))

    def _corners(self, index: int, count: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(count, slots) integer top-left rows and columns."""
        h, w = self.size
        s = self.side
        if self.placement == "random":
            return (torch.randint(-(s - 1), h, (count, self.slots), generator=generator),
                    torch.randint(-(s - 1), w, (count, self.slots), generator=generator))
        if self.placement == "stratified":
            m = count * self.slots
            u = []
            for _ in range(2):
                perm = torch.randperm(m, generator=generator).to(torch.float64)
                u.append((perm + torch.rand(m, generator=generator, dtype=torch.float64)) / m)
        else:
            from .engine import MASK_BLOCK

            engine = torch.quasirandom.SobolEngine(2 * self.slots, scramble=True, seed=self.seed)
            if index:
                engine.fast_forward(index * MASK_BLOCK)
            pts = engine.draw(count, dtype=torch.float64)
            u = [pts[:, :self.slots].reshape(-1), pts[:, self.slots:].reshape(-1)]
        ys = (-(s - 1) + (u[0] * (h + s - 1)).floor()).long().clamp(-(s - 1), h - 1)
        xs = (-(s - 1) + (u[1] * (w + s - 1)).floor()).long().clamp(-(s - 1), w - 1)
        return ys.reshape(count, self.slots), xs.reshape(count, self.slots)

    def block(self, index: int, count: int, generator) -> torch.Tensor:
        h, w = self.size
        s = self.side
        y0, x0 = (c.tolist() for c in self._corners(index, count, generator))
        if self.poisson:
            k = torch.poisson(torch.full((count,), float(self.patches), dtype=torch.float64), generator=generator)
            k = k.clamp(max=self.slots).long().tolist()
        else:
            k = [self.patches] * count
        out = torch.ones(count, h, w)
        for i in range(count):  # a few slice writes per mask: far cheaper than (B, P, h, w) comparisons
            for y, x in zip(y0[i][:k[i]], x0[i][:k[i]]):
                out[i, max(y, 0):y + s, max(x, 0):x + s] = 0.0
        return out

    def describe(self) -> dict:
        return {"kind": "patches", "patches": self.patches, "patch_at_112": self.patch, "patch_px": self.side,
                "placement": self.placement, "count": "poisson" if self.poisson else "fixed"}


class GridMasks:
    """RISE masks: ``cells``×``cells`` grid, cells kept with probability ``keep``, bilinear upsampling
    to (cells + 1)·⌈size / cells⌉ and a random crop (the shift), as in Petsiuk et al. 2018."""

    count = None

    def __init__(self, size, cells: int = 7, keep: float = 0.5):
        self.size = _check_size(size)
        if cells < 1:
            raise ParameterError("cells", cells, "an integer >= 1")
        if not 0.0 < keep < 1.0:
            raise ParameterError("keep", keep, "a probability in (0, 1)")
        self.cells, self.keep = int(cells), float(keep)
        h, w = self.size
        self.cell = (math.ceil(h / cells), math.ceil(w / cells))

    def block(self, index: int, count: int, generator) -> torch.Tensor:
        h, w = self.size
        ch, cw = self.cell
        grid = (torch.rand(count, 1, self.cells, self.cells, generator=generator) < self.keep).float()
        dy = torch.randint(0, ch, (count,), generator=generator)
        dx = torch.randint(0, cw, (count,), generator=generator)
        up = F.interpolate(grid, size=((self.cells + 1) * ch, (self.cells + 1) * cw), mode="bilinear",
                           align_corners=False)[:, 0]
        rows = (dy[:, None] + torch.arange(h)[None])  # (B, h)
        cols = (dx[:, None] + torch.arange(w)[None])  # (B, w)
        out = up.gather(1, rows[:, :, None].expand(-1, -1, up.shape[2]))
        out = out.gather(2, cols[:, None, :].expand(-1, h, -1))
        return out.contiguous()

    def describe(self) -> dict:
        return {"kind": "grid", "cells": self.cells, "keep": self.keep}


class SlidingWindows:
    """One mask per window position: a ``window``×``window`` square occluded, stepping by ``stride``
    (windows also start at the last position so the right/bottom border is covered)."""

    def __init__(self, size, window: int = 16, stride: int = 8):
        self.size = _check_size(size)
        if window < 1 or stride < 1:
            raise ParameterError("window" if window < 1 else "stride", window if window < 1 else stride, "an integer >= 1")
        h, w = self.size
        self.window, self.stride = min(int(window), h, w), int(stride)

        def starts(n):
            pos = list(range(0, n - self.window + 1, self.stride))
            if pos[-1] != n - self.window:
                pos.append(n - self.window)
            return pos

        self.positions = [(y, x) for y in starts(h) for x in starts(w)]
        self.count = len(self.positions)

    def block(self, index: int, count: int, generator=None) -> torch.Tensor:
        from .engine import MASK_BLOCK

        h, w = self.size
        out = torch.ones(count, h, w)
        for i in range(count):
            y, x = self.positions[index * MASK_BLOCK + i]
            out[i, y:y + self.window, x:x + self.window] = 0.0
        return out

    def describe(self) -> dict:
        return {"kind": "sliding-window", "window": self.window, "stride": self.stride, "count": self.count}


class TensorMasks:
    """A fixed stack of masks (n, h, w) in [0, 1] (kept on the CPU, moved per batch)."""

    def __init__(self, masks: torch.Tensor, kind: str = "tensor"):
        if masks.ndim != 3:
            raise ShapeError(f"masks must be (n, h, w); got {tuple(masks.shape)}")
        self.masks = masks.detach().float().cpu()
        self.size = tuple(self.masks.shape[-2:])
        self.count = self.masks.shape[0]
        self.kind = kind

    def block(self, index: int, count: int, generator=None) -> torch.Tensor:
        from .engine import MASK_BLOCK

        return self.masks[index * MASK_BLOCK:index * MASK_BLOCK + count]

    def describe(self) -> dict:
        return {"kind": self.kind, "count": self.count}
