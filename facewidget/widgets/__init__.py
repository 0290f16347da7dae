"""Stage 5: Jupyter views (anywidget). They display and convert; they never compute science.

* :class:`OverlayView` — photo + draggable/resizable map overlay, annotations.
* :class:`PairView` — a verification pair: similar/dissimilar/difference maps, linked hover, threshold.
* :class:`CanonicalFaceView` — the canonical face, rotatable, coloured by per-vertex values, regions.
* :func:`show` — picks the view for an object.
* :func:`export_html` — views or an executed notebook as one interactive, offline HTML page.

Static export: each view's output carries an ``image/png`` picture of its state (see
:mod:`facewidget.widgets.base`).
"""

from .annotations import AnnotationError
from .base import FaceWidget, FrontEndMissingError
from .canonical import CanonicalFaceView
from .export import ExportError, export_html
from .live import LiveRun
from .overlay import OverlayView
from .pair import PairView
from .show import show, view_for

__all__ = ["AnnotationError", "CanonicalFaceView", "ExportError", "export_html", "FaceWidget", "FrontEndMissingError", "LiveRun",
           "OverlayView", "PairView", "show", "view_for"]
