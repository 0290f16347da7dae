"""ISO/IEC 29794-5-style component measures from the 478-point mesh and the head pose.

Need faces with a mesh (:meth:`FaceBatch.from_images`). Indices are MediaPipe face-mesh indices;
"left"/"right" are the subject's own.

* **pose**: yaw, pitch, roll from :attr:`Face.pose` (degrees, MediaPipe's transformation matrix);
  per angle q = max(0, cos(angle)); ``pose`` = q_yaw · q_pitch · q_roll (1 = frontal and upright),
  components ``yaw``, ``pitch``, ``roll``. Blur/noise/exposure do not change it; rotating the
  photo (roll) and turned heads (yaw) do.
* **inter-eye distance**: distance between the iris centres (468, 473) in photo pixels (ISO/IEC
  29794-5 and ICAO ask for ≥ 90 px, "≥ 60 px" at least). Down-scaling the photo lowers it; blur does not.
* **eyes open**: eye aspect ratio EAR = (‖p2 − p6‖ + ‖p3 − p5‖) / (2‖p1 − p4‖) per eye (Soukupová &
  Čech 2016) with p1…p6 = 33, 160, 158, 133, 153, 144 (right eye) and 362, 385, 387, 263, 373, 380
  (left eye); ``eyes_open`` = the smaller EAR (≈ 0.25–0.35 open, < 0.15 closed), components per eye.
* **mouth closed**: r = ‖p13 − p14‖ / ‖p78 − p308‖ (inner-lip gap over inner mouth width);
  ``mouth_closed`` = 1 − min(r, 1); component ``lip_gap_ratio`` = −r (higher = more closed).
"""

from __future__ import annotations

import numpy as np

from .batch import FaceBatch
from .fiqa import FIQAMethod

RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)
IRIS_RIGHT, IRIS_LEFT = 468, 473
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT = 78, 308


def eye_aspect_ratio(points: np.ndarray) -> float:
    """EAR of 6 eye points (x, y): (‖p2 − p6‖ + ‖p3 − p5‖) / (2‖p1 − p4‖)."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    d = lambda a, b: float(np.linalg.norm(p[a] - p[b]))  # noqa: E731
    width = d(0, 3)
    return (d(1, 5) + d(2, 4)) / (2.0 * width) if width > 0 else 0.0


class PoseQuality(FIQAMethod):
    """``{"pose", "yaw", "pitch", "roll"}``: products/values of max(0, cos(angle))."""

    name = "pose"

    def __call__(self, batch: FaceBatch):
        angles = np.array([f.pose for f in batch.require_mesh("pose")], dtype=np.float64).reshape(-1, 3)
        q = np.maximum(0.0, np.cos(np.radians(angles)))
        return {"pose": q.prod(1), "yaw": q[:, 0], "pitch": q[:, 1], "roll": q[:, 2]}


class InterEyeDistance(FIQAMethod):
    """``{"inter_eye_distance": iris-centre distance in photo pixels}``."""

    name = "inter-eye-distance"

    def __call__(self, batch: FaceBatch):
        faces = batch.require_mesh("inter-eye distance")
        ied = [float(np.linalg.norm(f.landmarks[IRIS_LEFT, :2].astype(np.float64)
                                    - f.landmarks[IRIS_RIGHT, :2].astype(np.float64))) for f in faces]
        return {"inter_eye_distance": np.array(ied)}


class EyesOpen(FIQAMethod):
    """``{"eyes_open": min EAR, "right_eye_open", "left_eye_open"}``."""

    name = "eyes-open"

    def __call__(self, batch: FaceBatch):
        faces = batch.require_mesh("eyes open")
        right = np.array([eye_aspect_ratio(f.landmarks[list(RIGHT_EYE)]) for f in faces])
        left = np.array([eye_aspect_ratio(f.landmarks[list(LEFT_EYE)]) for f in faces])
        return {"eyes_open": np.minimum(right, left), "right_eye_open": right, "left_eye_open": left}


class MouthClosed(FIQAMethod):
    """``{"mouth_closed": 1 − min(gap / width, 1), "lip_gap_ratio": −gap / width}``."""

    name = "mouth-closed"

    def __call__(self, batch: FaceBatch):
        faces = batch.require_mesh("mouth closed")
        ratios = []
        for f in faces:
            p = f.landmarks[:, :2].astype(np.float64)
            width = np.linalg.norm(p[MOUTH_CORNER_LEFT] - p[MOUTH_CORNER_RIGHT])
            gap = np.linalg.norm(p[LIP_UPPER_INNER] - p[LIP_LOWER_INNER])
            ratios.append(gap / width if width > 0 else 1.0)
        r = np.array(ratios)
        return {"mouth_closed": 1.0 - np.minimum(r, 1.0), "lip_gap_ratio": -r}
