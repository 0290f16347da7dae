"""QualityView: a small ipywidgets + plotly panel over a :class:`~facewidget.quality.QualityAnalysis`.

Shows, for the FIQA method picked in the dropdown: the score histogram with the high/low thresholds,
the mean (MAM) and std (AM-V) maps of the high- and low-quality sets, and, for the image picked in
the second dropdown, its chip with its deviation from the high-quality mean. Display only: every
number comes from :mod:`facewidget.quality` (``analysis.deviation`` for the picked image).

Live: ``QualityView().run(quality.analyze, images, fiqa=..., model=...)`` runs the analysis in a
background thread (the same :class:`~facewidget.widgets.live.LiveRun` as the other views); the mean
and std maps of the high- and low-quality sets refresh as partitions merge, Cancel stops the run
within one partition and the partial analysis is shown.

(This file lives alone in ``facewidget/widgets/`` without an ``__init__.py`` so that it does not
collide with the widget branch's package; Python imports it as a namespace package.)
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import FacewidgetError, ShapeError
from .live import LiveRun

MAP_TITLES = ("MAM high", "MAM low", "AM-V high", "AM-V low")
#: keys of analyze's live maps, in the order of MAP_TITLES
LIVE_KEYS = ("mean_high", "mean_low", "std_high", "std_low")


class QualityView:
    """``QualityView(analysis)``; display it in a notebook (``view`` or ``view.widget``).

    Attributes:
        widget: the ipywidgets container. method, image: the two dropdowns.
        histogram, maps, deviation: the plotly FigureWidgets.
    """

    def __init__(self, analysis=None, method: str | None = None, image: int | None = None):
        if analysis is not None and not getattr(analysis, "chip", None):
            raise ShapeError("QualityView needs a QualityAnalysis from facewidget.quality.analyze")
        self.analysis: Any = None  # a QualityAnalysis once one is shown
        self.method = W.Dropdown(options=[], description="FIQA")
        self.image = W.Dropdown(options=[], description="image")
        self.histogram = go.FigureWidget(layout=dict(height=260, margin=dict(l=40, r=10, t=30, b=30), bargap=0.05))
        self.maps = go.FigureWidget(make_subplots(rows=1, cols=4, subplot_titles=MAP_TITLES))
        self.maps.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10))
        self.deviation = go.FigureWidget(layout=dict(height=300, width=320, margin=dict(l=10, r=10, t=30, b=10)))
        self._build_traces()
        # live-run controls (a run feeds the map panels as partitions merge)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="")
        self.status = W.Label("")
        self.cancel_button = W.Button(description="Cancel", disabled=True, tooltip="stop the analysis")
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.live_updates = 0
        self._run: LiveRun | None = None
        self._lock = threading.RLock()
        self.method.observe(lambda _: self.refresh(), names="value")
        self.image.observe(lambda _: self.refresh_image(), names="value")
        if analysis is not None:
            self.set_analysis(analysis, method, image)
        self.widget = W.VBox([W.HBox([self.method, self.image]), W.HBox([self.progress, self.cancel_button, self.status]),
                              self.histogram, self.maps, self.deviation])

    def set_analysis(self, analysis, method: str | None = None, image: int | None = None) -> None:
        """Show ``analysis`` (a :class:`~facewidget.quality.QualityAnalysis`)."""
        if not getattr(analysis, "chip", None):
            raise ShapeError("QualityView needs a QualityAnalysis from facewidget.quality.analyze")
        self.analysis = None  # the dropdowns' observers refresh only once both are set
        names = analysis.methods
        self.method.options = names
        self.method.value = method or names[0]
        self.image.options = [(str(i), k) for k, i in enumerate(analysis.ids)]
        self.image.value = 0 if image is None else int(image)
        self.analysis = analysis
        self.refresh()

    # -- live runs ---------------------------------------------------------------------------------
    def run(self, fn: Callable, *args, min_interval: float = 0.25, **kwargs) -> LiveRun:
        """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` (``quality.analyze``) in a background
        thread; returns the :class:`~facewidget.widgets.live.LiveRun` (``.wait()``, ``.cancel()``)."""
        if self._run is not None and self._run.running:
            raise FacewidgetError("an analysis is already running in this view; cancel it first")

        def sink(maps, done, total):
            self.progress.max, self.progress.value = max(int(total), 1), min(int(done), max(int(total), 1))
            self.status.value = f"running {done}/{total}"
            if any(maps.get(k) is not None for k in LIVE_KEYS):
                self._show_maps([maps.get(k) for k in LIVE_KEYS])
                self.live_updates += 1

        def on_result(result):
            if getattr(result, "chip", None):
                self.set_analysis(result)

        def on_status(status):
            self.status.value = status
            self.cancel_button.disabled = status != "running"

        self.live_updates = 0
        self._run = LiveRun(fn, args, kwargs, sink, on_result=on_result, on_status=on_status,
                            min_interval=min_interval, lock=self._lock)
        return self._run.start()

    def cancel(self) -> None:
        """Stop the live run (within one partition); the partial analysis is shown."""
        if self._run is not None:
            self._run.cancel()

    # -- figures -----------------------------------------------------------------------------------
    def _build_traces(self):
        self.histogram.add_histogram(x=[], nbinsx=30, name="scores")
        for col in range(1, 5):
            self.maps.add_trace(go.Heatmap(z=[[0]], zmin=0, zmax=1, colorscale="Viridis", showscale=col == 4),
                                row=1, col=col)
        self.maps.update_yaxes(autorange="reversed", showticklabels=False)
        self.maps.update_xaxes(showticklabels=False)
        self.deviation.add_trace(go.Image(z=np.zeros((2, 2, 3), dtype=np.uint8)))
        self.deviation.add_trace(go.Heatmap(z=[[0]], zmin=0, zmax=1, colorscale="Hot", opacity=0.5, showscale=True))
        self.deviation.update_yaxes(autorange="reversed", showticklabels=False)
        self.deviation.update_xaxes(showticklabels=False)

    def current(self):
        return self.analysis.chip[self.method.value]

    def refresh(self):
        if self.analysis is None:
            return
        res = self.current()
        with self.histogram.batch_update():
            self.histogram.data[0].x = res.scores
            self.histogram.layout.title = f"{res.method}: {res.score_name} (n = {len(res.scores)})"
            self.histogram.layout.shapes = [
                dict(type="line", x0=t, x1=t, y0=0, y1=1, yref="paper", line=dict(color=c, dash="dash"))
                for t, c in ((res.high.threshold, "green"), (res.low.threshold, "red"))]
        self._show_maps([res.high.mean, res.low.mean, res.high.std, res.low.std])
        self.refresh_image()

    def _show_maps(self, panels) -> None:
        # maps are shown divided by their maximum, as in the paper
        with self.maps.batch_update():
            for trace, z in zip(self.maps.data, panels):
                if z is None:
                    continue
                z = np.asarray(z, dtype=np.float64)
                top = float(np.nanmax(z)) if np.isfinite(z).any() else 0.0
                trace.z = z / top if top > 0 else z

    def refresh_image(self):
        if self.analysis is None or self.image.value is None:
            return
        i = int(self.image.value)
        dev = self.analysis.deviation(i, self.method.value)
        chip = self.chip_image(i)
        with self.deviation.batch_update():
            self.deviation.data[0].z = chip
            self.deviation.data[1].z = dev
            self.deviation.layout.title = f"deviation from the high-quality mean: {self.analysis.ids[i]}"
        self.last_deviation = dev

    def chip_image(self, i: int) -> np.ndarray:
        batch, maps = self.analysis._batch, self.analysis._maps
        if batch is None or maps is None:
            size = self.current().high.mean.shape
            return np.zeros((*size, 3), dtype=np.uint8)
        chips = batch.subset([i]).aligned(maps.model.config.alignment_template()).chips
        return (chips[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
