"""PairView: both photos of a verification pair with their similar/dissimilar maps."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import traitlets as t

from ..errors import ShapeError
from .base import FaceWidget
from .colormap import SCALE_MODES
from .encode import (check_map, check_photo, crop_photo_map, crop_view, decode_payload, face_view_box,
                     float32_bytes, invert_affine, map_payload, png_bytes, uint16_bytes)
from .overlay import _colormap_trait
from .regions import default_regions, labelled_triangles, outline_edges, outline_segments, triangle_labels_bytes
from .render import overlay_on_photo, side_by_side

SIDES = ("a", "b")
MAP_KINDS = ("similar", "dissimilar")
#: optional per-face uncertainty maps (see facewidget.explainers): p-value per pixel, BH significance 0/1
SIGNIFICANCE_KINDS = ("p_value", "significant")

#: what a method's map measures (the colour bar's label), by manifest["method"]
QUANTITIES = {
    "corrrise": "correlation r",
    "rise": "similarity drop (score units)",
    "occlusion": "similarity drop (score units)",
    "gradcam": "gradient-weighted activation",
    "gradcampp": "gradient-weighted activation (Grad-CAM++)",
    "gradcam++": "gradient-weighted activation (Grad-CAM++)",
    "scorecam": "score-weighted activation",
    "integrated_gradients": "attribution (logit × input gradient)",
    "xssab": "gradient magnitude of the similarity",
}


def map_quantity(manifest: dict | None) -> str:
    """The colour bar's label for an explanation: the quantity its maps measure and its unit,
    from ``manifest["method"]`` (``"map value"`` when the method is not known)."""
    method = str((manifest or {}).get("method") or "").lower().replace("-", "_")
    return QUANTITIES.get(method, QUANTITIES.get(method.replace("_", ""), "map value"))
_FLAT_KEY = re.compile(r"^(?:(?P<s1>[ab])[/._](?P<k1>\w+)|(?P<k2>\w+?)[/._](?P<s2>[ab]))$")


def split_pair_maps(maps: dict) -> dict[str, dict[str, np.ndarray]]:
    """``{"a": {name: map}, "b": {...}}`` from nested dicts or flat keys like ``"a/similar"``,
    ``"a.similar"``, ``"similar_a"``."""
    out: dict[str, dict[str, np.ndarray]] = {"a": {}, "b": {}}
    for key, value in maps.items():
        if key in SIDES and isinstance(value, dict):
            out[key].update(value)
            continue
        m = _FLAT_KEY.match(str(key))
        if m is None:
            raise ShapeError(f"cannot tell which face the progress map {key!r} belongs to; "
                             "use {'a': {...}, 'b': {...}} or keys like 'a/similar'")
        side, kind = (m["s1"], m["k1"]) if m["s1"] else (m["s2"], m["k2"])
        out[side][kind] = value
    return out


def manifest_line(manifest: dict) -> str:
    """A short human line from an explanation manifest (method, model, parameters, seed)."""
    parts = []
    if manifest.get("method"):
        parts.append(str(manifest["method"]))
    model = manifest.get("model")
    name = model.get("name") if isinstance(model, dict) else model
    if name:
        parts.append(f"model {name}")
    params = manifest.get("parameters") or manifest.get("params") or {}
    if isinstance(params, dict):
        parts.extend(f"{k}={v}" for k, v in list(params.items())[:6] if isinstance(v, (int, float, str, bool)))
    if manifest.get("seed") is not None:
        parts.append(f"seed {manifest['seed']}")
    return " · ".join(parts)


class PairView(FaceWidget):
    """Both photos of a pair with similar / dissimilar / difference maps and linked hover.

    ``mode``: ``"similar"``, ``"dissimilar"`` or ``"difference"`` (similar − dissimilar, drawn on a
    diverging scale); ``arrangement``: ``"toggle"`` (one map per face) or ``"side"`` (similar and
    dissimilar side by side). Hovering a point of one face marks the same point of the other face:
    the point's barycentric coordinates in its MediaPipe mesh triangle are carried to the same
    triangle of the other face's mesh. ``threshold`` (native units) moves the decision: the view
    shows ``score``, ``decision`` (``"same"`` / ``"different"``) and a slider over ``threshold_range``.

    Each photo is shown around its face (``view_box_a``/``view_box_b``; ``zoom=False`` or ``[]``
    shows the whole photo). Build it from a :class:`~facewidget.explainers.PairExplanation`, or from two photos
    (:meth:`from_photos`) and fill it with a live run (:meth:`run`).
    """

    _view = t.Unicode("pair").tag(sync=True)
    photo_a = t.Bytes(b"").tag(sync=True)
    photo_b = t.Bytes(b"").tag(sync=True)
    size_a = t.List(t.Int(), default_value=[0, 0]).tag(sync=True)
    size_b = t.List(t.Int(), default_value=[0, 0]).tag(sync=True)
    #: shown part of each photo, photo pixels [x0, y0, x1, y1] (default: around the face); [] = all
    view_box_a = t.List(t.Float(), default_value=[]).tag(sync=True)
    view_box_b = t.List(t.Float(), default_value=[]).tag(sync=True)
    landmarks_a = t.Bytes(b"").tag(sync=True)
    landmarks_b = t.Bytes(b"").tag(sync=True)
    triangles = t.Bytes(b"").tag(sync=True)
    maps = t.Dict().tag(sync=True)
    mode = t.Enum(("similar", "dissimilar", "difference"), default_value="similar").tag(sync=True)
    # not `layout`: that name is ipywidgets' DOMWidget Layout model, which the front end renders
    arrangement = t.Enum(("toggle", "side"), default_value="toggle").tag(sync=True)
    #: native score and threshold (None: not known yet / the model has no threshold; JSON has no NaN)
    score = t.Float(None, allow_none=True).tag(sync=True)
    threshold = t.Float(None, allow_none=True).tag(sync=True)
    threshold_range = t.List(t.Float(), default_value=[0.0, 1.0]).tag(sync=True)
    higher_is_similar = t.Bool(True).tag(sync=True)
    decision = t.Unicode("").tag(sync=True)
    opacity = t.Float(0.6, min=0.0, max=1.0).tag(sync=True)
    colormap = _colormap_trait("inferno")
    diverging_colormap = _colormap_trait("rdbu")
    scale = t.Enum(SCALE_MODES, default_value="auto").tag(sync=True)
    map_threshold = t.Float(0.05, min=0.0, max=1.0).tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    #: one line about how the maps were made (method, model, parameters), from the manifest
    info = t.Unicode("").tag(sync=True)
    #: what the maps measure, with its unit: the colour bar's label (from the manifest's method)
    quantity = t.Unicode("").tag(sync=True)
    #: True: every panel of the pair uses one absolute scale; False: each map to its own maximum
    shared_scale = t.Bool(True).tag(sync=True)
    #: when the maps carry a ``significant`` map: False draws non-significant pixels transparent
    show_insignificant = t.Bool(False).tag(sync=True)
    #: canonical regions on the photos (see facewidget.widgets.regions): names, the region of every
    #: mesh triangle (int16 bytes; hovering names the region), and the outline of the region that a
    #: linked CanonicalFaceView selected: {"name": str, "a": float32 segments, "b": ...}
    region_names = t.List(t.Unicode()).tag(sync=True)
    triangle_regions = t.Bytes(b"").tag(sync=True)
    region_outline = t.Dict().tag(sync=True)

    def __init__(self, explanation=None, *, encoding: str = "float16", zoom: bool = True, **kwargs):
        super().__init__(**kwargs)
        self._encoding = encoding
        self._zoom = zoom
        self._images: dict[str, np.ndarray] = {}
        self._chip_affines: dict[str, np.ndarray | None] = {"a": None, "b": None}
        self._faces: dict[str, Any] = {}
        self.explanation = None
        from ..canonical import canonical_face

        self._mesh_triangles = np.asarray(canonical_face().triangles)
        self.triangles = uint16_bytes(self._mesh_triangles)
        self.set_regions(default_regions())
        if explanation is not None:
            self.set_explanation(explanation)

    # --- canonical regions -----------------------------------------------------------------
    def set_regions(self, regions) -> None:
        """Name hovered points by these canonical regions: ``[(name, triangle indices)]`` (indices
        into :func:`facewidget.canonical_face` ``.triangles``); default the package's regions."""
        self.region_names, self.triangle_regions = triangle_labels_bytes(len(self._mesh_triangles), list(regions))

    def show_region(self, name: str, triangles=None) -> None:
        """Outline a canonical region (its ``triangles``) on both photos, through each face's mesh;
        ``show_region("")`` clears it. :meth:`CanonicalFaceView.link` calls this on selection."""
        if not name:
            self.region_outline = {}
            return
        if triangles is None:
            triangles = labelled_triangles(self.region_names, self.triangle_regions, name)
        edges = outline_edges(self._mesh_triangles, triangles)
        outline = {"name": name}
        for side in SIDES:
            face = self._faces.get(side)
            if face is not None:
                outline[side] = outline_segments(face.landmarks, edges)
        self.region_outline = outline

    # --- content -------------------------------------------------------------------------
    @classmethod
    def from_photos(cls, image_a, image_b, face_a=None, face_b=None, *, template=None, **kwargs) -> "PairView":
        """A view of two photos, ready for a live run (faces detected when not given).

        ``template`` (an :class:`~facewidget.align.AlignmentTemplate`, default the model's when
        :meth:`run` gets a model, else ``DLIB_5``) places chip-space progress maps on the photos.
        """
        from ..faces import detect_face

        view = cls(**kwargs)
        for side, img, face in (("a", image_a, face_a), ("b", image_b, face_b)):
            img = check_photo(img)
            view._set_face(side, img, face if face is not None else detect_face(img))
        view._update_affines(template)
        return view

    def _set_face(self, side: str, image: np.ndarray, face) -> None:
        self._images[side] = image
        self._faces[side] = face
        lm = np.asarray(face.landmarks, np.float32)
        if lm.ndim != 2 or lm.shape[0] < 468 or lm.shape[1] < 2:
            raise ShapeError(f"face landmarks must be (478, 3); got {lm.shape}")
        with self.hold_sync():
            setattr(self, f"photo_{side}", png_bytes(image))
            setattr(self, f"size_{side}", [int(image.shape[1]), int(image.shape[0])])
            setattr(self, f"view_box_{side}", face_view_box(face, image.shape) if self._zoom else [])
            setattr(self, f"landmarks_{side}", float32_bytes(lm[:, :3] if lm.shape[1] >= 3 else
                                                            np.pad(lm, ((0, 0), (0, 1)))))

    def _update_affines(self, template) -> None:
        from ..align import DLIB_5, align_faces

        template = template or DLIB_5
        for side in SIDES:
            aligned = align_faces(self._images[side], [self._faces[side]], template)
            self._chip_affines[side] = invert_affine(np.asarray(aligned.transforms[0], np.float64))
            self._chip_shape = tuple(aligned.chips.shape[-2:])

    def set_explanation(self, explanation) -> None:
        """Show a :class:`~facewidget.explainers.PairExplanation`."""
        for attr in ("a", "b", "score", "same", "threshold"):
            if not hasattr(explanation, attr):
                raise ShapeError(f"expected a PairExplanation; {type(explanation).__name__} has no {attr!r}")
        self.explanation = explanation
        with self.hold_sync():
            for side in SIDES:
                ef = getattr(explanation, side)
                self._set_face(side, check_photo(ef.image), ef.face)
                self._chip_affines[side] = invert_affine(ef.transform)
                self._chip_shape = tuple(np.asarray(ef.chip).shape[:2])
            self._set_maps({side: dict(getattr(explanation, side).maps) for side in SIDES})
            manifest = getattr(explanation, "manifest", {}) or {}
            self.info = manifest_line(manifest)
            self.quantity = map_quantity(manifest)
            model_info = manifest.get("model")
            sim = manifest.get("similarity") or (model_info.get("similarity") if isinstance(model_info, dict) else None)
            score = float(explanation.score)
            thr = None if explanation.threshold is None else float(explanation.threshold)
            if sim in ("euclidean", "cosine"):
                self.higher_is_similar = sim == "cosine"
            elif explanation.same is not None and thr is not None and score != thr:
                # infer the orientation from the recorded decision
                self.higher_is_similar = bool(explanation.same) == (score > thr)
            if thr is None:  # a model without a verification threshold: no decision
                self.threshold_range = [score - 1.0, score + 1.0]
                self.score, self.threshold = score, thr
                return
            span = max(abs(score - thr), abs(thr), 1e-3)
            lo = min(score, thr) - 0.5 * span
            hi = max(score, thr) + 0.5 * span
            if not self.higher_is_similar:
                lo = max(lo, 0.0)
            self.threshold_range = [lo, hi]
            self.score = score
            self.threshold = thr

    def _payload(self, side: str, values: np.ndarray, name: str, support=None, encoding: str | None = None) -> dict:
        arr = check_map(values, f"{side}/{name}")
        img = self._images.get(side)
        if img is not None and arr.shape == img.shape[:2]:
            if support is not None:
                x0, y0, x1, y1 = support
                arr, aff = arr[y0:y1, x0:x1], np.array([[1.0, 0, x0], [0, 1.0, y0]])
            else:
                arr, aff = crop_photo_map(arr)
        elif self._chip_affines.get(side) is not None:
            aff = self._chip_affines[side]
        else:
            raise ShapeError(f"map {side}/{name} of shape {arr.shape} is neither on the photo's grid nor placed "
                             "by a known chip transform")
        return map_payload(arr, aff, encoding=encoding or self._wire_encoding(), name=f"{side}/{name}")

    def _set_maps(self, per_side: dict[str, dict[str, np.ndarray]]) -> None:
        from .encode import support_box

        new = {side: dict(self.maps.get(side, {})) for side in SIDES}
        for side, maps in per_side.items():
            # only what the view draws travels (explainers may add e.g. "signed" = similar − dissimilar,
            # which the difference mode computes from the two)
            # p_value / significant travel too, on the same grid (same crop) as the maps they qualify
            shown = {k: v for k, v in maps.items() if k in MAP_KINDS} or \
                {k: v for k, v in maps.items() if k not in SIGNIFICANCE_KINDS}
            arrays = {k: check_map(v, f"{side}/{k}") for k, v in shown.items()}
            img = self._images.get(side)
            photo_grid = [a for a in arrays.values() if img is not None and a.shape == img.shape[:2]]
            support = support_box([check_map(a) for a in photo_grid]) if photo_grid else None
            for name, arr in arrays.items():
                new[side][name] = self._payload(side, arr, name, support)
            shapes = {a.shape for a in arrays.values()}
            for name in SIGNIFICANCE_KINDS:
                new[side].pop(name, None)
                if name not in maps:
                    continue
                arr = check_map(maps[name], f"{side}/{name}")
                if arr.shape not in shapes:
                    raise ShapeError(f"map {side}/{name} has shape {arr.shape}; it must have the shape of the maps "
                                     f"it qualifies ({sorted(shapes)})")
                if name == "significant":  # 0/1, one byte per pixel is exact
                    new[side][name] = self._payload(side, (arr >= 0.5).astype(np.float32), name, support, "uint8")
                else:
                    new[side][name] = self._payload(side, np.clip(arr, 0.0, 1.0), name, support)
        self.maps = new

    @t.observe("threshold", "score", "higher_is_similar")
    def _decide(self, _change=None):
        if self.score is None or self.threshold is None:
            self.decision = ""
            return
        same = self.score >= self.threshold if self.higher_is_similar else self.score < self.threshold
        self.decision = "same" if same else "different"

    # --- live runs -------------------------------------------------------------------------
    def _prepare_run(self, args: tuple, kwargs: dict) -> None:
        """Place the run's chip maps the way the model aligns faces (its own ``align``)."""
        model = kwargs.get("model") or next((a for a in args if hasattr(a, "config")), None)
        if model is None or not self._images:
            return
        if hasattr(model, "align"):
            for side in SIDES:
                aligned = model.align(self._images[side], [self._faces[side]])
                self._chip_affines[side] = invert_affine(np.asarray(aligned.transforms[0], np.float64))
            return
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "alignment_template"):
            self._update_affines(config.alignment_template())

    def _apply_progress(self, maps: dict, done: int, total: int) -> None:
        self._set_maps({s: m for s, m in split_pair_maps(maps).items() if m})

    def _apply_result(self, result: Any) -> None:
        self.set_explanation(result)

    # --- static picture --------------------------------------------------------------------
    def _map_values(self, side: str, kind: str):
        maps = self.maps.get(side, {})
        if kind == "difference":
            if "similar" not in maps or "dissimilar" not in maps:
                return None
            sim, dis = maps["similar"], maps["dissimilar"]
            if sim["shape"] != dis["shape"] or sim["affine"] != dis["affine"]:
                return None
            return decode_payload(sim) - decode_payload(dis), sim["affine"], "diverging"
        if kind not in maps:
            return None
        return decode_payload(maps[kind]), maps[kind]["affine"], self.scale

    def render_png(self) -> np.ndarray:
        if not self._images:
            return np.full((64, 64, 3), 255, np.uint8)
        kinds = [self.mode] if self.arrangement == "toggle" else ["similar", "dissimilar"]
        # as the front end: one range shared by the pair's maps, non-significant pixels hidden
        shared = None
        if self.shared_scale:
            pool = ["difference"] if self.mode == "difference" and self.arrangement == "toggle" else list(MAP_KINDS)
            vals = [mv[0] for s in SIDES for k in pool if (mv := self._map_values(s, k)) is not None]
            finite = [v[np.isfinite(v)] for v in vals]
            finite = [f for f in finite if f.size]
            if finite:
                shared = (min(float(f.min()) for f in finite), max(float(f.max()) for f in finite))
        tiles = []
        for side in SIDES:
            for kind in kinds:
                img = self._images[side]
                mv = self._map_values(side, kind)
                if mv is not None:
                    values, aff, scale = mv
                    sig = self.maps.get(side, {}).get("significant")
                    mask = None
                    if sig is not None and not self.show_insignificant and sig["shape"] == list(values.shape):
                        mask = decode_payload(sig)
                    img = overlay_on_photo(img, values, np.asarray(aff).reshape(2, 3), colormap=self.colormap,
                                           diverging_colormap=self.diverging_colormap, scale=scale,
                                           threshold=self.map_threshold, opacity=self.opacity,
                                           value_range=shared, mask=mask)
                tiles.append(crop_view(img, getattr(self, f"view_box_{side}")))
        return side_by_side(tiles)
