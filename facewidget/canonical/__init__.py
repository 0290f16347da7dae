"""Stage 4: maps on MediaPipe's canonical face."""

from .mesh import CanonicalFace, canonical_face, parse_geometry_metadata

__all__ = ["CanonicalFace", "canonical_face", "parse_geometry_metadata"]
