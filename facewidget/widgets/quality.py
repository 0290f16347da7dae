"""QualityView: a small ipywidgets + plotly panel over a :class:`~facewidget.quality.QualityAnalysis`.

Shows, for the FIQA method picked in the dropdown: the score histogram with the high/low thresholds,
the mean (MAM) and std (AM-V) maps of the high- and low-quality sets, and, for the image picked in
the second dropdown, its chip with its deviation from the high-quality mean. Display only: every
number comes from :mod:`facewidget.quality` (``analysis.deviation`` for the picked image).

(This file lives alone in ``facewidget/widgets/`` without an ``__init__.py`` so that it does not
collide with the widget branch's package; Python imports it as a namespace package.)
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import ShapeError

MAP_TITLES = ("MAM high", "MAM low", "AM-V high", "AM-V low")


class QualityView:
    """``QualityView(analysis)``; display it in a notebook (``view`` or ``view.widget``).

    Attributes:
        widget: the ipywidgets container. method, image: the two dropdowns.
        histogram, maps, deviation: the plotly FigureWidgets.
    """

    def __init__(self, analysis, method: str | None = None, image: int | None = None):
        if not getattr(analysis, "chip", None):
            raise ShapeError("QualityView needs a QualityAnalysis from facewidget.quality.analyze")
        self.analysis = analysis
        names = analysis.methods
        self.method = W.Dropdown(options=names, value=method or names[0], description="FIQA")
        labels = [(str(i), k) for k, i in enumerate(analysis.ids)]
        self.image = W.Dropdown(options=labels, value=0 if image is None else int(image), description="image")
        self.histogram = go.FigureWidget(layout=dict(height=260, margin=dict(l=40, r=10, t=30, b=30), bargap=0.05))
        self.maps = go.FigureWidget(make_subplots(rows=1, cols=4, subplot_titles=MAP_TITLES))
        self.maps.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10))
        self.deviation = go.FigureWidget(layout=dict(height=300, width=320, margin=dict(l=10, r=10, t=30, b=10)))
        self._build_traces()
        self.method.observe(lambda _: self.refresh(), names="value")
        self.image.observe(lambda _: self.refresh_image(), names="value")
        self.refresh()
        self.widget = W.VBox([W.HBox([self.method, self.image]), self.histogram, self.maps, self.deviation])

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
        res = self.current()
        with self.histogram.batch_update():
            self.histogram.data[0].x = res.scores
            self.histogram.layout.title = f"{res.method}: {res.score_name} (n = {len(res.scores)})"
            self.histogram.layout.shapes = [
                dict(type="line", x0=t, x1=t, y0=0, y1=1, yref="paper", line=dict(color=c, dash="dash"))
                for t, c in ((res.high.threshold, "green"), (res.low.threshold, "red"))]
        # maps are shown divided by their maximum, as in the paper
        panels = (res.high.mean, res.low.mean, res.high.std, res.low.std)
        with self.maps.batch_update():
            for trace, z in zip(self.maps.data, panels):
                top = float(np.max(z))
                trace.z = z / top if top > 0 else z
        self.refresh_image()

    def refresh_image(self):
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
