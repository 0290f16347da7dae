"""Stage 2: faces → aligned chips (and chip-space maps back onto the photo)."""

from .templates import ARCFACE_112, DLIB_5, TEMPLATES, AlignmentTemplate
from .transform import (AlignedFaces, align_faces, estimate_similarity, invert_affine, warp_affine,
                        warp_to_chip, warp_to_image)

__all__ = ["ARCFACE_112", "DLIB_5", "TEMPLATES", "AlignedFaces", "AlignmentTemplate", "align_faces",
           "estimate_similarity", "invert_affine", "warp_affine", "warp_to_chip", "warp_to_image"]
