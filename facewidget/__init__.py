"""facewidget: explain deep face models inside Jupyter.

Data flows one way: image → faces (detect, 478-point mesh) → aligned chips → model → explainer →
maps (chip → photo → canonical face) → widgets.
"""

from __future__ import annotations

from . import data, quality
from .align import ARCFACE_112, DLIB_5, AlignedFaces, AlignmentTemplate, align_faces, warp_to_chip, warp_to_image
from .canonical import CanonicalFace, canonical_face
from .errors import (AssetError, AssetIntegrityError, AssetUnavailableError, CancelledError, EmptyImageError,
                     FacewidgetError, ImageError, ImageTooLargeError, MissingExtraError, ModelError, NoFaceError,
                     NonFiniteImageError, ParameterError, ShapeError, TruncatedImageError, UnreadableImageError,
                     UnsupportedImageModeError, UnsupportedOperationError)
from .faces import Face, FaceDetector, detect_face, detect_faces
from .io import load_image
from .models import FaceModel, ModelConfig, load_model
from . import evaluate, explainers  # noqa: F401
from .explainers import ExplanationCancelled, Explanation, PairExplanation, explain, explain_pair

__version__ = "0.1.0"


def show(obj, display: bool = True, **kwargs):
    """Display ``obj`` in the matching Jupyter view and return it (see :func:`facewidget.widgets.show`)."""
    from .widgets import show as _show

    return _show(obj, display=display, **kwargs)


def export_html(source, path, *, title=None, photo_quality=90):
    """Write views or an executed notebook as one self-contained, interactive, offline HTML page
    (see :func:`facewidget.widgets.export_html`)."""
    from .widgets.export import export_html as _export_html

    return _export_html(source, path, title=title, photo_quality=photo_quality)


__all__ = [
    "ARCFACE_112", "DLIB_5", "AlignedFaces", "AlignmentTemplate", "AssetError", "AssetIntegrityError",
    "AssetUnavailableError", "CancelledError", "CanonicalFace", "EmptyImageError", "Face", "FaceDetector",
    "FaceModel", "FacewidgetError", "ImageError", "ImageTooLargeError", "MissingExtraError", "ModelError", "NoFaceError", "NonFiniteImageError",
    "ParameterError", "ShapeError", "TruncatedImageError", "UnreadableImageError", "UnsupportedImageModeError",
    "UnsupportedOperationError", "align_faces", "canonical_face", "data", "detect_face", "detect_faces",
    "export_html", "load_image", "load_model", "ModelConfig", "quality", "show", "warp_to_chip", "warp_to_image",
    # explanations: facewidget.explain(img, model, ...) calls facewidget.explainers.explain
    "ExplanationCancelled", "Explanation", "PairExplanation", "evaluate", "explain", "explain_pair", "explainers",
]
