"""Face image quality: pluggable FIQA methods and activation-map variation analyses.

* FIQA methods (:mod:`.fiqa`): any callable ``batch -> scores`` (higher = better); built-ins
  ``ser-fiq``, ``embedding-norm``, ``brisque``, ``sharpness``, ``exposure``, ``dynamic-range``,
  ``pose``, ``inter-eye-distance``, ``eyes-open``, ``mouth-closed``. Batches: :mod:`.batch`.
* Activation maps of the embedding (:mod:`.activation`): Grad-CAM / Score-CAM in [0, 1].
* :func:`analyze` (:mod:`.analysis`): H/L split per method, streaming per-pixel statistics
  (:mod:`.streaming`), D-AM-V, KDE, profiles, symmetrised deviation, inter-/intra-FIQA, and the
  same on the canonical face (:mod:`.canonical`).
* Degradations (:mod:`.degradations`): seeded, quality-controlled sets from real photos.
"""

from .activation import ActivationMaps, activation_maps, normalise_map
from .analysis import FIQAAnalysis, QualityAnalysis, SetStats, analyze, split_by_quantile
from .batch import MEASUREMENT_TEMPLATE, FaceBatch, as_face_batch
from .brisque_score import Brisque
from .canonical import CanonicalSpace, mediapipe_space
from .degradations import DEGRADATIONS, KINDS, DegradationGenerator, DegradedImage, degrade, detect_missing
from .embedding_norm import EmbeddingNorm
from .fiqa import FIQAMethod, builtin_methods, get_fiqa, score
from .mesh_measures import EyesOpen, InterEyeDistance, MouthClosed, PoseQuality
from .pixel_measures import DynamicRange, Exposure, Sharpness
from .regions import face_region_mask
from .serfiq import SERFIQ
from .streaming import StreamingMapStats

__all__ = ["ActivationMaps", "Brisque", "CanonicalSpace", "DEGRADATIONS", "DegradationGenerator", "DegradedImage",
           "DynamicRange", "EmbeddingNorm", "Exposure", "EyesOpen", "FIQAAnalysis", "FIQAMethod", "FaceBatch",
           "InterEyeDistance", "KINDS", "MEASUREMENT_TEMPLATE", "MouthClosed", "PoseQuality", "QualityAnalysis",
           "SERFIQ", "SetStats", "Sharpness", "StreamingMapStats", "activation_maps", "analyze", "as_face_batch",
           "builtin_methods", "degrade", "detect_missing", "face_region_mask", "get_fiqa", "mediapipe_space", "normalise_map",
           "score", "split_by_quantile"]
