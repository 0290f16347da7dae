"""Stage 3b: explainers (pair and single-face saliency) and their result objects.

The single-face function is also ``facewidget.explain``; this package is ``facewidget.explainers``
(one name each, so IDEs, type checkers and documentation tools see a function and a package).

Entry points: :func:`explain_pair`, :func:`explain`. Methods (one module each, all on
:mod:`.engine`): ``corrrise``, ``rise``, ``occlusion``, ``scorecam`` (black box), ``gradcam``,
``xssab``, ``integrated_gradients`` (need gradients).
"""

from .api import explain, explain_pair, package_versions
from .base import BLACK_BOX, METHODS, MethodMaps, get_method
from .engine import ExplanationCancelled, ProgressUpdate
from .results import ExplainedFace, Explanation, PairExplanation
from .targets import CallableTarget, ClassTarget, ExpectedAgeTarget, SimilarityTarget, Target, resolve_target

__all__ = ["BLACK_BOX", "METHODS", "CallableTarget", "ClassTarget", "ExpectedAgeTarget", "ExplainedFace",
           "Explanation", "ExplanationCancelled", "MethodMaps", "PairExplanation", "ProgressUpdate",
           "SimilarityTarget", "Target", "explain", "explain_pair", "get_method", "package_versions",
           "resolve_target"]

