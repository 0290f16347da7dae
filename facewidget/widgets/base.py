"""Base class of the views: the bundled front end, annotations, live runs and the PNG fallback.

Static export (documented choice): every view's mime bundle carries, next to the live widget, an
``image/png`` rendering of its state (drawn in Python with the same colour rules as the front
end). A saved notebook or its HTML export therefore shows a picture without a kernel or widget
state; ``view.refresh_static()`` re-renders that picture after interaction or a live run, for
outputs displayed through :func:`facewidget.show` / ``display(view)``. JupyterLab can in addition
embed the full widget state (Settings → "Save Widget State Automatically"), which anywidget
restores interactively.
"""

from __future__ import annotations

import base64
import io
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import anywidget
import numpy as np
import traitlets as t
from PIL import Image

from ..errors import FacewidgetError
from . import annotations as ann
from .live import LiveRun

STATIC = Path(__file__).resolve().parent.parent / "static"
_ESM = STATIC / "widget.js"
_CSS = STATIC / "widget.css"


def _running_cell():
    """IPython's result object of the cell being run (one per cell), or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    shell = get_ipython()
    return getattr(getattr(shell, "displayhook", None), "exec_result", None)


def _in_displayhook(depth: int = 30) -> bool:
    """Whether the caller runs inside IPython's displayhook (showing a cell's last value).

    ipykernel's displayhook does not set ``DisplayHook.is_active``, so look for its ``__call__``
    on the stack (a few frames up, through IPython's formatters)."""
    from IPython.core.displayhook import DisplayHook

    frame = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_name == "__call__" and isinstance(frame.f_locals.get("self"), DisplayHook):
            return True
        frame = frame.f_back
    return False


class FrontEndMissingError(FacewidgetError, RuntimeError):
    """The bundled front end (facewidget/static/widget.js) is missing."""


def _bundle(path: Path) -> str:
    if not path.exists():
        raise FrontEndMissingError(
            f"{path} is missing: build the front end with `cd js && npm ci && npm run build` "
            "(pip install . does it through hatch-jupyter-builder)")
    return path.read_text(encoding="utf-8")


class FaceWidget(anywidget.AnyWidget):
    """Common traits: ``annotations`` (list of dicts), live-run state, ``painted`` size hints."""

    _view = t.Unicode("").tag(sync=True)
    annotations = t.List(t.Dict()).tag(sync=True)
    #: [done, total] of the current or last live run
    progress = t.List(t.Int(), default_value=[0, 0]).tag(sync=True)
    status = t.Unicode("idle").tag(sync=True)
    running = t.Bool(False).tag(sync=True)
    can_run = t.Bool(False).tag(sync=True)
    #: progressive map updates pushed by the current or last live run
    live_updates = t.Int(0).tag(sync=True)
    #: split-half reliability of the maps as an ``n="auto"`` run climbs (None for other runs)
    reliability = t.Float(None, allow_none=True).tag(sync=True)

    #: encoding of progressive maps during a live run (previews: 1 byte per value); the final
    #: result uses the view's own encoding (float16 unless asked otherwise)
    live_encoding = "uint8"

    def __init__(self, **kwargs):
        # one lock orders trait changes from live-run threads and from the front end
        self._sync_lock = threading.RLock()
        self._in_progress_update = False
        super().__init__(**kwargs)
        self._run: LiveRun | None = None
        self._computation: tuple[Callable, tuple, dict] | None = None
        self._display_ids: list[str] = []
        self.on_msg(self._on_front_end_msg)

    def set_state(self, sync_data):
        with self._sync_lock:
            super().set_state(sync_data)

    # anywidget reads _esm/_css when a view is created; properties keep ``import facewidget``
    # working before the front end is built, and fail with a clear message when it is not.
    @property
    def _esm(self) -> str:
        return _bundle(_ESM)

    @property
    def _css(self) -> str:
        return _CSS.read_text(encoding="utf-8") if _CSS.exists() else ""

    @t.validate("annotations")
    def _check_annotations(self, proposal):
        return ann.normalise_all(proposal["value"])

    # --- annotations --------------------------------------------------------------------------
    def to_json(self, indent: int | None = 2) -> str:
        """The annotations as JSON text (see :mod:`facewidget.widgets.annotations`)."""
        return ann.to_json(self.annotations, indent)

    def from_json(self, text: str, append: bool = False) -> list[dict]:
        """Load annotations from :meth:`to_json` text (replacing, or appending to, the current ones)."""
        loaded = ann.from_json(text)
        self.annotations = (list(self.annotations) + loaded) if append else loaded
        return self.annotations

    def to_pandas(self):
        """The annotations as a pandas DataFrame (needs pandas)."""
        return ann.to_pandas(self.annotations)

    def add_annotation(self, **fields) -> dict:
        """Add one annotation (fields as in the schema); returns it normalised."""
        a = ann.normalise(fields)
        self.annotations = list(self.annotations) + [a]
        return a

    # --- live runs ----------------------------------------------------------------------------
    def _apply_progress(self, maps: dict, done: int, total: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def _apply_result(self, result: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def _prepare_run(self, args: tuple, kwargs: dict) -> None:
        """Hook: views may inspect the computation's arguments (e.g. the model's template)."""

    def set_computation(self, fn: Callable, *args, **kwargs) -> None:
        """Remember a computation for the view's Run button (called as in :meth:`run`)."""
        self._computation = (fn, args, kwargs)
        self.can_run = True

    def run(self, fn: Callable | None = None, *args, min_interval: float = 0.1,
            clock: Callable[[], float] = time.monotonic, **kwargs) -> LiveRun:
        """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` in a background thread.

        Progressive maps reach the view at most once per ``min_interval`` seconds (read from
        ``clock``, default :func:`time.monotonic`); the result
        (e.g. a :class:`~facewidget.explainers.PairExplanation`) replaces the view's content when the
        run ends. Returns the :class:`~facewidget.widgets.live.LiveRun` (``.wait()``, ``.cancel()``,
        ``.update_rate``). Without ``fn`` it re-runs the computation of :meth:`set_computation`.
        """
        if fn is None:
            if self._computation is None:
                raise FacewidgetError("no computation to run: pass one, or call set_computation first")
            fn, args, kwargs = self._computation
        else:
            self.set_computation(fn, *args, **kwargs)
        if self._run is not None and self._run.running:
            raise FacewidgetError("a live run is already going on in this view; cancel it first")
        self._prepare_run(args, kwargs)

        def sink(maps, done, total):
            with self._sync_lock, self.hold_sync():
                self._in_progress_update = True
                try:
                    self._apply_progress(maps, done, total)
                finally:
                    self._in_progress_update = False
                self.progress = [done, total]
                self.live_updates = self.live_updates + 1

        def on_status(status):
            with self._sync_lock, self.hold_sync():
                self.status = status
                self.running = status == "running"

        def on_info(info):
            self.reliability = info.get("reliability", self.reliability)

        with self.hold_sync():
            self.live_updates = 0
            self.progress = [0, 0]
            self.reliability = None
        self._run = LiveRun(fn, args, kwargs, sink, on_result=self._apply_result, on_status=on_status,
                            min_interval=min_interval, clock=clock, lock=self._sync_lock, on_info=on_info)
        return self._run.start()

    def _wire_encoding(self) -> str:
        return self.live_encoding if self._in_progress_update else getattr(self, "_encoding", "float16")

    def cancel(self) -> None:
        """Cancel the current live run, if any."""
        if self._run is not None:
            self._run.cancel()

    @property
    def last_run(self) -> LiveRun | None:
        return self._run

    def _on_front_end_msg(self, _widget, content, _buffers):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "cancel":
            self.cancel()
        elif kind == "run" and self._computation is not None:
            if self._run is None or not self._run.running:
                self.run()

    # --- static export ------------------------------------------------------------------------
    def render_png(self) -> np.ndarray:  # pragma: no cover - each view draws itself
        """RGB uint8 picture of the view's current state (the static fallback)."""
        raise NotImplementedError

    def _png_base64(self) -> str:
        buf = io.BytesIO()
        Image.fromarray(self.render_png()).save(buf, format="PNG", compress_level=6)
        return base64.b64encode(buf.getvalue()).decode("ascii")

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        try:
            data["image/png"] = self._png_base64()
        except Exception as e:  # the live widget still works; say why the picture is missing
            data["text/plain"] = f"{data.get('text/plain', '')} (no static picture: {e})"
        return bundle

    def _bundle_and_metadata(self) -> tuple[dict, dict]:
        bundle = self._repr_mimebundle_()
        if isinstance(bundle, tuple):
            return bundle[0], (bundle[1] or {})
        return bundle, {}

    def _mark_shown(self) -> None:
        """Remember that :func:`facewidget.show` displayed this view in the running cell."""
        self._shown_in_cell = _running_cell()

    def _shown_by_show_in_this_cell(self) -> bool:
        """True while IPython shows a cell's result that ``fw.show`` already displayed in that cell
        (``view = fw.show(x); view``): the displayhook, not an explicit ``display(view)``."""
        cell = _running_cell()
        return cell is not None and cell is getattr(self, "_shown_in_cell", None) and _in_displayhook()

    def _ipython_display_(self, **kwargs):
        from IPython.display import display

        if self._shown_by_show_in_this_cell():
            return
        display_id = uuid.uuid4().hex
        self._display_ids.append(display_id)
        data, metadata = self._bundle_and_metadata()
        display(data, metadata=metadata, raw=True, display_id=display_id)

    def refresh_static(self) -> None:
        """Re-render the PNG fallback of every output that displayed this view (its state now)."""
        from IPython.display import update_display

        data, metadata = self._bundle_and_metadata()
        for did in self._display_ids:
            update_display(data, metadata=metadata, raw=True, display_id=did)
