"""BRISQUE (Mittal et al., 2012) through PyPI ``brisque`` 0.2.0, which ships its SVR model in the wheel.

The library computes the 36 natural-scene-statistics features (MSCN coefficients and their pairwise
products at two scales, fitted with asymmetric generalised Gaussians) and scores them with the
libsvm model trained on LIVE. Its raw score is about 0–100, **lower = better**; we report
``brisque = 100 − raw`` (higher = better) and ``brisque_raw``. Computed on the grey measurement chip
(150×150, :data:`~facewidget.quality.batch.MEASUREMENT_TEMPLATE`), i.e. on the face.

Work-around (kept here, the library is not patched): with numpy ≥ 2.x the library's feature vector
holds 1-element arrays and its ``scale_features`` fails on ``float(array)`` ("only 0-dimensional
arrays can be converted"); :class:`_Brisque` overrides that one method to flatten the features
first. Nothing is downloaded: the model files are read from the installed package.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import UnsupportedOperationError
from .batch import FaceBatch
from .fiqa import FIQAMethod

_ENGINE = None


def _engine():
    global _ENGINE
    if _ENGINE is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from brisque import BRISQUE
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise UnsupportedOperationError(f"BRISQUE needs the 'brisque' package and OpenCV: {exc}") from exc

        class _Brisque(BRISQUE):
            def scale_features(self, features):
                flat = np.array([np.asarray(f, dtype=np.float64).reshape(-1)[0] for f in features])
                lo = np.asarray(self.scale_params["min_"], dtype=np.float64)
                hi = np.asarray(self.scale_params["max_"], dtype=np.float64)
                return -1 + (2.0 / (hi - lo) * (flat - lo))

        _ENGINE = _Brisque(url=False)
    return _ENGINE


def brisque_raw(gray: np.ndarray) -> float:
    """The library's BRISQUE score (lower = better) of an RGB uint8 or float image."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return float(_engine().score(gray))


class Brisque(FIQAMethod):
    """``{"brisque": 100 − raw, "brisque_raw": raw}`` per face on the measurement chip."""

    name = "brisque"

    def params(self):
        from importlib import metadata

        try:
            version = metadata.version("brisque")
        except metadata.PackageNotFoundError:  # pragma: no cover
            version = None
        return {"library": "brisque", "version": version}

    def __call__(self, batch: FaceBatch):
        chips = batch.measurement_chips()
        rgb = (chips.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
        raw = np.array([brisque_raw(img) for img in rgb], dtype=np.float64)
        return {"brisque": 100.0 - raw, "brisque_raw": raw}
