"""Gradient-free forwards through ONNX Runtime: the fast path of perturbation explainers on CPU.

Why
    Black-box explainers (CorrRISE, RISE, occlusion, Score-CAM's masked passes, canonical image
    saliency, deletion/insertion curves) spend over 90 % of their time in forward passes that need
    no gradients. On a CPU, ONNX Runtime runs the same graph markedly faster than eager PyTorch
    (graph fusion, pre-packed weights, blocked layouts): dlib's ResNet at batch 32 on 2 cores ran
    at 474 vs 277 chips/s, measured side by side. ``bench/corrrise.py`` prints the ratio.

How
    The network (in eval mode) is exported once with ``torch.onnx.export`` (TorchScript exporter,
    dynamic batch axis) into memory, loaded into an ``InferenceSession`` with torch's thread count,
    and checked against eager torch on a seeded probe batch other than the export's example (and of
    another batch size): ``max |ort − torch| ≤ 1e-4 · max |torch| + 1e-5``. Any failure (an operator the exporter does not know, a mismatch, onnxruntime not
    installed) falls back to eager torch with one :class:`RuntimeFallbackWarning` naming the reason.

When torch is used instead
    On CUDA (torch, with autocast where the caller asks), for ``FaceModel(runtime="torch")``, for
    models whose ``forward_chips`` is their own, and whenever a forward (pre-)hook is registered
    on the network (an explainer recording activations needs torch to run the layers).

Cache
    When the network still holds the weights of the file it was loaded from (its fingerprint is the
    one taken when the :class:`FaceModel` was made, whose config named the file's sha256), the graph
    is kept in the asset cache (``$FACEWIDGET_CACHE/onnx``), keyed by that hash, the network class,
    the input shape and the torch, onnxruntime and opset versions. A later process then only
    builds the session (~0.15 s for dlib's ResNet instead of a 0.6–3 s export); the probe check
    still runs, and a cached graph that fails it is replaced by a fresh export. At most
    :data:`MAX_CACHED_GRAPHS` graphs are kept, the least recently used deleted first.

Staleness
    The session is keyed by the network object and a fingerprint of its tensors (identity, storage
    pointer and in-place version counter of every parameter and buffer), checked before every
    batch: loading a state dict, ``copy_`` under ``no_grad`` or swapping a parameter rebuilds it.
    Writing through ``param.data`` bypasses version counters; call :func:`forget` after doing that.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
import weakref
from pathlib import Path

import numpy as np
import torch
from torch import nn

RUNTIMES = ("auto", "torch")
OPSET = 17
MAX_CACHED_GRAPHS = 8
"""Exported graphs kept on disk (the least recently used beyond this are deleted)."""
PROBE_BATCH = 2
RELATIVE_TOLERANCE = 1e-4
ABSOLUTE_TOLERANCE = 1e-5


class RuntimeFallbackWarning(RuntimeWarning):
    """The fast runtime could not take a network; eager torch runs it instead."""


class _Entry:
    __slots__ = ("key", "session", "input_name", "reason")

    def __init__(self, key, session, input_name, reason):
        self.key, self.session, self.input_name, self.reason = key, session, input_name, reason


_SESSIONS: "weakref.WeakKeyDictionary[nn.Module, _Entry]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def fingerprint(network: nn.Module) -> tuple:
    """Cheap identity of a network's current weights (see the module doc, *Staleness*)."""
    return tuple((id(t), t.data_ptr(), t._version) for t in (*network.parameters(), *network.buffers()))


def has_hooks(network: nn.Module) -> bool:
    from torch.nn.modules import module as _module

    if _module._global_forward_hooks or _module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in network.modules())


def forget(network: nn.Module) -> None:
    """Drop the cached session of ``network`` (after editing weights behind torch's back)."""
    with _LOCK:
        _SESSIONS.pop(network, None)


def onnxruntime_version() -> str | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    return ort.__version__


def _export(network: nn.Module, example: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (example,), buf, input_names=["x"], dynamic_axes={"x": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    return buf.getvalue()


def _session(graph: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.inter_op_num_threads = 1
    # no busy-waiting: the engine's torch work (masks, running sums) shares these cores; measured
    # on a CorrRISE pair at N = 1000, 2 cores: 4.85 s without spinning, 5.47 s with it
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _graph_cache_path(weights_key: str, network: nn.Module, input_shape) -> Path:
    from ..data.assets import cache_dir

    import onnxruntime as ort

    ident = "|".join([weights_key, type(network).__qualname__, ",".join(map(str, input_shape)), torch.__version__,
                      ort.__version__, str(OPSET)])
    return cache_dir() / "onnx" / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.onnx"


def _read(path: Path | None) -> bytes | None:
    try:
        if path is None or not path.is_file():
            return None
        os.utime(path)  # most recently used: pruned last
        return path.read_bytes()
    except OSError:
        return None


def _prune(folder: Path, keep: int) -> None:
    graphs = sorted(folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in graphs[keep:]:
        old.unlink(missing_ok=True)


def _write(path: Path | None, graph: bytes) -> None:
    if path is None:
        return
    try:  # a read-only or full cache only costs the next process an export
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(graph)
        os.replace(tmp, path)
        _prune(path.parent, MAX_CACHED_GRAPHS)
    except OSError:
        pass


def _build(network: nn.Module, input_shape: tuple[int, int, int], key: tuple, weights_key: str | None) -> _Entry:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return _Entry(key, None, None, "onnxruntime is not installed (pip install onnxruntime)")
    # export from one input, check on another of a different batch size: a trace that froze a
    # value (Python-side computation) or the batch size fails the check instead of going unnoticed
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(PROBE_BATCH, *input_shape, generator=gen) * 4 - 2  # normalised inputs: ~[-2, 2]
    probe = torch.rand(PROBE_BATCH + 1, *input_shape, generator=gen) * 4 - 2
    was_training = network.training
    network.eval()
    reason = None
    try:
        with torch.no_grad():
            reference = network(probe)
        if not isinstance(reference, torch.Tensor):
            return _Entry(key, None, None, "the network does not return a single tensor")
        ref = reference.detach().float().numpy()
        cached = _graph_cache_path(weights_key, network, input_shape) if weights_key else None
        for source in ("cache", "export"):
            try:
                graph = _read(cached) if source == "cache" else _export(network, example)
                if graph is None:
                    continue
                session = _session(graph)
                if len(session.get_outputs()) != 1:
                    return _Entry(key, None, None, "the exported graph does not have a single output")
                name = session.get_inputs()[0].name
                got = session.run(None, {name: probe.numpy()})[0]
            except Exception as exc:  # noqa: BLE001 - the exporter and onnxruntime raise many types
                first_line = str(exc).splitlines()[0] if str(exc) else ""
                reason = f"{type(exc).__name__}: {first_line[:200]}"
                continue
            if got.shape != ref.shape:
                reason = f"onnxruntime output shape {got.shape} != torch {ref.shape}"
                continue
            err = float(np.abs(got - ref).max())
            if not err <= RELATIVE_TOLERANCE * float(np.abs(ref).max()) + ABSOLUTE_TOLERANCE:
                reason = f"the exported graph differs from torch by {err:.2e} on a probe batch"
                continue
            if source == "export":
                _write(cached, graph)
            return _Entry(key, session, name, None)
    finally:
        network.train(was_training)
    return _Entry(key, None, None, reason)


def session_for(network: nn.Module, input_shape: tuple[int, int, int], label: str = "model",
                file_weights: tuple | None = None):
    """(session, input name) for ``network``, or None when eager torch must run it (warned once).

    ``file_weights``: ``(network, fingerprint, sha256)`` taken when the network was loaded from a
    file of that sha256. While ``network`` is that one and its fingerprint is unchanged, it holds
    the file's weights, and the exported graph is cached on disk under the hash, so later
    processes skip the export.
    """
    fp = fingerprint(network)  # once per batch: the hot path
    key = (fp, tuple(input_shape))
    with _LOCK:
        entry = _SESSIONS.get(network)
        if entry is None or entry.key != key:
            stale = entry is not None
            pristine = file_weights is not None and file_weights[0] is network and file_weights[1] == fp
            entry = _build(network, input_shape, key, file_weights[2] if pristine else None)
            _SESSIONS[network] = entry
            if entry.session is None and not stale:
                warnings.warn(f"{label}: running in eager torch, not onnxruntime ({entry.reason})",
                              RuntimeFallbackWarning, stacklevel=3)
    return None if entry.session is None else (entry.session, entry.input_name)


def run(session_and_name, x: torch.Tensor) -> torch.Tensor:
    session, name = session_and_name
    out = session.run(None, {name: x.detach().contiguous().numpy()})[0]
    return torch.from_numpy(out)
