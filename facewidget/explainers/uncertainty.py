"""Per-pixel uncertainty of perturbation maps, from the engine's running sums (O(h·w) memory).

Every function takes a :class:`~facewidget.explainers.engine.MaskMoments` (sums over the n masks seen
so far) and returns (K, h, w) float64 tensors, so the maps can be tested live while masks stream.

* CorrRISE: the test of a Pearson correlation r over n masks,
  ``t = r·sqrt((n − 2) / (1 − r²))``, two-sided, Student t with n − 2 degrees of freedom (what
  ``scipy.stats.pearsonr`` reports).
* RISE (``E[s | u kept] − E[s] = cov(M(u), s) / mean M(u)``): standard error of that estimate from
  the least-squares slope of s on M(u), ``SE = sqrt((1 − r²)/(n − 2))·sd(s)/sd(M)·var(M)/mean(M)``;
  p from ``t = map / SE`` with n − 2 degrees of freedom (the map is a rescaled regression slope,
  so the test is the slope's t-test).
* Occlusion (each pixel's map is the mean drop over the k windows covering it): standard error
  ``sd(drop) / sqrt(k)`` of that mean, p from a one-sample t test with k − 1 degrees of freedom
  (needs Σ M·s², kept by the moments).

``significant`` = Benjamini–Hochberg (1995) at false-discovery rate ``fdr`` over the pixels of one
map (:func:`benjamini_hochberg`). Pixels that never vary get p = 1.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from ..errors import ParameterError

DEFAULT_FDR = 0.05


def _open_unit(name: str, value) -> float:
    """``value`` as a float strictly between 0 and 1, else a ParameterError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, value, "a number in (0, 1)") from None
    if not 0.0 < number < 1.0:
        raise ParameterError(name, value, "a number in (0, 1)")
    return number


def check_fdr(fdr) -> float:
    return _open_unit("fdr", fdr)


def two_sided_t(t: torch.Tensor, df) -> torch.Tensor:
    """Two-sided p-values of t statistics (scipy's Student t; df scalar or like t)."""
    t_np = np.abs(t.detach().cpu().numpy())
    df_np = np.broadcast_to(np.asarray(df.detach().cpu().numpy() if isinstance(df, torch.Tensor) else df,
                                       dtype=np.float64), t_np.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2.0 * stats.t.sf(t_np, np.maximum(df_np, 1.0))
    p = np.where(np.isfinite(p) & (df_np >= 1.0), p, 1.0)
    return torch.as_tensor(np.clip(p, 0.0, 1.0), dtype=torch.float64)


def pearson_p_values(corr: torch.Tensor, n: int) -> torch.Tensor:
    """(K, h, w) two-sided p-values of Pearson correlations ``corr`` over ``n`` samples."""
    if n < 3:
        return torch.ones_like(corr, dtype=torch.float64, device="cpu")
    r = corr.to(torch.float64).clamp(-1.0, 1.0)
    with torch.no_grad():
        t = r * torch.sqrt((n - 2) / (1.0 - r * r).clamp_min(1e-300))
    p = two_sided_t(t, n - 2)
    return torch.where(r.cpu() == 0, torch.ones_like(p), p)


def rise_standard_error(moments) -> torch.Tensor:
    """(K, h, w) standard error of :meth:`MaskMoments.rise` (see the module doc)."""
    n = moments.n
    mean_m = moments.sum_m / n
    var_m = (moments.sum_m2 / n - mean_m ** 2).clamp_min(0)
    mean_s = moments.sum_s / n
    var_s = (moments.sum_s2 / n - mean_s ** 2).clamp_min(0)
    r = moments.pearson()
    slope_se = torch.sqrt(((1 - r * r).clamp_min(0) / max(n - 2, 1)) * var_s[:, None, None]
                          / var_m.clamp_min(1e-300)[None])
    return slope_se * var_m[None] / mean_m.clamp_min(1e-300)[None]


def rise_p_values(moments) -> torch.Tensor:
    """(K, h, w) two-sided p-values of the RISE map (t = map / SE, n − 2 degrees of freedom)."""
    n = moments.n
    value = moments.rise()
    se = rise_standard_error(moments)
    t = torch.where(se > 0, value / se.clamp_min(1e-300), torch.zeros_like(value))
    p = two_sided_t(t, n - 2) if n >= 3 else torch.ones_like(t.cpu())
    return torch.where(se.cpu() > 0, p, torch.ones_like(p))


def occlusion_standard_error(moments) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, h, w) standard error of the mean drop over the windows covering each pixel, and the
    number of such windows (h, w). Needs binary masks (sliding windows) and Σ M·s²."""
    k = moments.n - moments.sum_m  # windows occluding the pixel
    # occluded scores s' (shifted): Σ_occ s' = Σ s' − Σ M s'; Σ_occ s'² = Σ s'² − Σ M s'²
    s1 = moments.sum_s[:, None, None] - moments.sum_ms
    s2 = moments.sum_s2[:, None, None] - moments.sum_ms2
    kk = k[None].clamp_min(1.0)
    mean = s1 / kk
    var = ((s2 - kk * mean * mean) / (kk - 1).clamp_min(1.0)).clamp_min(0)  # the drops' variance = the scores'
    return torch.sqrt(var / kk), k


def occlusion_p_values(moments, drop: torch.Tensor) -> torch.Tensor:
    """(K, h, w) two-sided p-values of the mean drops ``drop`` (one-sample t, k − 1 df)."""
    se, k = occlusion_standard_error(moments)
    t = torch.where(se > 0, drop.to(se) / se.clamp_min(1e-300), torch.zeros_like(se))
    p = two_sided_t(t, (k - 1)[None].expand_as(t))
    return torch.where((se.cpu() > 0) & (k[None].cpu() >= 2), p, torch.ones_like(p))


def benjamini_hochberg(p_values, fdr: float = DEFAULT_FDR) -> np.ndarray:
    """Benjamini–Hochberg step-up over the last two axes: bool array, True = discovery at ``fdr``.

    ``p_values``: (..., h, w). Each (h, w) map is one family of m = h·w tests: sort p ascending,
    find the largest k with p_(k) <= k·fdr / m, reject the k smallest.
    """
    fdr = check_fdr(fdr)
    p = np.asarray(p_values, dtype=np.float64)
    flat = p.reshape(-1, p.shape[-2] * p.shape[-1])
    m = flat.shape[1]
    order = np.argsort(flat, axis=1, kind="stable")
    ranked = np.take_along_axis(flat, order, axis=1)
    below = ranked <= fdr * np.arange(1, m + 1) / m
    out = np.zeros_like(flat, dtype=bool)
    for i in range(flat.shape[0]):
        hits = np.nonzero(below[i])[0]
        if hits.size:
            out[i, order[i, :hits[-1] + 1]] = True
    return out.reshape(p.shape)


def significance_maps(p_values: torch.Tensor, fdr: float) -> list[dict[str, np.ndarray]]:
    """Per chip ``{"p_value": float32 (h, w), "significant": float32 0/1 (h, w)}``."""
    p = p_values.detach().cpu().to(torch.float64).numpy()
    sig = benjamini_hochberg(p, fdr)
    return [{"p_value": p[i].astype(np.float32), "significant": sig[i].astype(np.float32)} for i in range(p.shape[0])]


def live_maps(signed: torch.Tensor, p_values: torch.Tensor, fdr: float) -> dict[str, np.ndarray]:
    """What a progress update's ``maps`` holds for a perturbation method: ``{"signed", "p_value",
    "significant"}``, each (K, h, w) float32."""
    p = p_values.detach().cpu().to(torch.float64).numpy()
    return {"signed": signed.detach().float().cpu().numpy(), "p_value": p.astype(np.float32),
            "significant": benjamini_hochberg(p, fdr).astype(np.float32)}


def resolve_n(n, reliability, n_max, n_min: int = 128):
    """``n`` as an int, or None for ``"auto"``; checks the auto-stop parameters."""
    if isinstance(n, str):
        if n != "auto":
            raise ParameterError("n", n, "'auto' or an int >= 2")
        _open_unit("reliability", reliability)
        if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or n_max < max(16, n_min):
            raise ParameterError("n_max", n_max, f"an int >= {max(16, n_min)}")
        return None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ParameterError("n", n, "'auto' or an int >= 2")
    return int(n)
