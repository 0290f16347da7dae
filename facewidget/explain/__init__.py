"""Stage 3b: explainers (pair and single-face saliency) and their result objects."""

from .results import ExplainedFace, Explanation, PairExplanation

__all__ = ["ExplainedFace", "Explanation", "PairExplanation"]
