"""CanonicalFaceView: MediaPipe's canonical face as a shaded surface coloured by per-vertex values."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import traitlets as t

from ..errors import ShapeError
from .base import FaceWidget
from .colormap import SCALE_MODES
from .encode import decode_payload, float32_bytes, map_payload, uint16_bytes
from .overlay import _colormap_trait
from .render import render_mesh


def normalise_regions(regions: Any, n_triangles: int) -> list[dict]:
    """``[{"name", "score", "triangles"}]`` from ``name → (triangle indices, score)`` or
    ``name → {"triangles": ..., "score": ...}`` (a list of such dicts passes through)."""
    if regions is None:
        return []
    items = regions.items() if isinstance(regions, Mapping) else [(r.get("name"), r) for r in regions]
    out = []
    for name, spec in items:
        if not isinstance(name, str) or not name:
            raise ShapeError(f"region names must be non-empty strings; got {name!r}")
        if isinstance(spec, Mapping):
            tris, score = spec.get("triangles"), spec.get("score", float("nan"))
        else:
            try:
                tris, score = spec
            except (TypeError, ValueError):
                raise ShapeError(f"region {name!r} must be (triangle indices, score)") from None
        tris = np.asarray(tris, dtype=np.int64).ravel()
        if tris.size == 0 or tris.min() < 0 or tris.max() >= n_triangles:
            raise ShapeError(f"region {name!r} needs triangle indices in [0, {n_triangles})")
        score = float(score) if score is not None else float("nan")
        out.append({"name": name, "score": score, "triangles": tris})
    return out


class CanonicalFaceView(FaceWidget):
    """The canonical face drawn as a Lambert-shaded surface, coloured by per-vertex values.

    Drag to rotate (the front end redraws every frame locally; ``yaw``/``pitch`` in degrees sync
    once at the end of the gesture). Hover a region to read its score; click a region to select it
    (``selected_region`` syncs to Python); the region scores are also drawn by :attr:`chart`, a
    plotly ``FigureWidget`` bar chart whose bars select regions too. Annotate the selected region
    with a label and note (``annotations``, kind ``"mesh"``).

    Args:
        values: per-vertex values (468,) on :func:`facewidget.canonical_face` (None: plain grey;
            NaN: no data, e.g. a vertex the photo did not show, drawn grey).
        regions: ``name → (triangle indices, score)`` (or ``name → {"triangles", "score"}``).
        mesh: a :class:`~facewidget.canonical.CanonicalFace` (default MediaPipe's).
    """

    _view = t.Unicode("canonical").tag(sync=True)
    vertices = t.Bytes(b"").tag(sync=True)
    triangles = t.Bytes(b"").tag(sync=True)
    values = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    regions = t.List(t.Dict()).tag(sync=True)
    yaw = t.Float(0.0).tag(sync=True)
    pitch = t.Float(0.0).tag(sync=True)
    selected_region = t.Unicode("").tag(sync=True)
    #: the canonical map's uv texture (a float16 map payload, (R, R), NaN = unseen) and the mesh's
    #: uv coordinates (float32 (468, 2) bytes, v = 0 at the top): drawn on the mesh when
    #: ``face_style == "texture"``; ``"vertex"`` paints each triangle with its vertices' mean value
    texture = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    uv = t.Bytes(b"").tag(sync=True)
    face_style = t.Enum(("texture", "vertex"), default_value="texture").tag(sync=True)
    colormap = _colormap_trait("viridis")
    diverging_colormap = _colormap_trait("rdbu")
    scale = t.Enum(SCALE_MODES, default_value="auto").tag(sync=True)
    title = t.Unicode("").tag(sync=True)

    def __init__(self, values: Any = None, regions: Any = None, *, mesh=None, texture: Any = None, **kwargs):
        super().__init__(**kwargs)
        if mesh is None:
            from ..canonical import canonical_face

            mesh = canonical_face()
        self.mesh = mesh
        self._chart = None
        self._linked: list = []
        self.vertices = float32_bytes(mesh.vertices)
        self.triangles = uint16_bytes(mesh.triangles)
        self.uv = float32_bytes(np.asarray(mesh.uv, np.float32))
        self.set_values(values, regions, texture=texture)

    @classmethod
    def from_canonical_map(cls, cmap, **kwargs) -> "CanonicalFaceView":
        """View of a canonical map object (e.g. :class:`facewidget.canonical.CanonicalMap`):
        per-vertex values from ``vertex_values`` (NaN: unseen); regions from the object's
        ``regions`` or else :func:`facewidget.canonical.regions`, scored by ``region_scores()``
        (its ``share`` of saliency mass, else ``mean``)."""
        values = None
        for attr in ("vertex_values", "values", "per_vertex"):
            v = getattr(cmap, attr, None)
            if v is not None and not callable(v):
                values = v
                break
        if values is None:
            raise ShapeError(f"{type(cmap).__name__} has no per-vertex values (vertex_values or values)")
        regions = _regions_of(cmap)
        return cls(values, regions, mesh=getattr(cmap, "mesh", None), texture=getattr(cmap, "texture", None), **kwargs)

    def set_values(self, values: Any = None, regions: Any = None, texture: Any = None) -> None:
        """Replace the per-vertex values (and the regions and the uv texture when given)."""
        n = self.mesh.n_vertices
        with self.hold_sync():
            if texture is not None:
                self.texture = texture_payload(texture)
            if values is None:
                self.values = None
            else:
                arr = np.asarray(values, dtype=np.float32)
                if arr.shape != (n,):
                    raise ShapeError(f"canonical values must be per vertex, shape ({n},); got {arr.shape}")
                self.values = map_payload(arr, encoding="float16", name="canonical values", allow_nan=True)
            if regions is not None:
                regs = normalise_regions(regions, len(self.mesh.triangles))
                self.regions = [{"name": r["name"], "score": r["score"], "triangles": uint16_bytes(r["triangles"])}
                                for r in regs]
                if self.selected_region and self.selected_region not in self.region_names:
                    self.selected_region = ""

    @property
    def region_names(self) -> list[str]:
        return [r["name"] for r in self.regions]

    def region_triangles(self, name: str) -> np.ndarray:
        for r in self.regions:
            if r["name"] == name:
                return np.frombuffer(r["triangles"], dtype="<u2").astype(np.int64)
        raise ShapeError(f"no region named {name!r}; regions: {self.region_names}")

    # --- linked photo views ----------------------------------------------------------------
    def link(self, *views) -> "CanonicalFaceView":
        """Link photo views (e.g. :class:`PairView`): selecting a region here, or on its bar,
        outlines that region on every linked photo through each face's mesh, and hovering a
        linked photo names the region under the pointer. Returns ``self``."""
        for v in views:
            if not (hasattr(v, "show_region") and hasattr(v, "set_regions")):
                raise ShapeError(f"{type(v).__name__} cannot show canonical regions (it has no face mesh)")
        self._linked.extend(v for v in views if all(v is not w for w in self._linked))
        if not getattr(self, "_linking", False):
            self.observe(self._update_links, names=["selected_region", "regions"])
            self._linking = True
        self._update_links()
        return self

    def _update_links(self, _change=None) -> None:
        regions = [(r["name"], np.frombuffer(r["triangles"], dtype="<u2").astype(np.int64)) for r in self.regions]
        name = self.selected_region
        for v in self._linked:
            if regions:
                v.set_regions(regions)
            v.show_region(name, self.region_triangles(name) if name else None)

    @t.validate("selected_region")
    def _check_selected(self, proposal):
        name = proposal["value"]
        if name and name not in self.region_names:
            raise ShapeError(f"no region named {name!r}; regions: {self.region_names}")
        return name

    # --- the plotly bar chart ------------------------------------------------------------
    @property
    def chart(self):
        """A plotly ``FigureWidget`` of the region scores, linked to ``selected_region`` both ways."""
        if self._chart is None:
            import plotly.graph_objects as go

            fig = go.FigureWidget(layout=dict(height=300, width=360, margin=dict(l=90, r=10, t=30, b=30),
                                              title=dict(text="region scores", font=dict(size=13))))
            fig.add_bar(orientation="h")
            self._chart = fig
            self._update_chart()
            fig.data[0].on_click(self._on_bar_click)
            self.observe(lambda _c: self._update_chart(),
                         names=["regions", "selected_region", "colormap", "diverging_colormap", "scale"])
        return self._chart

    def _update_chart(self) -> None:
        if self._chart is None:
            return
        regs = sorted(self.regions, key=lambda r: (np.nan_to_num(r["score"], nan=-np.inf)))
        names = [r["name"] for r in regs]
        with self._chart.batch_update():
            bar = self._chart.data[0]
            bar.x = [r["score"] for r in regs]
            bar.y = names
            bar.marker.color = region_bar_colours([r["score"] for r in regs], self.colormap, self.diverging_colormap,
                                                  self.scale)
            bar.marker.line.color = ["#000000" if n == self.selected_region else "rgba(0,0,0,0)" for n in names]
            bar.marker.line.width = [3 if n == self.selected_region else 0 for n in names]

    def _on_bar_click(self, trace, points, _state):
        if points.point_inds:
            self.selected_region = trace.y[points.point_inds[0]]

    def panel(self):
        """The face and its bar chart side by side (an ``ipywidgets.HBox`` whose saved output also
        carries the face's PNG picture)."""
        if not self.regions:
            return self
        if getattr(self, "_panel", None) is None:
            self._panel = _Panel([self, self.chart])
        return self._panel

    # --- live runs -----------------------------------------------------------------------
    def _apply_progress(self, maps: dict, done: int, total: int) -> None:
        if maps:
            values = maps.get("values", next(iter(maps.values())))
            self.set_values(values)

    def _apply_result(self, result: Any) -> None:
        if isinstance(result, np.ndarray):
            self.set_values(result)
        else:
            self.set_values(getattr(result, "vertex_values", getattr(result, "values", None)), _regions_of(result),
                            texture=getattr(result, "texture", None))

    def render_png(self) -> np.ndarray:
        values = None if self.values is None else decode_payload(self.values)
        highlight = None
        if self.selected_region:
            highlight = np.zeros(len(self.mesh.triangles), bool)
            highlight[self.region_triangles(self.selected_region)] = True
        return render_mesh(self.mesh.vertices, self.mesh.triangles, values, yaw=self.yaw, pitch=self.pitch,
                           colormap=self.colormap, diverging_colormap=self.diverging_colormap, scale=self.scale,
                           highlight=highlight)


def texture_payload(texture: Any) -> dict:
    """Float16 map payload of a square uv texture (NaN = unseen, kept as NaN). Texels outside the
    mesh take their nearest texel inside it, so sampling at a triangle's edge never mixes in the
    outside (no seams when the texture is drawn triangle by triangle)."""
    from scipy import ndimage

    from ..canonical.atlas import uv_atlas

    tex = np.asarray(texture, dtype=np.float32)
    if tex.ndim != 2 or tex.shape[0] != tex.shape[1] or tex.shape[0] < 2:
        raise ShapeError(f"a canonical texture must be square (R, R); got {tex.shape}")
    if np.isinf(tex).any():
        raise ShapeError("the canonical texture contains infinity")
    inside = uv_atlas(tex.shape[0]).inside
    _d, (rows, cols) = ndimage.distance_transform_edt(~inside, return_indices=True)
    filled = tex[rows, cols]
    finite = filled[np.isfinite(filled)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    scale = max(abs(lo), abs(hi))
    data = (filled / scale if scale > 0 else filled).astype("<f2").tobytes()  # NaN stays NaN
    r = int(tex.shape[0])
    return {"data": data, "shape": [r, r], "dtype": "float16", "lo": lo, "hi": hi, "scale": float(scale),
            "signed": lo < 0, "affine": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]}


def region_bar_colours(scores, colormap: str, diverging_colormap: str, scale: str) -> list[str]:
    """CSS colours of region bars: the scores through the face's colour map, scaled over the
    scores by the face's scale rule (``scale``); grey for a NaN score."""
    from .colormap import lut, scale_values

    s = np.asarray(scores, np.float64)
    finite = np.isfinite(s)
    if not finite.any():
        return ["#bdbdbd"] * len(s)
    tpos, _strength, mode = scale_values(np.where(finite, s, 0.0).astype(np.float32), scale)
    table = lut(diverging_colormap if mode == "diverging" else colormap)
    out = []
    for ok, x in zip(finite, tpos):
        if not ok:
            out.append("#bdbdbd")
            continue
        r, g, b = table[int(round(float(np.clip(x, 0, 1)) * 255))]
        out.append(f"rgb({r},{g},{b})")
    return out


@lru_cache(maxsize=1)
def _panel_class():
    import ipywidgets as w

    class Panel(w.HBox):
        """Face + chart; its mime bundle adds the face's static picture (see FaceWidget)."""

        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            if data is not None:
                data["image/png"] = self.children[0]._png_base64()
            return bundle

    return Panel


def _Panel(children):
    return _panel_class()(children)


def _regions_of(cmap) -> dict | None:
    """``name → (triangles, score)`` of a canonical map object, when it exposes regions."""
    regions = getattr(cmap, "regions", None)
    if callable(regions):
        regions = regions()
    if regions is None:  # the package's named regions (facewidget.canonical.regions())
        from .. import canonical as canonical_pkg

        regions = getattr(canonical_pkg, "regions", None)
        regions = regions() if callable(regions) else getattr(canonical_pkg, "REGIONS", None)
    if not regions:
        return None
    scores_fn = getattr(cmap, "region_scores", None)
    scores = scores_fn() if callable(scores_fn) else {}
    if isinstance(scores, (list, tuple)):  # ranked records: {"region", "share", "mean", ...}
        scores = {r.get("region", r.get("name")): r.get("share", r.get("mean")) for r in scores
                  if isinstance(r, Mapping)}
    out = {}
    for name, spec in dict(regions).items():
        tris = spec.get("triangles") if isinstance(spec, Mapping) else getattr(spec, "triangles", spec)
        s = scores.get(name) if isinstance(scores, Mapping) else None
        if isinstance(s, Mapping):
            s = s.get("mean", s.get("score"))
        elif s is not None and not np.isscalar(s):
            s = getattr(s, "mean", None)
        out[name] = (tris, float("nan") if s is None else float(s))
    return out
