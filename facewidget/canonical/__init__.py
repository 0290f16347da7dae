"""Stage 4: maps on MediaPipe's canonical face (Canonical Saliency Maps, John et al. 2021).

* :func:`regions` / :func:`region`: named facial regions as triangle and vertex sets.
* :func:`project`: a photo-space map → :class:`CanonicalMap` (uv texture + per-vertex values).
* :meth:`CanonicalMap.translate`: back onto any photo; :meth:`CanonicalMap.region_scores`.
* :func:`canonical_image_saliency`: occlusion at every mesh vertex (CIS).
* :func:`model_map` / :func:`compare`: streaming per-texel statistics over data sets (CMS).
* :mod:`.evaluate`: Average Drop %, % increase in confidence, Win %.
"""

from .atlas import UVAtlas, uv_atlas
from .canonical_map import CanonicalMap
from .cis import canonical_image_saliency, fill_vertices, occlusion_drops, splat_vertices, vertex_subset
from .compare import Comparison, compare, permutation_p_values
from .evaluate import (ClassProbability, average_drop, chip_map_from_canonical, compare_methods, evaluate_maps,
                       increase_in_confidence, normalise_mass, win_percent)
from .mesh import CanonicalFace, canonical_face, parse_geometry_metadata
from .model_map import GroupError, GroupMap, ModelMap, RunningStats, model_map, predicted_class
from .project import project
from .regions import REGION_NAMES, Region, RegionError, region, region_label_texture, regions, triangle_labels
from .targets import ClassLogit, ExpectedValue, SimilarityTo
from .visibility import visible_triangles

__all__ = [
    "CanonicalFace",
    "CanonicalMap",
    "ClassLogit",
    "ClassProbability",
    "Comparison",
    "ExpectedValue",
    "GroupError",
    "GroupMap",
    "ModelMap",
    "REGION_NAMES",
    "Region",
    "RegionError",
    "RunningStats",
    "SimilarityTo",
    "UVAtlas",
    "average_drop",
    "canonical_face",
    "canonical_image_saliency",
    "chip_map_from_canonical",
    "compare",
    "compare_methods", "evaluate_maps",
    "fill_vertices",
    "increase_in_confidence",
    "model_map",
    "normalise_mass",
    "occlusion_drops",
    "parse_geometry_metadata",
    "permutation_p_values",
    "predicted_class",
    "project",
    "region",
    "region_label_texture",
    "regions",
    "splat_vertices",
    "triangle_labels",
    "uv_atlas",
    "vertex_subset",
    "visible_triangles",
    "win_percent",
]
