"""The one streaming engine every explainer runs on.

Two pieces:

* :class:`BatchLoop` — the batching / progress / cancel / timing loop. Gradient methods use it
  directly (integrated-gradient steps, ...).
* :func:`run_masks` — black-box perturbation on top of it: a :class:`MaskSource` draws masks block
  by block, every *stream* (an image plus a score function) is perturbed with the same masks, the
  perturbed chips go through the model in batches under ``no_grad`` (float32 unless a
  :func:`precision_scope` asks for fp16 / bf16 autocast), and a
  :class:`MaskMoments` accumulator keeps running sums ``Σ M, Σ M², Σ s, Σ s², Σ M·s`` per pixel.
  CorrRISE (Pearson), RISE, sliding-window occlusion and Score-CAM are all functions of these sums,
  so memory is O(H·W) per stream whatever the number of masks N.

Conventions
    A mask is float32 (h, w) in [0, 1] in chip space, **1 = pixel kept**, 0 = pixel replaced by
    the fill. A perturbed chip is ``chip · M + fill · (1 − M)``.

Reproducibility
    Masks come in fixed blocks of :data:`MASK_BLOCK` masks; block ``j`` is drawn from its own
    ``torch.Generator`` (on the CPU) seeded with ``(seed, j)``. So the same seed gives the same
    masks whatever the batch size or the device; on the CPU the same seed gives identical maps.

Spearman in O(H·W) memory
    Spearman = Pearson between M(u) and the *ranks* of the scores (for binary masks this is exactly
    Spearman's rho; for soft masks it is the rank-transform-the-scores variant used by the public
    CorrRISE re-implementation). Ranks need all scores, so the engine keeps the N scalar scores
    (8 bytes each: 64 kB at N = 8000) and, after the last forward pass, runs a second pass that
    *regenerates* the masks from the seed (no model calls) and accumulates ``Σ M·rank(s)``.
    Pixel memory stays O(H·W); the live maps during the first pass are Pearson maps.

Cancellation
    ``cancel`` is a ``threading.Event`` (or anything with ``is_set()``) or a zero-argument callable
    returning True. It is checked before every batch, so a run stops within one batch; the engine
    then raises :class:`ExplanationCancelled` (a :class:`facewidget.CancelledError`) whose
    ``partial`` attribute holds the result computed from the masks seen so far (the public API
    turns it into a partial explanation with ``manifest["cancelled"] = True``).

Progress
    ``progress(update)`` gets a :class:`ProgressUpdate` (``done``, ``total``, ``elapsed_s`` and a
    lazily computed ``maps``), at most every ``progress_interval`` seconds plus once after the first
    batch and once at the end. The first batch is a single mask block, so the first update comes
    quickly. Maps are only computed when a callback reads ``update.maps``.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from ..errors import CancelledError, ParameterError, ShapeError
from .controls import ControlDesign, ControlSums

MASK_BLOCK = 4
"""Masks per generator block (the unit of reproducibility and the size of the first batch, kept
small so the first progress update comes after a few forwards)."""


class ExplanationCancelled(CancelledError):
    """A run was cancelled; ``partial`` holds what was computed so far (or None)."""

    def __init__(self, message: str, partial: Any = None, done: int = 0, total: int = 0):
        super().__init__(message)
        self.partial = partial
        self.done = done
        self.total = total


def block_generator(seed: int, block: int) -> torch.Generator:
    """The CPU generator of mask block ``block`` for ``seed`` (independent streams per block)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(block)]).generate_state(2, dtype=np.uint32)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g


def is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


# --------------------------------------------------------------------------------------------
# progress, timings, the batch loop
# --------------------------------------------------------------------------------------------


class ProgressUpdate:
    """What a progress callback receives.

    Attributes:
        done: work items (masks, steps...) finished so far. total: work items in the run.
        elapsed_s: seconds since the run started. phase: e.g. ``"forward"`` or ``"ranks"``.
        reliability: with ``n="auto"``, the split-half reliability (Spearman–Brown corrected) of
            the maps at the last check, else None; ``total`` is then ``n_max``.
        maps: the current maps (computed on first access; the structure is the method's, e.g.
            ``{"a": {"similar": ..., "dissimilar": ...}, "b": {...}}`` for pairs).
    """

    def __init__(self, done: int, total: int, elapsed_s: float, maps_fn: Callable[[], Any] | None,
                 phase: str = "forward", reliability: float | None = None):
        self.done, self.total, self.elapsed_s, self.phase = done, total, elapsed_s, phase
        self.reliability = reliability
        self._maps_fn, self._maps = maps_fn, None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def maps(self):
        if self._maps is None and self._maps_fn is not None:
            self._maps = self._maps_fn()
        return self._maps

    def __repr__(self) -> str:
        rel = "" if self.reliability is None else f", reliability {self.reliability:.3f}"
        return f"ProgressUpdate({self.done}/{self.total}, {self.elapsed_s:.2f}s, {self.phase}{rel})"


@dataclass
class Timings:
    """Seconds spent per phase (``forward`` includes the device sync), plus counters."""

    seconds: dict[str, float] = field(default_factory=dict)
    first_progress_s: float | None = None
    started: float = field(default_factory=time.perf_counter)

    @contextlib.contextmanager
    def phase(self, name: str, device: torch.device | None = None):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if device is not None and device.type == "cuda":
                torch.cuda.synchronize(device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def as_dict(self) -> dict:
        d = {f"{k}_s": round(v, 6) for k, v in self.seconds.items()}
        d["total_s"] = round(self.elapsed, 6)
        if self.first_progress_s is not None:
            d["first_progress_s"] = round(self.first_progress_s, 6)
        return d


class BatchLoop:
    """Runs ``total`` work items in batches with progress, cancel and timings.

    ``step(start, stop)`` does items ``[start, stop)``. The first batch has ``first_batch`` items
    (small, so the first progress update is quick), the others ``batch_size``. With ``align``,
    no batch crosses a multiple of it; ``stop_fn(done)`` (asked after every batch) ends the run
    early when it returns True.
    """

    def __init__(self, total: int, batch_size: int, *, progress=None, cancel=None,
                 progress_interval: float = 0.25, first_batch: int | None = None, timings: Timings | None = None,
                 maps_fn: Callable[[], Any] | None = None, partial_fn: Callable[[], Any] | None = None,
                 align: int | None = None, stop_fn: Callable[[int], bool] | None = None):
        if total < 1:
            raise ParameterError("total", total, "at least 1 item")
        if batch_size < 1:
            raise ParameterError("batch_size", batch_size, "an integer >= 1")
        self.total, self.batch_size = int(total), int(batch_size)
        self.first_batch = int(first_batch or batch_size)
        self.progress, self.cancel = progress, cancel
        self.progress_interval = float(progress_interval)
        self.timings = timings or Timings()
        self.maps_fn, self.partial_fn = maps_fn, partial_fn
        self.align, self.stop_fn = align, stop_fn
        self.reliability: float | None = None
        self.done = 0
        self._last_report = -np.inf

    def report(self, *, force: bool = False, phase: str = "forward") -> None:
        if self.progress is None:
            return
        now = self.timings.elapsed
        if not force and now - self._last_report < self.progress_interval:
            return
        self._last_report = now
        self.progress(ProgressUpdate(self.done, self.total, now, self.maps_fn, phase, self.reliability))
        if self.timings.first_progress_s is None:
            self.timings.first_progress_s = self.timings.elapsed

    def check_cancel(self) -> None:
        if is_cancelled(self.cancel):
            partial = self.partial_fn() if (self.partial_fn is not None and self.done > 0) else None
            raise ExplanationCancelled(f"cancelled after {self.done} of {self.total}", partial, self.done, self.total)

    def run(self, step: Callable[[int, int], None]) -> None:
        start = 0
        while start < self.total:
            self.check_cancel()
            size = self.first_batch if start == 0 else self.batch_size
            stop = min(self.total, start + size)
            if self.align:  # batches never straddle a multiple of align (where stop_fn is asked)
                stop = min(stop, (start // self.align + 1) * self.align)
            step(start, stop)
            self.done = stop
            finished = stop == self.total or (self.stop_fn is not None and self.stop_fn(stop))
            self.report(force=(start == 0 or finished))
            if finished:
                break
            start = stop


# --------------------------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------------------------


class MaskSource(Protocol):
    """Draws masks in chip space: (count, h, w) float32 in [0, 1], 1 = kept."""

    size: tuple[int, int]
    count: int | None  # a fixed number of masks (deterministic sources), or None (random: any N)

    def block(self, index: int, count: int, generator: torch.Generator | None) -> torch.Tensor: ...

    def describe(self) -> dict: ...


def masks_for_range(source: MaskSource, seed: int, start: int, stop: int, device) -> torch.Tensor:
    """Masks ``[start, stop)`` of the run (start must be a multiple of MASK_BLOCK)."""
    out = []
    for blk in range(start // MASK_BLOCK, (stop + MASK_BLOCK - 1) // MASK_BLOCK):
        lo = blk * MASK_BLOCK
        n = MASK_BLOCK
        if source.count is not None:
            n = min(n, source.count - lo)
        gen = block_generator(seed, blk) if source.count is None else None
        out.append(source.block(blk, n, gen))
    masks = torch.cat(out)
    first = start - (start // MASK_BLOCK) * MASK_BLOCK
    return masks[first:first + stop - start].to(device, non_blocking=True)


# --------------------------------------------------------------------------------------------
# running sums
# --------------------------------------------------------------------------------------------


class MaskMoments:
    """Running sums over masks for K score streams (float64, O(K·H·W) memory).

    ``sum_m``, ``sum_m2``: (h, w); ``sum_s``, ``sum_s2``: (K,); ``sum_ms``: (K, h, w); ``n`` masks;
    ``sum_ms2`` (K, h, w) = Σ M·s² when built with ``score_squares=True``. ``shift`` may be given
    (the parts of one run share their parent's shift).
    Scores are stored shifted by the first batch's mean (Pearson and covariances do not change;
    it keeps the float64 sums well conditioned).
    """

    def __init__(self, streams: int, size: tuple[int, int], device, shift: torch.Tensor | None = None,
                 score_squares: bool = False, controls: ControlDesign | None = None):
        h, w = size
        kw = dict(dtype=torch.float64, device=device)
        self.k = streams
        self.sum_m = torch.zeros(h, w, **kw)
        self.sum_m2 = torch.zeros(h, w, **kw)
        self.sum_s = torch.zeros(streams, **kw)
        self.sum_s2 = torch.zeros(streams, **kw)
        self.sum_ms = torch.zeros(streams, h, w, **kw)
        # Σ M·s², only when asked (occlusion's standard error needs it)
        self.sum_ms2 = torch.zeros(streams, h, w, **kw) if score_squares else None
        self.shift: torch.Tensor | None = shift
        # control-variate sums (see explainers/controls.py), when the mask design has them
        self.controls = ControlSums(controls.to(device), streams, size, device) if controls is not None else None
        self.n = 0

    def add(self, masks: torch.Tensor, scores: torch.Tensor) -> None:
        """masks (B, h, w), scores (K, B)."""
        m = masks.to(torch.float64)
        s = scores.to(torch.float64)
        if self.shift is None:
            self.shift = s.mean(dim=1)
        s = s - self.shift[:, None]
        self.sum_m += m.sum(0)
        self.sum_m2 += (m * m).sum(0)
        self.sum_s += s.sum(1)
        self.sum_s2 += (s * s).sum(1)
        self.sum_ms += torch.einsum("kb,bhw->khw", s, m)
        if self.sum_ms2 is not None:
            self.sum_ms2 += torch.einsum("kb,bhw->khw", s * s, m)
        if self.controls is not None:
            self.controls.add(m, s)
        self.n += m.shape[0]

    def add_cross(self, masks: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Σ M·values for (B, h, w) masks and (K, B) values (used by the Spearman second pass)."""
        return torch.einsum("kb,bhw->khw", values.to(torch.float64), masks.to(torch.float64))

    @classmethod
    def merged(cls, parts: Sequence["MaskMoments"]) -> "MaskMoments":
        """The moments of the union of ``parts`` (which must share one shift)."""
        first = parts[0]
        out = cls(first.k, tuple(first.sum_m.shape), first.sum_m.device, shift=first.shift,
                  score_squares=first.sum_ms2 is not None,
                  controls=first.controls.design if first.controls is not None else None)
        for part in parts:
            if out.controls is not None:
                out.controls.merge(part.controls)
            if out.sum_ms2 is not None:
                out.sum_ms2 += part.sum_ms2
            out.sum_m += part.sum_m
            out.sum_m2 += part.sum_m2
            out.sum_s += part.sum_s
            out.sum_s2 += part.sum_s2
            out.sum_ms += part.sum_ms
            out.n += part.n
        return out

    # -- statistics --------------------------------------------------------------------------
    def mean_score(self) -> torch.Tensor:
        return self.sum_s / self.n + self.shift

    def pearson(self, sum_ms: torch.Tensor | None = None, sum_s=None, sum_s2=None, eps: float = 1e-12) -> torch.Tensor:
        """(K, h, w) Pearson correlation between M(u) and s (0 where either does not vary)."""
        n = self.n
        sum_ms = self.sum_ms if sum_ms is None else sum_ms
        sum_s = self.sum_s if sum_s is None else sum_s
        sum_s2 = self.sum_s2 if sum_s2 is None else sum_s2
        mean_m = self.sum_m / n
        mean_s = sum_s / n
        cov = sum_ms / n - mean_s[:, None, None] * mean_m
        var_m = (self.sum_m2 / n - mean_m ** 2).clamp_min(0)
        var_s = (sum_s2 / n - mean_s ** 2).clamp_min(0)
        denom = torch.sqrt(var_m[None] * var_s[:, None, None])
        corr = torch.where(denom > eps, cov / denom.clamp_min(eps), torch.zeros_like(cov))
        return corr.clamp(-1, 1)

    def rise(self) -> torch.Tensor:
        """(K, h, w) RISE importance as E[s | pixel kept] − E[s] = Σ s·M / Σ M − mean(s).

        RISE divides Σ s·M by N·E[M] (one number); dividing by each pixel's own Σ M instead
        removes the term mean(s)·(M̄(u)/E[M] − 1), coverage noise that dominates when the target
        has a large offset (a cosine near 0.9). Pixels never kept get 0.
        """
        kept = self.sum_m[None]
        cond = torch.where(kept > 1e-9, self.sum_ms / kept.clamp_min(1e-9), torch.zeros_like(self.sum_ms))
        return torch.where(kept > 1e-9, cond - (self.sum_s / self.n)[:, None, None], cond)

    def occlusion_drop(self, clean: torch.Tensor) -> torch.Tensor:
        """(K, h, w) mean of (clean score − occluded score) over the masks that occluded each pixel.

        ``clean``: (K,) unperturbed scores. Pixels never occluded get 0.
        """
        n = self.n
        occluded_count = n - self.sum_m  # Σ (1 − M)
        # Σ (1−M)(c − s) with s = s' + shift:  Σ(1−M)·(c − shift) − (Σ s' − Σ M s')
        c = (clean.to(torch.float64) - self.shift)[:, None, None]
        total = occluded_count[None] * c - (self.sum_s[:, None, None] - self.sum_ms)
        return torch.where(occluded_count[None] > 1e-9, total / occluded_count.clamp_min(1e-9)[None],
                           torch.zeros_like(total))

    def weighted_sum(self, baseline: torch.Tensor) -> torch.Tensor:
        """(K, h, w) Σ_i (s_i − baseline)·M_i (Score-CAM with masks = activation maps)."""
        b = (baseline.to(torch.float64) - self.shift)[:, None, None]
        return self.sum_ms - b * self.sum_m[None]


# --------------------------------------------------------------------------------------------
# black-box runs
# --------------------------------------------------------------------------------------------


@dataclass
class Stream:
    """One image to perturb and how to score the model's outputs for it.

    Attributes:
        chip: (3, h, w) float32 in [0, 1] on the model's device.
        score: outputs (B, ...) → scores (B,) (e.g. similarity to the other image's embedding).
        fill: what masked pixels become: a float (0 = black), or a (3, h, w) tensor (e.g. a blurred chip).
    """

    chip: torch.Tensor
    score: Callable[[torch.Tensor], torch.Tensor]
    fill: float | torch.Tensor = 0.0


@dataclass
class MaskRun:
    """What :func:`run_masks` returns: the moments, the scores (if kept) and the timings; with
    ``auto``, the split-half ``reliability`` reached and the four quarters' moments."""

    moments: MaskMoments
    scores: torch.Tensor | None
    timings: Timings
    n: int
    reliability: float | None = None
    quarters: tuple[MaskMoments, ...] | None = None


@dataclass
class AutoStop:
    """``n="auto"``: stream masks until the maps are stable.

    Masks go to four interleaved quarters by their block index mod 4, each with its own
    :class:`MaskMoments` (O(h·w) each). Every ``check_every`` masks (from ``n_min`` on), for each
    of the three ways to pair the quarters into two interleaved halves ({0,2}|{1,3} — block
    parity —, {0,1}|{2,3}, {0,3}|{1,2}), the per-stream Pearson correlation r across pixels of the
    two halves' maps (``map_fn(moments)`` → (K, h, w)) is Spearman–Brown corrected, R = 2r / (1 + r)
    (the reliability of a map from all the masks); the reliability is the mean of the three
    (smallest over the streams). Averaging the three splits lowers the estimate's variance, and
    the run stops only when it has reached ``target`` at ``confirm`` consecutive checks (or at
    ``n_max`` masks): stopping at the first upward fluctuation would report maps more reliable
    than they are (measured on obama / obama2 with dlib: one split and one check stopped at maps
    correlating 0.967 with an n = 8000 map). Checks fall on fixed mask counts, so the stopping
    point does not depend on the batch size: the same seed stops at the same n.
    """

    map_fn: Callable[[MaskMoments], torch.Tensor]
    target: float = 0.95
    n_max: int = 8000
    n_min: int = 128
    check_every: int = 64
    confirm: int = 2


SPLITS = (((0, 2), (1, 3)), ((0, 1), (2, 3)), ((0, 3), (1, 2)))


def quarter_reliability(quarters, map_fn) -> float:
    """Mean over :data:`SPLITS` of the split-half reliability of four quarters' moments."""
    values = []
    for left, right in SPLITS:
        a = MaskMoments.merged([quarters[i] for i in left])
        b = MaskMoments.merged([quarters[i] for i in right])
        values.append(split_half_reliability(map_fn(a), map_fn(b)))
    return float(np.mean(values))


def split_half_reliability(map_a: torch.Tensor, map_b: torch.Tensor) -> float:
    """Smallest Spearman–Brown corrected correlation 2r / (1 + r) over K pairs of (K, h, w) maps
    (0 when a map is constant)."""
    a = map_a.reshape(map_a.shape[0], -1).to(torch.float64)
    b = map_b.reshape(map_b.shape[0], -1).to(torch.float64)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    denom = torch.sqrt((a * a).sum(1) * (b * b).sum(1))
    r = torch.where(denom > 0, (a * b).sum(1) / denom.clamp_min(1e-300), torch.zeros_like(denom))
    rel = 2 * r / (1 + r).clamp_min(1e-12)
    return float(rel.min())


PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
_precision: contextvars.ContextVar[str] = contextvars.ContextVar("facewidget_precision", default="fp32")


def check_precision(precision) -> str:
    if precision not in PRECISIONS:
        raise ParameterError("precision", precision, "'fp32' (default), 'fp16' or 'bf16'")
    return precision


@contextlib.contextmanager
def precision_scope(precision: str = "fp32"):
    """Forwards inside run at ``precision``: float32 by default on every device; ``"fp16"`` /
    ``"bf16"`` (opt-in) run the network's forwards under ``torch.autocast`` (and in torch, not
    ONNX Runtime)."""
    token = _precision.set(check_precision(precision))
    try:
        yield
    finally:
        _precision.reset(token)


def current_precision() -> str:
    return _precision.get()


def autocast_context(device: torch.device, enabled: bool | None):
    """``torch.autocast`` at the current :func:`precision_scope` (None), or forced off (False)."""
    dtype = PRECISIONS[_precision.get()] if enabled is None or enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def forward_scores(model, streams: Sequence[Stream], masks: torch.Tensor, *, autocast: bool | None = None) -> torch.Tensor:
    """Perturb every stream with ``masks`` (B, h, w), run one batched forward, return (K, B) scores."""
    m = masks[:, None]  # (B, 1, h, w)
    b = masks.shape[0]
    h, w = masks.shape[-2:]
    batch = torch.empty(len(streams) * b, 3, h, w, device=m.device, dtype=torch.float32)
    for i, st in enumerate(streams):
        fill = st.fill if isinstance(st.fill, torch.Tensor) else torch.tensor(float(st.fill), device=m.device)
        # chip·M + fill·(1 − M) = fill + (chip − fill)·M, written straight into the batch
        torch.addcmul(fill.expand(3, h, w) if fill.ndim else fill, st.chip - fill, m, out=batch[i * b:(i + 1) * b])
    with torch.no_grad(), autocast_context(model.device, autocast):
        infer = getattr(model, "infer", None)  # FaceModel's fastest gradient-free runtime (float32)
        low = autocast is not False and PRECISIONS[_precision.get()] is not None
        out = infer(batch) if infer is not None and not low else model.forward_chips(batch)
    out = out.float()
    return torch.stack([st.score(out[i * b:(i + 1) * b]).float().reshape(b) for i, st in enumerate(streams)])


def run_masks(model, streams: Sequence[Stream], source: MaskSource, n: int | None = None, *, seed: int = 0,
              batch_size: int | None = None, progress=None, cancel=None, progress_interval: float = 0.25,
              keep_scores: bool = False, autocast: bool | None = None,
              maps_fn: Callable[[MaskMoments], Any] | None = None, auto: AutoStop | None = None,
              score_squares: bool = False, controls: ControlDesign | None = None) -> MaskRun:
    """Stream ``n`` masks from ``source`` through ``model`` for every stream, accumulating moments.

    Args:
        model: a :class:`~facewidget.models.FaceModel` (``infer`` or ``forward_chips``, and ``device``, are used,
            so black-box models work).
        streams: the images to perturb (all with the same masks; their forwards share a batch).
        source: the mask source; deterministic sources (``source.count``) fix ``n``.
        n: number of masks (random sources).
        seed: masks are reproducible from it (see the module doc).
        batch_size: masks per forward batch (a multiple of MASK_BLOCK; default from the model).
        progress, cancel, progress_interval: see the module doc. ``maps_fn(moments)`` makes the
            maps a progress update shows.
        keep_scores: also return the (K, N) scores (for Spearman's second pass).
        auto: stop early on split-half reliability (see :class:`AutoStop`; ``n`` is ignored,
            ``auto.n_max`` bounds the run).
        score_squares: also accumulate Σ M·s² (see :class:`MaskMoments`).
        controls: also accumulate the control-variate sums of this mask design (see
            :mod:`facewidget.explainers.controls`), in the moments and in ``auto``'s quarters.
    Returns:
        :class:`MaskRun`. Raises :class:`ExplanationCancelled` (``partial`` = a MaskRun so far).
    """
    if not streams:
        raise ShapeError("run_masks needs at least one stream")
    if source.count is not None:
        n = source.count
        auto = None
    elif auto is not None:
        n = int(auto.n_max)
    if n is None or n < 2:
        raise ParameterError("n", n, "an integer >= 2 (masks)")
    device = model.device
    size = tuple(source.size)
    for st in streams:
        if tuple(st.chip.shape) != (3, *size):
            raise ShapeError(f"stream chip must be (3, {size[0]}, {size[1]}); got {tuple(st.chip.shape)}")
    per_forward = batch_size or max(MASK_BLOCK, getattr(model, "batch_size", 32) // max(1, len(streams)))
    per_forward = max(MASK_BLOCK, (per_forward // MASK_BLOCK) * MASK_BLOCK)
    # with ``auto`` the masks go to four quarters (for the split-half reliability) and the run's
    # moments are their merge, made when read: every mask is accumulated once
    moments = None if auto is not None else MaskMoments(len(streams), size, device, score_squares=score_squares,
                                                        controls=controls)
    quarters = None
    if auto is not None:
        quarters = tuple(MaskMoments(len(streams), size, device, score_squares=score_squares, controls=controls)
                         for _ in range(4))
        check = max(MASK_BLOCK, (int(auto.check_every) // MASK_BLOCK) * MASK_BLOCK)

    def current() -> MaskMoments:
        return MaskMoments.merged(quarters) if quarters is not None else moments
    scores = torch.empty(len(streams), n, dtype=torch.float64) if keep_scores else None
    timings = Timings()
    state = {"reliability": None, "streak": 0}

    def partial():
        now = current()
        return MaskRun(now, None if scores is None else scores[:, :now.n], timings, now.n, state["reliability"],
                       quarters)

    def stop_fn(done: int) -> bool:
        if auto is None or done % check or done < auto.n_min:
            return False
        with timings.phase("reliability"):
            rel = quarter_reliability(quarters, auto.map_fn)
        state["reliability"] = loop.reliability = rel
        state["streak"] = state["streak"] + 1 if rel >= auto.target else 0
        return state["streak"] >= auto.confirm

    loop = BatchLoop(n, per_forward, progress=progress, cancel=cancel, progress_interval=progress_interval,
                     first_batch=MASK_BLOCK, timings=timings,
                     maps_fn=(lambda: maps_fn(current())) if maps_fn else None, partial_fn=partial,
                     align=check if auto is not None else None, stop_fn=stop_fn if auto is not None else None)

    def step(start: int, stop: int) -> None:
        with timings.phase("masks"):
            masks = masks_for_range(source, seed, start, stop, device)
        with timings.phase("forward", device):
            s = forward_scores(model, streams, masks, autocast=autocast)
        with timings.phase("accumulate"):
            if quarters is None:
                moments.add(masks, s)
            else:
                if quarters[0].shift is None:  # one shift for the run (the first batch's mean): the sums add up
                    shift = s.to(torch.float64).mean(dim=1)
                    for part in quarters:
                        part.shift = shift
                which = (torch.arange(start, stop, device=masks.device) // MASK_BLOCK) % 4
                for q, part in enumerate(quarters):
                    sel = which == q
                    if bool(sel.any()):
                        part.add(masks[sel], s[:, sel])
            if scores is not None:
                scores[:, start:stop] = s.detach().to("cpu", torch.float64)

    loop.run(step)
    if auto is not None and (state["reliability"] is None or loop.done % check):  # ran to n_max off a check
        with timings.phase("reliability"):
            state["reliability"] = quarter_reliability(quarters, auto.map_fn)
    final = current()
    used = final.n
    return MaskRun(final, None if scores is None else scores[:, :used], timings, used, state["reliability"], quarters)


def rank_pass(run: MaskRun, source: MaskSource, *, seed: int, batch_size: int = 256, cancel=None) -> torch.Tensor:
    """Second pass for Spearman: Σ M·rank(s) per stream, regenerating the masks from the seed.

    Returns (K, h, w) float64 Pearson correlation between M(u) and the ranks of s (ties averaged).
    """
    from scipy.stats import rankdata

    if run.scores is None:
        raise ParameterError("keep_scores", False, "True for a second (Spearman) pass")
    device = run.moments.sum_m.device
    ranks = torch.as_tensor(np.stack([rankdata(s.numpy()) for s in run.scores]), dtype=torch.float64)
    ranks_dev = ranks.to(device)
    mom = run.moments
    sum_mr = torch.zeros_like(mom.sum_ms)
    batch_size = max(MASK_BLOCK, (batch_size // MASK_BLOCK) * MASK_BLOCK)
    with run.timings.phase("ranks"):
        for start in range(0, run.n, batch_size):
            if is_cancelled(cancel):
                raise ExplanationCancelled(f"cancelled in the rank pass at {start} of {run.n}", None, start, run.n)
            stop = min(run.n, start + batch_size)
            masks = masks_for_range(source, seed, start, stop, device)
            sum_mr += mom.add_cross(masks, ranks_dev[:, start:stop])
    # the rank sums are not shifted: pass them with a zero shift through the same Pearson formula
    return mom.pearson(sum_ms=sum_mr, sum_s=ranks.sum(1).to(device), sum_s2=(ranks ** 2).sum(1).to(device))
