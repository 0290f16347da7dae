"""OverlayView: a photo with a map overlay that can be dragged and resized."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from ..errors import ShapeError
from .base import FaceWidget
from .colormap import SCALE_MODES, colormap_names
from .encode import (affine_box, box_affine, check_map, check_photo, compose_affine, crop_photo_map, crop_view,
                     float32_bytes, uint16_bytes,
                     decode_payload, face_view_box, invert_affine, map_payload, png_bytes)
from .render import overlay_on_photo


def _colormap_trait(default: str) -> t.Unicode:
    return t.Enum(colormap_names(), default_value=default).tag(sync=True)


class OverlayView(FaceWidget):
    """A photo with a map drawn over it.

    Drag the overlay to move it, drag its corner handle to resize it (``overlay_box`` follows, in
    photo pixels ``[x0, y0, x1, y1]``, synced once per gesture). ``opacity`` (0..1), ``colormap``,
    ``diverging_colormap`` (for signed maps), ``scale`` (``"auto"``: diverging when the map has
    negative values, ``"sequential"``, ``"diverging"``) and ``threshold`` (0..1: weaker pixels are
    transparent) change the look. Draw polygon or brush annotations with the toolbar.

    Args:
        image: RGB uint8 (H, W, 3) photo.
        values: the map: (H, W) on the photo's grid (cropped to its non-zero support for
            transport), or any (h, w) grid placed by ``affine`` (2x3, map pixel → photo pixel).
        affine: where maps that are not on the photo's grid go, also for later maps (live runs);
            for an explained face it is the inverse of its photo→chip transform.
        encoding: ``"float16"`` or ``"uint8"`` on the wire.
    """

    _view = t.Unicode("overlay").tag(sync=True)
    photo = t.Bytes(b"").tag(sync=True)
    photo_size = t.List(t.Int(), default_value=[0, 0]).tag(sync=True)
    overlay = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    overlay_box = t.List(t.Float(), default_value=[]).tag(sync=True)
    natural_box = t.List(t.Float(), default_value=[]).tag(sync=True)
    #: the part of the photo shown, photo pixels [x0, y0, x1, y1]; empty = the whole photo
    view_box = t.List(t.Float(), default_value=[]).tag(sync=True)
    map_names = t.List(t.Unicode()).tag(sync=True)
    map_name = t.Unicode("").tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    opacity = t.Float(0.6, min=0.0, max=1.0).tag(sync=True)
    colormap = _colormap_trait("inferno")
    diverging_colormap = _colormap_trait("rdbu")
    scale = t.Enum(SCALE_MODES, default_value="auto").tag(sync=True)
    threshold = t.Float(0.05, min=0.0, max=1.0).tag(sync=True)
    #: what the map measures, with its unit (the colour bar's label; from an explanation's method)
    quantity = t.Unicode("").tag(sync=True)
    #: optional uncertainty of the shown map, on its grid: BH significance (uint8 payload, 0/1) and
    #: per-pixel p-values (float16 payload); None when the explanation has none
    significant = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    p_value = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    #: False: pixels that are not significant are transparent (when ``significant`` is known)
    show_insignificant = t.Bool(False).tag(sync=True)
    #: the face's mesh (float32 (478, 3) landmarks, uint16 canonical triangles) and the canonical
    #: regions on it: hovering names the region, a linked CanonicalFaceView's selection is
    #: outlined ({"name": str, "photo": float32 (K, 4) segments}); see facewidget.widgets.regions
    landmarks = t.Bytes(b"").tag(sync=True)
    triangles = t.Bytes(b"").tag(sync=True)
    region_names = t.List(t.Unicode()).tag(sync=True)
    triangle_regions = t.Bytes(b"").tag(sync=True)
    region_outline = t.Dict().tag(sync=True)

    def __init__(self, image: Any = None, values: Any = None, *, affine: Any = None, encoding: str = "float16",
                 face: Any = None, **kwargs):
        super().__init__(**kwargs)
        self._face = None
        self._encoding = encoding
        self._maps: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._image: np.ndarray | None = None
        self._chip_affine: np.ndarray | None = None
        if affine is not None:
            self._chip_affine = np.asarray(affine, np.float64).reshape(2, 3)
        if image is not None:
            self.set_photo(image)
        if values is not None:
            self.set_map(values, affine=affine)
        if face is not None:
            self.set_face(face)

    # --- canonical regions -------------------------------------------------------------------
    def set_face(self, face) -> None:
        """The face in the photo (a :class:`~facewidget.faces.Face` with 478 landmarks): hovering
        names canonical regions and :meth:`CanonicalFaceView.link` can outline them."""
        from ..canonical import canonical_face
        from .regions import default_regions

        lm = np.asarray(face.landmarks, np.float32)
        if lm.ndim != 2 or lm.shape[0] < 468 or lm.shape[1] < 2:
            raise ShapeError(f"face landmarks must be (478, 3); got {lm.shape}")
        self._face = face
        self._mesh_triangles = np.asarray(canonical_face().triangles)
        with self.hold_sync():
            self.landmarks = float32_bytes(lm[:, :3] if lm.shape[1] >= 3 else np.pad(lm, ((0, 0), (0, 1))))
            self.triangles = uint16_bytes(self._mesh_triangles)
            if not self.region_names:
                self.set_regions(default_regions())

    def set_regions(self, regions) -> None:
        """Name hovered points by these canonical regions: ``[(name, triangle indices)]``."""
        from ..canonical import canonical_face
        from .regions import triangle_labels_bytes

        self.region_names, self.triangle_regions = triangle_labels_bytes(len(canonical_face().triangles), list(regions))

    def show_region(self, name: str, triangles=None) -> None:
        """Outline a canonical region (its ``triangles``) on the photo through the face's mesh;
        ``show_region("")`` clears it (needs :meth:`set_face`)."""
        from .regions import labelled_triangles, outline_edges, outline_segments

        if not name or self._face is None:
            self.region_outline = {}
            return
        if triangles is None:
            triangles = labelled_triangles(self.region_names, self.triangle_regions, name)
        edges = outline_edges(self._mesh_triangles, triangles)
        self.region_outline = {"name": name, "photo": outline_segments(self._face.landmarks, edges)}

    # --- content ---------------------------------------------------------------------------
    @classmethod
    def from_explained(cls, explained, name: str | None = None, **kwargs) -> "OverlayView":
        """View of an :class:`~facewidget.explainers.ExplainedFace` or :class:`~facewidget.explainers.Explanation`."""
        view = cls(**kwargs)
        view.set_explained(explained, name)
        return view

    def zoom(self, face=None, margin: float = 1.8) -> None:
        """Show the region around ``face`` (default: the explained face); ``zoom(None)`` without a
        face shows the whole photo."""
        face = face if face is not None else getattr(self, "_face", None)
        self.view_box = [] if face is None or self._image is None else face_view_box(face, self._image.shape, margin)

    def set_photo(self, image: Any) -> None:
        img = check_photo(image)
        self._image = img
        with self.hold_sync():
            self.photo = png_bytes(img)
            self.photo_size = [int(img.shape[1]), int(img.shape[0])]

    def set_explained(self, explained, name: str | None = None) -> None:
        face = getattr(explained, "face", None) if not hasattr(explained, "maps") else explained
        if face is None or not hasattr(face, "maps"):
            raise ShapeError(f"expected an ExplainedFace or Explanation; got {type(explained).__name__}")
        if not face.maps:
            raise ShapeError("the explained face has no maps")
        self.set_photo(face.image)
        self.set_face(face.face)
        self.view_box = face_view_box(face.face, face.image.shape)
        self._chip_affine = invert_affine(face.transform)
        from .pair import SIGNIFICANCE_KINDS, map_quantity

        self._uncertainty = {k: check_map(face.maps[k], k) for k in SIGNIFICANCE_KINDS if k in face.maps}
        self.quantity = map_quantity(getattr(explained, "manifest", None) or {})
        maps = {k: (check_map(v, k), self._chip_affine) for k, v in face.maps.items() if k not in SIGNIFICANCE_KINDS}
        if not maps:
            raise ShapeError("the explained face has no maps besides p-values / significance")
        name = name or ("saliency" if "saliency" in maps else next(iter(maps)))
        if name not in maps:
            raise ShapeError(f"no map named {name!r}; the face has {sorted(maps)}")
        self._maps = maps
        with self.hold_sync():
            self.map_names = list(maps)
            self._show(name, reset_box=True)

    def set_map(self, values: Any, affine: Any = None, name: str = "map", reset_box: bool = True) -> None:
        """Show ``values`` (see the class docstring for grids); keeps other named maps."""
        arr = check_map(values, name)
        if affine is None:
            if self._image is not None and arr.shape == self._image.shape[:2]:
                arr, affine = crop_photo_map(arr)
            elif self._chip_affine is not None:
                affine = self._chip_affine
            else:
                shape = None if self._image is None else self._image.shape[:2]
                raise ShapeError(f"a map of shape {arr.shape} does not match the photo {shape}; "
                                 "pass affine= (map pixel → photo pixel) to place it")
        self._maps[name] = (arr, np.asarray(affine, np.float64).reshape(2, 3))
        self._uncertainty = {}  # a new map: its p-values are not known
        with self.hold_sync():
            if name not in self.map_names:
                self.map_names = list(self.map_names) + [name]
            self._show(name, reset_box=reset_box)

    @t.observe("map_name")
    def _on_map_name(self, change):
        if change["new"] in self._maps and self.overlay is not None:
            self._show(change["new"], reset_box=False)

    def _show(self, name: str, reset_box: bool) -> None:
        arr, affine = self._maps[name]
        payload = map_payload(arr, affine, encoding=self._wire_encoding(), name=name)
        natural = affine_box(np.asarray(payload["affine"]).reshape(2, 3), tuple(payload["shape"]))
        self.overlay = payload
        # the uncertainty maps travel with a map of their own grid (explainers make them per face)
        unc = getattr(self, "_uncertainty", {})
        sig, pv = unc.get("significant"), unc.get("p_value")
        self.significant = None if sig is None or sig.shape != arr.shape else map_payload(
            (sig >= 0.5).astype(np.float32), affine, encoding="uint8", name="significant")
        self.p_value = None if pv is None or pv.shape != arr.shape else map_payload(
            np.clip(pv, 0.0, 1.0), affine, encoding="float16", name="p_value")
        if reset_box or not self.overlay_box or self.natural_box != natural:
            self.natural_box = natural
            self.overlay_box = natural
        self.map_name = name

    # --- live runs ---------------------------------------------------------------------------
    def _apply_progress(self, maps: dict, done: int, total: int) -> None:
        flat = {k: v for k, v in maps.items() if not isinstance(v, dict)}
        if not flat:
            return
        name = self.map_name if self.map_name in flat else next(iter(flat))
        self.set_map(flat[name], name=name, reset_box=False)

    def _apply_result(self, result: Any) -> None:
        if hasattr(result, "maps") or hasattr(result, "face"):
            self.set_explained(result, self.map_name or None)
        else:
            self.set_map(result, name=self.map_name or "map", reset_box=False)

    # --- state -------------------------------------------------------------------------------
    def current_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(values as the front end decodes them, affine map pixel → photo pixel incl. the user's drag)."""
        if self.overlay is None:
            raise ShapeError("the view has no map")
        aff = np.asarray(self.overlay["affine"]).reshape(2, 3)
        if self.overlay_box and self.natural_box:
            aff = compose_affine(box_affine(self.natural_box, self.overlay_box), aff)
        return decode_payload(self.overlay), aff

    def render_png(self) -> np.ndarray:
        if self._image is None:
            return np.full((64, 64, 3), 255, np.uint8)
        if self.overlay is None:
            return crop_view(self._image, self.view_box)
        values, aff = self.current_map()
        # as the front end: non-significant pixels stay transparent unless asked for
        sig = self.significant
        mask = None
        if sig is not None and not self.show_insignificant and list(sig["shape"]) == list(values.shape):
            mask = decode_payload(sig)
        return crop_view(overlay_on_photo(self._image, values, aff, colormap=self.colormap,
                                          diverging_colormap=self.diverging_colormap, scale=self.scale,
                                          threshold=self.threshold, opacity=self.opacity, mask=mask), self.view_box)
