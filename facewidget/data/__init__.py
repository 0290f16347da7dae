"""Sample photos and fetched model assets.

>>> from facewidget import data
>>> data.samples()           # names of the sample photos
>>> img = data.sample("obama")   # RGB uint8 array, fetched and verified on first use
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .assets import Asset, PackageSource, UrlSource, cache_dir, sha256_file
from .registry import LANDMARKER, MODEL_ASSETS, SAMPLES
from ..errors import ParameterError

__all__ = ["Asset", "PackageSource", "UrlSource", "cache_dir", "sha256_file", "sample", "sample_path",
           "samples", "fetch_all", "LANDMARKER", "MODEL_ASSETS", "SAMPLES"]


def samples() -> list[str]:
    """Names of the sample photos, for :func:`sample`."""
    return list(SAMPLES)


def sample_path(name: str) -> Path:
    """Verified local path of a sample photo (fetched on first use)."""
    try:
        asset = SAMPLES[name]
    except KeyError:
        raise ParameterError("name", name, f"one of {', '.join(SAMPLES)}") from None
    return asset.path()


def sample(name: str) -> np.ndarray:
    """A sample photo as an RGB uint8 array of shape (H, W, 3)."""
    from ..io import load_image

    return load_image(sample_path(name))


def fetch_all() -> list[Path]:
    """Fetch every registered asset (used by ``make`` set-up); returns their paths."""
    from .assets import _REGISTRY

    return [asset.path() for asset in _REGISTRY]
