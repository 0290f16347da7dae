"""``facewidget.show(obj)``: the right view for an explanation, a canonical map or a photo."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnsupportedOperationError


def view_for(obj: Any, **kwargs):
    """Build (without displaying) the view for ``obj``.

    * :class:`~facewidget.explainers.PairExplanation` → :class:`PairView`
    * :class:`~facewidget.explainers.Explanation` / :class:`~facewidget.explainers.ExplainedFace` → :class:`OverlayView`
    * a canonical map (per-vertex ``vertex_values``/``values`` of length 468) or a (468,) array
      → :class:`CanonicalFaceView`
    * a model-level group map (:class:`~facewidget.canonical.GroupMap`, anything with a
      ``canonical_map()`` method) → :class:`CanonicalFaceView` of its mean map
    * an RGB uint8 photo (H, W, 3) → :class:`OverlayView` without a map (annotate it)
    """
    from ..explainers.results import ExplainedFace, Explanation, PairExplanation
    from .canonical import CanonicalFaceView
    from .overlay import OverlayView
    from .pair import PairView

    if isinstance(obj, PairExplanation):
        return PairView(obj, **kwargs)
    if isinstance(obj, (Explanation, ExplainedFace)):
        return OverlayView.from_explained(obj, **kwargs)
    if not isinstance(obj, np.ndarray) and callable(getattr(obj, "canonical_map", None)):
        obj = obj.canonical_map()  # e.g. a GroupMap of canonical.model_map: its mean map
    if isinstance(obj, np.ndarray):
        if obj.ndim == 1:
            return CanonicalFaceView(obj, **kwargs)
        return OverlayView(obj, **kwargs)
    if any(getattr(obj, a, None) is not None for a in ("vertex_values", "per_vertex")) or (
            hasattr(obj, "region_scores") and getattr(obj, "values", None) is not None):
        return CanonicalFaceView.from_canonical_map(obj, **kwargs)
    raise UnsupportedOperationError(
        f"facewidget.show does not know how to show a {type(obj).__name__}; it shows PairExplanation, "
        "Explanation, ExplainedFace, canonical maps, group maps and RGB photos")


def show(obj: Any, display: bool = True, **kwargs):
    """Display ``obj`` in the matching view (see :func:`view_for`) and return the view.

    The view is displayed once: ``view = fw.show(x)`` shows it, and so do ``fw.show(x)`` or
    ``view = fw.show(x); view`` as a cell's last line — the cell's result is not shown a second
    time. ``display(view)``, or ``view`` in a later cell, shows it again (another live copy).
    ``display=False`` only builds the view.
    """
    view = view_for(obj, **kwargs)
    if display:
        from IPython.display import display as ipy_display

        from .canonical import CanonicalFaceView

        shown = view.panel() if isinstance(view, CanonicalFaceView) and view.regions else view
        ipy_display(shown)
        view._mark_shown()
    return view
