"""Annotations drawn in the views: validation, JSON and pandas export.

An annotation is a plain dict (the synced widget state, so it survives re-rendering and is saved
with the notebook's widget state):

``{"id": str, "kind": "polygon" | "brush" | "mesh", "target": str, "label": str, "note": str,
"points": [[x, y], ...], "radius": float, "regions": [str, ...], "triangles": [int, ...]}``

* ``polygon``: ``points`` are the vertices, photo pixels (x right, y down, pixel centres at integers).
* ``brush``: ``points`` is the stroke's centre line, ``radius`` its half width in photo pixels.
* ``mesh``: ``regions`` names regions of the canonical face and ``triangles`` their triangle indices
  into :func:`facewidget.canonical_face` ``.triangles``.
* ``target`` says which image: ``"photo"`` (OverlayView), ``"a"``/``"b"`` (PairView), ``"canonical"``.
Labels and notes are free text; the front end renders them as text only, never as HTML.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any, Iterable

from ..errors import FacewidgetError

KINDS = ("polygon", "brush", "mesh")
_MAX_TEXT = 10_000


class AnnotationError(FacewidgetError, ValueError):
    """An annotation (or its JSON) does not follow the annotation schema."""


def _number(v: Any, what: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise AnnotationError(f"{what} must be a number; got {v!r}") from None
    if not math.isfinite(f):
        raise AnnotationError(f"{what} must be finite; got {v!r}")
    return f


def _text(v: Any, what: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise AnnotationError(f"{what} must be a string; got {type(v).__name__}")
    if len(v) > _MAX_TEXT:
        raise AnnotationError(f"{what} is longer than {_MAX_TEXT} characters")
    return v


def normalise(ann: Any) -> dict:
    """Check one annotation and return it in canonical form (missing optional fields filled in)."""
    if not isinstance(ann, dict):
        raise AnnotationError(f"an annotation must be a dict; got {type(ann).__name__}")
    kind = ann.get("kind")
    if kind not in KINDS:
        raise AnnotationError(f"annotation kind must be one of {KINDS}; got {kind!r}")
    out = {"id": _text(ann.get("id"), "id") or uuid.uuid4().hex[:12], "kind": kind,
           "target": _text(ann.get("target"), "target") or ("canonical" if kind == "mesh" else "photo"),
           "label": _text(ann.get("label"), "label"), "note": _text(ann.get("note"), "note")}
    if kind in ("polygon", "brush"):
        pts = ann.get("points")
        if not isinstance(pts, (list, tuple)) or not pts:
            raise AnnotationError(f"a {kind} annotation needs a non-empty list of [x, y] points")
        norm = []
        for p in pts:
            if not isinstance(p, (list, tuple)) or len(p) != 2:
                raise AnnotationError(f"annotation points must be [x, y] pairs; got {p!r}")
            norm.append([_number(p[0], "x"), _number(p[1], "y")])
        if kind == "polygon" and len(norm) < 3:
            raise AnnotationError(f"a polygon needs at least 3 points; got {len(norm)}")
        out["points"] = norm
        if kind == "brush":
            r = _number(ann.get("radius", 8.0), "radius")
            if r <= 0:
                raise AnnotationError(f"brush radius must be > 0; got {r}")
            out["radius"] = r
    else:
        regions = ann.get("regions") or []
        if not isinstance(regions, (list, tuple)) or not all(isinstance(r, str) for r in regions):
            raise AnnotationError("mesh annotation regions must be a list of region names")
        tris = ann.get("triangles") or []
        if not isinstance(tris, (list, tuple)):
            raise AnnotationError("mesh annotation triangles must be a list of triangle indices")
        tri_int = []
        for t in tris:
            f = _number(t, "triangle index")
            if f < 0 or f != int(f):
                raise AnnotationError(f"triangle indices must be non-negative integers; got {t!r}")
            tri_int.append(int(f))
        if not regions and not tri_int:
            raise AnnotationError("a mesh annotation needs regions or triangles")
        out["regions"], out["triangles"] = list(regions), tri_int
    return out


def normalise_all(anns: Iterable[Any]) -> list[dict]:
    if isinstance(anns, (str, bytes, dict)):
        raise AnnotationError("annotations must be a list of dicts")
    return [normalise(a) for a in anns]


def to_json(anns: list[dict], indent: int | None = 2) -> str:
    """JSON text of a list of annotations (``{"version": 1, "annotations": [...]}``)."""
    return json.dumps({"version": 1, "annotations": normalise_all(anns)}, indent=indent)


def from_json(text: str) -> list[dict]:
    """Parse JSON written by :func:`to_json` (a bare list of annotations is accepted too)."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as e:
        raise AnnotationError(f"annotations JSON does not parse: {e}") from None
    if isinstance(data, dict):
        if data.get("version", 1) != 1:
            raise AnnotationError(f"unsupported annotations version {data.get('version')!r}")
        data = data.get("annotations")
    if not isinstance(data, list):
        raise AnnotationError("annotations JSON must hold a list of annotations")
    return normalise_all(data)


def to_pandas(anns: list[dict]):
    """A pandas DataFrame, one row per annotation (needs pandas)."""
    try:
        import pandas as pd
    except ImportError:
        raise FacewidgetError("to_pandas needs pandas: pip install pandas") from None
    cols = ["id", "kind", "target", "label", "note", "points", "radius", "regions", "triangles"]
    return pd.DataFrame([{c: a.get(c) for c in cols} for a in normalise_all(anns)], columns=cols)
