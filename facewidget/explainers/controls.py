"""Control variates for CorrRISE and RISE: the same maps from far fewer forward passes.

CorrRISE estimates, per pixel u, the Pearson correlation between the mask value M(u) and the score
s over random masks. The plain estimate is noisy because s also moves with every *other* region's
occlusion: that variation is independent of M(u) far from u, yet it enters the sample covariance as
noise of order sd(s)/sqrt(n).

Masks cost nothing next to a forward pass, and their distribution is known exactly. So each mask is
also summarised by R *controls* X_r: the occluded fraction of each cell of a ``cells``×``cells``
grid over the chip. With the least-squares fit s ≈ a + X·β over the masks seen so far, the estimate

    cov*(u) = cov_n(M(u), s) − Σ_r β_r · (cov_n(M(u), X_r) − C_r(u)),    C_r(u) = Cov(M(u), X_r) exactly,

has the same expectation as cov_n(M(u), s) (the subtracted term has mean zero: a classic
regression-adjusted control variate) and a variance that shrinks with the share of Var(s) the
controls explain (R² ≈ 0.87 for dlib on a genuine pair: about 8× fewer masks for the same map).
The map is r*(u) = cov*(u) / sqrt(Var M(u) · var_n(s)), the estimand is unchanged: the Pearson
correlation of CorrRISE.

The exact covariances exist in closed form for the default masks — squares of side ``s`` whose
number is Poisson(λ) and whose top-left corners are uniform over the P = (h + s − 1)(w + s − 1)
positions from which a square touches the chip. They form a Poisson process, every pixel is covered
by squares at exactly s² positions, so P(u kept) = q = exp(−λs²/P) and

    Cov(M(u), M(v)) = q² · (exp(λ·o(u, v)/P) − 1),   o(u, v) = (s − |Δy|)₊ (s − |Δx|)₊,

and C_r(u) = −mean over v in cell r of Cov(M(u), M(v)). The exponential is expanded in its power
series, whose every term is separable in rows and columns, so a cell's sum is a sum of products of
1-D sums (exact to 1e-12, milliseconds instead of a 2-D convolution per cell).

RISE's grid masks have them too: a mask is B (cells kept independently with probability p)
upsampled bilinearly — separable 1-D linear weights A_y, A_x — and cropped at a shift (dy, dx)
uniform and independent per axis. E[M(u) | shift] = p everywhere, so

    Cov(M(u), M(v)) = p(1 − p) · K_y(u_y, v_y) · K_x(u_x, v_x),   K_y = mean over dy of A_yᵀA_y (cropped),

and each cell's covariance is again a product of row and column sums. The same estimate serves
RISE, whose map E[s | u kept] − E[s] is cov(M(u), s) / E[M(u)]: cov*(u) / p.

Other mask designs (a fixed square count, stratified or Sobol placement) have no such closed form,
and CorrRISE uses the plain estimate for them.

Uncertainty: with e = s − a − X·β, cov*(u) has standard error sqrt(Var M(u) · σ_e² / n) (the
regression's own uncertainty in β adds back exactly the part of Var M(u) the controls explain), so
the p-value of pixel u is the two-sided Student t test of t = cov*(u) / SE with n − R − 2 degrees of
freedom, σ_e² = SSE / (n − R − 1).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from ..errors import ParameterError
from .masks import GridMasks, PatchMasks
from .uncertainty import pearson_p_values, rise_p_values, two_sided_t

DEFAULT_CELLS = 6


@dataclass(frozen=True)
class ControlDesign:
    """What the controls need from a mask design.

    Attributes:
        weights: (R, h·w) float64; control r of a mask M is X_r = 1 − weights[r] · M (rows sum to 1:
            the occluded fraction of cell r).
        cov_mx: (R, h, w) float64, exact Cov(M(u), X_r).
        var_m: (h, w) float64, exact Var M(u).
        mean_m: (h, w) float64, exact E M(u).
        cells: grid cells per side.
    """

    weights: torch.Tensor
    cov_mx: torch.Tensor
    var_m: torch.Tensor
    mean_m: torch.Tensor
    cells: int

    @property
    def count(self) -> int:
        return int(self.weights.shape[0])

    def to(self, device) -> "ControlDesign":
        return ControlDesign(self.weights.to(device), self.cov_mx.to(device), self.var_m.to(device),
                             self.mean_m.to(device), self.cells)


def _cell_edges(n: int, cells: int) -> list[int]:
    return [round(i * n / cells) for i in range(cells + 1)]


def _bands(n: int, edges: list[int]) -> torch.Tensor:
    """(n, cells) indicator of each coordinate's band."""
    bands = torch.zeros(n, len(edges) - 1, dtype=torch.float64)
    for j in range(len(edges) - 1):
        bands[edges[j]:edges[j + 1], j] = 1.0
    return bands


def _cell_weights(h: int, w: int, cells: int) -> tuple[torch.Tensor, torch.Tensor, list[int], list[int]]:
    """(R, h·w) weights of the controls (each cell's occluded fraction), cell areas (R,), edges."""
    ey, ex = _cell_edges(h, cells), _cell_edges(w, cells)
    area = torch.tensor([(ey[i + 1] - ey[i]) * (ex[j + 1] - ex[j]) for i in range(cells) for j in range(cells)],
                        dtype=torch.float64)
    weights = torch.zeros(cells * cells, h, w, dtype=torch.float64)
    for a in range(cells):
        for b in range(cells):
            weights[a * cells + b, ey[a]:ey[a + 1], ex[b]:ex[b + 1]] = 1.0 / float(area[a * cells + b])
    return weights.reshape(cells * cells, h * w), area, ey, ex


def _check_cells(cells, h: int, w: int) -> None:
    if isinstance(cells, bool) or not isinstance(cells, int) or cells < 1 or cells > min(h, w):
        raise ParameterError("controls", cells, f"an int from 1 to {min(h, w)} (grid cells per side), or 0 for none")


def _band_power_sums(n: int, side: int, edges: list[int], power: int) -> torch.Tensor:
    """(n, cells): for each coordinate u, Σ over v in each band of ((side − |u − v|)₊)^power."""
    idx = torch.arange(n, dtype=torch.float64)
    a = (side - (idx[:, None] - idx[None, :]).abs()).clamp_min(0) ** power  # (n, n)
    return a @ _bands(n, edges)


def poisson_patch_design(size, side: int, mean_patches: float, cells: int = DEFAULT_CELLS) -> ControlDesign | None:
    """Exact control covariances for Poisson(``mean_patches``) squares of ``side`` pixels, uniform
    corners over the positions that touch the (h, w) chip (see the module doc). None when a pixel is
    kept with probability below 1e-4 (masks that hide nearly everything: nothing to control).
    Cached per design (the tensors are read-only)."""
    h, w = int(size[0]), int(size[1])
    _check_cells(cells, h, w)
    return _poisson_patch_design(h, w, int(side), float(mean_patches), cells)


@functools.lru_cache(maxsize=8)
def _poisson_patch_design(h: int, w: int, s: int, lam: float, cells: int) -> ControlDesign | None:
    positions = (h + s - 1) * (w + s - 1)
    c = lam / positions
    q = math.exp(-c * s * s)
    if q < 1e-4:
        return None
    weights, area, ey, ex = _cell_weights(h, w, cells)
    # Σ_{v in cell} (exp(c·a(dy)·a(dx)) − 1) = Σ_{j>=1} c^j / j! · (Σ_vy a(dy)^j) (Σ_vx a(dx)^j)
    total = torch.zeros(cells, cells, h, w, dtype=torch.float64)
    term_max, j = 1.0, 0
    while term_max > 1e-16:  # c·s² <= 9.3 here (q >= 1e-4): converges within ~45 terms
        j += 1
        coef = c ** j / math.factorial(j)
        ry = _band_power_sums(h, s, ey, j)  # (h, cells)
        rx = _band_power_sums(w, s, ex, j)  # (w, cells)
        term = coef * torch.einsum("ya,xb->abyx", ry, rx)
        total += term
        term_max = (c * s * s) ** j / math.factorial(j)  # bound on a kernel entry's term
    cov_mx = -(q * q) * total.reshape(cells * cells, h, w) / area[:, None, None]
    var_m = torch.full((h, w), q - q * q, dtype=torch.float64)
    return ControlDesign(weights, cov_mx, var_m, torch.full((h, w), q, dtype=torch.float64), cells)


def grid_mask_design(size, grid_cells: int, keep: float, cells: int = DEFAULT_CELLS) -> ControlDesign:
    """Exact control covariances for RISE's grid masks (:class:`~facewidget.explainers.masks.GridMasks`
    with ``grid_cells`` and ``keep``) on an (h, w) chip (see the module doc). Cached per design."""
    h, w = int(size[0]), int(size[1])
    _check_cells(cells, h, w)
    return _grid_mask_design(h, w, int(grid_cells), float(keep), cells)


def _shift_averaged_kernel(n: int, grid_cells: int, cell: int) -> torch.Tensor:
    """(n, n): mean over the shift d in [0, cell) of Σ_c A[c, u + d]·A[c, v + d], A the (grid_cells,
    (grid_cells + 1)·cell) 1-D linear upsampling weights (align_corners=False, as the masks)."""
    import torch.nn.functional as F

    eye = torch.eye(grid_cells, dtype=torch.float64)[:, None, :]
    a = F.interpolate(eye, size=(grid_cells + 1) * cell, mode="linear", align_corners=False)[:, 0, :]
    out = torch.zeros(n, n, dtype=torch.float64)
    for d in range(cell):
        part = a[:, d:d + n]
        out += part.T @ part
    return out / cell


@functools.lru_cache(maxsize=8)
def _grid_mask_design(h: int, w: int, grid_cells: int, p: float, cells: int) -> ControlDesign:
    ky = _shift_averaged_kernel(h, grid_cells, math.ceil(h / grid_cells))
    kx = _shift_averaged_kernel(w, grid_cells, math.ceil(w / grid_cells))
    weights, area, ey, ex = _cell_weights(h, w, cells)
    ry, rx = ky @ _bands(h, ey), kx @ _bands(w, ex)  # (h, cells), (w, cells)
    v = p * (1 - p)
    cov_mx = -v * torch.einsum("ya,xb->abyx", ry, rx).reshape(cells * cells, h, w) / area[:, None, None]
    var_m = v * torch.outer(torch.diagonal(ky), torch.diagonal(kx))
    return ControlDesign(weights, cov_mx, var_m, torch.full((h, w), p, dtype=torch.float64), cells)


def control_design(source, controls, correlation: str = "pearson"):
    """The control-variate design for ``source`` (``controls`` cells per side), or None: 0 asks for
    the plain estimate; only Poisson squares placed at random and RISE's grid masks have exact
    control covariances, and Spearman's rank pass has no control term (see
    :mod:`facewidget.explainers.controls`)."""
    if isinstance(controls, bool) or not isinstance(controls, int) or controls < 0:
        raise ParameterError("controls", controls, "an int >= 0 (grid cells per side; 0 = the plain estimate)")
    if controls == 0 or correlation != "pearson":
        return None
    if isinstance(source, GridMasks):
        return grid_mask_design(source.size, source.cells, source.keep, controls)
    if isinstance(source, PatchMasks) and source.poisson and source.placement == "random":
        return poisson_patch_design(source.size, source.side, source.patches, controls)
    return None


class ControlSums:
    """Running sums for the controls of one mask run (float64): Σ X (R,), Σ X Xᵀ (R, R),
    Σ X·s (K, R), Σ X_r·M (R, h, w). Mergeable by addition, like :class:`MaskMoments`."""

    def __init__(self, design: ControlDesign, streams: int, size, device):
        kw = dict(dtype=torch.float64, device=device)
        r = design.count
        self.design = design
        self.sum_x = torch.zeros(r, **kw)
        self.sum_xx = torch.zeros(r, r, **kw)
        self.sum_xs = torch.zeros(streams, r, **kw)
        self.sum_mx = torch.zeros(r, *size, **kw)

    def add(self, masks64: torch.Tensor, shifted_scores: torch.Tensor) -> None:
        """masks (B, h, w) float64, scores (K, B) float64 (already shifted by the run's shift)."""
        flat = masks64.reshape(masks64.shape[0], -1)
        x = 1.0 - flat @ self.design.weights.T  # (B, R)
        self.sum_x += x.sum(0)
        self.sum_xx += x.T @ x
        self.sum_xs += shifted_scores @ x
        self.sum_mx += (x.T @ flat).reshape(self.sum_mx.shape)

    def merge(self, other: "ControlSums") -> None:
        self.sum_x += other.sum_x
        self.sum_xx += other.sum_xx
        self.sum_xs += other.sum_xs
        self.sum_mx += other.sum_mx


@dataclass
class _Fit:
    mean_s: torch.Tensor  # (K,)
    mean_x: torch.Tensor  # (R,)
    s_xs: torch.Tensor    # (K, R) sample Cov(s, X)
    beta: torch.Tensor    # (R, K) least-squares slopes of s on X
    var_s: torch.Tensor   # (K,) sample Var s


def _fit(moments) -> _Fit | None:
    """The least-squares fit of the scores on the controls from the running sums (None while the
    run has too few masks, n <= 2·R + 2, to fit it)."""
    sums: ControlSums = moments.controls
    n, r = moments.n, sums.design.count
    if n <= 2 * r + 2:
        return None
    mean_s = moments.sum_s / n
    mean_x = sums.sum_x / n
    s_xx = sums.sum_xx / n - torch.outer(mean_x, mean_x)
    s_xs = sums.sum_xs / n - mean_s[:, None] * mean_x[None]
    ridge = 1e-10 * float(torch.diagonal(s_xx).mean()) * torch.eye(r, dtype=s_xx.dtype, device=s_xx.device)
    beta = torch.linalg.solve(s_xx + ridge, s_xs.T)
    var_s = (moments.sum_s2 / n - mean_s ** 2).clamp_min(0)
    return _Fit(mean_s, mean_x, s_xs, beta, var_s)


def controlled_covariance(moments, eps: float = 1e-12, p_values: bool = True):
    """(cov*, p-values or None) per stream, (K, h, w) each, or None while the run has too few masks
    to fit β (n <= 2·R + 2). See the module doc."""
    fit = _fit(moments)
    if fit is None:
        return None
    design = moments.controls.design
    n, r = moments.n, design.count
    mean_m = moments.sum_m / n
    cov_ms = moments.sum_ms / n - fit.mean_s[:, None, None] * mean_m[None]
    cov_mx = moments.controls.sum_mx / n - fit.mean_x[:, None, None] * mean_m[None]
    cov = cov_ms - torch.einsum("rk,rhw->khw", fit.beta, cov_mx - design.cov_mx)
    if not p_values:
        return cov, None
    residual = (fit.var_s - (fit.s_xs * fit.beta.T).sum(1)).clamp_min(0)  # (K,) per mask, biased
    sigma2 = residual * n / (n - r - 1)
    se = torch.sqrt(design.var_m[None] * sigma2[:, None, None] / n)
    t = torch.where(se > eps, cov / se.clamp_min(eps), torch.zeros_like(cov))
    p = two_sided_t(t, n - r - 2)
    return cov, torch.where((se.cpu() > eps) & (cov.cpu() != 0), p, torch.ones_like(p))


def controlled_correlation(moments, eps: float = 1e-12, p_values: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(K, h, w) control-variate Pearson maps r* = cov* / sqrt(Var M · var_n s) and their two-sided
    p-values (see the module doc) from :class:`~facewidget.explainers.engine.MaskMoments` built with
    a :class:`ControlDesign`.

    Until the run has more than 2·R + 2 masks (too few to fit β), the plain Pearson map and its
    correlation test are returned. ``p_values=False`` skips the test (None)."""
    got = controlled_covariance(moments, eps, p_values)
    if got is None:
        corr = moments.pearson()
        return corr, pearson_p_values(corr, moments.n) if p_values else None
    cov, p = got
    var_s = (moments.sum_s2 / moments.n - (moments.sum_s / moments.n) ** 2).clamp_min(0)
    denom = torch.sqrt(moments.controls.design.var_m[None] * var_s[:, None, None])
    corr = torch.where(denom > eps, cov / denom.clamp_min(eps), torch.zeros_like(cov)).clamp(-1, 1)
    return corr, p


def controlled_rise(moments, eps: float = 1e-12, p_values: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(K, h, w) control-variate RISE maps cov* / E[M] (E[s | u kept] − E[s]; see the module doc)
    and their p-values (the same t test as cov*). Before a fit, the plain RISE map and its slope test."""
    got = controlled_covariance(moments, eps, p_values)
    if got is None:
        return moments.rise(), rise_p_values(moments) if p_values else None
    cov, p = got
    return cov / moments.controls.design.mean_m[None], p


def control_record(design: ControlDesign | None, moments) -> dict | None:
    """What a manifest records of a run's control variates (None: the plain estimate ran)."""
    if design is None:
        return None
    return {"cells": design.cells, "count": design.count, "explained_variance": explained_share(moments)}


def explained_share(moments) -> list[float] | None:
    """Per stream, the share R² of the scores' variance the controls explain (None before a fit)."""
    fit = _fit(moments)
    if fit is None:
        return None
    explained = (fit.s_xs * fit.beta.T).sum(1) / fit.var_s.clamp_min(1e-300)
    return [round(float(v), 4) for v in explained.clamp(0, 1).cpu()]
