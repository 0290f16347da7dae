"""Stage 1: photos → faces (box, 478-point mesh, pose)."""

from .detect import DetectorConfig, FaceDetector, detect_face, detect_faces, pose_from_matrix
from .face import Face

__all__ = ["DetectorConfig", "Face", "FaceDetector", "detect_face", "detect_faces", "pose_from_matrix"]
