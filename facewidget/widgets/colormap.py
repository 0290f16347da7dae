"""Colour maps and value scaling for display (the same rules as ``js/src/colormap.js``).

Both sides read ``colormaps.json`` (evenly spaced sRGB stops, linearly interpolated into 256
entries), so the PNG fallback and the live view colour a map identically.

Scaling (``mode``):
  * ``"sequential"``: ``t = (v - vmin) / (vmax - vmin)`` with ``vmin = min(lo, 0)``, ``vmax = hi``
    (non-negative maps start at 0, so zero evidence is the bottom of the scale).
  * ``"diverging"``: ``t = 0.5 + v / (2 m)`` with ``m = max(|lo|, |hi|)``: 0 sits in the middle of
    the colour map, for signed maps (e.g. Grad-CAM kept signed, similar − dissimilar).
  * ``"auto"``: diverging when the map has negative values, else sequential.
NaN means "no data" and is never drawn (canonical vertices the photo did not show).
A pixel is drawn when its strength (``t`` for sequential, ``|v| / m`` for diverging) is at least
``threshold`` (0..1) and strictly above 0; otherwise it is transparent.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ParameterError, ShapeError

_STOPS_FILE = Path(__file__).with_name("colormaps.json")
SCALE_MODES = ("auto", "sequential", "diverging")


@lru_cache(maxsize=1)
def _stops() -> dict[str, list[str]]:
    data = json.loads(_STOPS_FILE.read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def colormap_names() -> list[str]:
    """Names of the available colour maps."""
    return sorted(_stops())


@lru_cache(maxsize=16)
def lut(name: str) -> np.ndarray:
    """(256, 3) uint8 table of colour map ``name``."""
    stops = _stops().get(name)
    if stops is None:
        raise ShapeError(f"unknown colour map {name!r}; choose one of {colormap_names()}")
    rgb = np.array([[int(s[i:i + 2], 16) for i in (1, 3, 5)] for s in stops], dtype=np.float64)
    pos = np.linspace(0.0, 1.0, len(stops))
    t = np.arange(256) / 255.0
    table = np.stack([np.interp(t, pos, rgb[:, c]) for c in range(3)], axis=1)
    return np.rint(table).astype(np.uint8)


def resolve_mode(mode: str, lo: float) -> str:
    if mode not in SCALE_MODES:
        raise ParameterError("scale", mode, f"one of {SCALE_MODES}")
    if mode == "auto":
        return "diverging" if lo < 0 else "sequential"
    return mode


def scale_values(values: np.ndarray, mode: str = "auto", value_range=None) -> tuple[np.ndarray, np.ndarray, str]:
    """Map values to colour-map positions ``t`` in [0, 1] and strengths in [0, 1]; returns (t, strength, mode).
    ``value_range`` = (lo, hi): scale against a range shared with other maps instead of this map's own."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if value_range is not None:
        lo, hi = float(value_range[0]), float(value_range[1])
    else:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    mode = resolve_mode(mode, lo)
    if mode == "diverging":
        m = max(abs(lo), abs(hi))
        if m == 0:
            return np.full(v.shape, 0.5), np.zeros(v.shape), mode
        return np.clip(0.5 + v / (2 * m), 0, 1), np.abs(v) / m, mode
    vmin, vmax = min(lo, 0.0), hi
    if vmax <= vmin:
        return np.zeros(v.shape), np.zeros(v.shape), mode
    t = np.clip((v - vmin) / (vmax - vmin), 0, 1)
    return t, t, mode


def colorize(values: np.ndarray, colormap: str = "inferno", diverging_colormap: str = "rdbu",
             mode: str = "auto", threshold: float = 0.0, opacity: float = 1.0, *, value_range=None,
             mask=None) -> np.ndarray:
    """RGBA uint8 (..., 4) image of ``values``: colour from the scaled value, alpha = opacity where shown.
    ``mask`` (same shape, optional): pixels where it is < 0.5 (e.g. not significant) are transparent."""
    t, strength, mode = scale_values(values, mode, value_range)
    table = lut(diverging_colormap if mode == "diverging" else colormap)
    idx = np.clip(np.rint(np.nan_to_num(t) * 255), 0, 255).astype(np.intp)
    strength = np.nan_to_num(strength, nan=0.0)  # NaN = no data: transparent
    rgba = np.empty(t.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = table[idx]
    shown = (strength >= threshold) & (strength > 0)
    if mask is not None:
        shown &= np.asarray(mask) >= 0.5
    rgba[..., 3] = np.where(shown, int(round(np.clip(opacity, 0, 1) * 255)), 0)
    return rgba
