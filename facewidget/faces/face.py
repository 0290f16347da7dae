"""The :class:`Face` record every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face in a photo.

    Conventions: pixel coordinates with the centre of the top-left pixel at (0, 0), x to the right,
    y down.

    Attributes:
        box: (x0, y0, x1, y1) in pixels, the tight box of the 478 landmarks.
        landmarks: float32 (478, 3): x, y in pixels and z, MediaPipe's relative depth scaled by the
            same factor as x (smaller z = nearer the camera). Indices 0-467 are the face mesh,
            468-477 the irises.
        pose: (yaw, pitch, roll) in degrees, from MediaPipe's facial transformation matrix
            (yaw > 0: the face turns towards the image's left; pitch > 0: looks up; roll > 0:
            the head tilts clockwise in the image).
        score: detector confidence in [0, 1].
        transform: float32 (4, 4) facial transformation matrix (canonical face → camera, metric).
        image_size: (height, width) of the photo the face was found in.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    pose: tuple[float, float, float]
    score: float
    transform: np.ndarray = field(repr=False)
    image_size: tuple[int, int] = (0, 0)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    @property
    def yaw(self) -> float:
        return self.pose[0]

    @property
    def pitch(self) -> float:
        return self.pose[1]

    @property
    def roll(self) -> float:
        return self.pose[2]

    def points(self, indices) -> np.ndarray:
        """(K, 2) x, y of the given landmark indices; a nested list averages each group."""
        out = []
        for idx in indices:
            if isinstance(idx, (list, tuple)):
                out.append(self.landmarks[list(idx), :2].mean(axis=0))
            else:
                out.append(self.landmarks[idx, :2])
        return np.asarray(out, dtype=np.float32)

    def to_dict(self) -> dict:
        """JSON-ready summary (without the landmarks array)."""
        return {"box": [float(v) for v in self.box], "pose": [float(v) for v in self.pose],
                "score": float(self.score), "image_size": list(self.image_size)}
