"""Face detection and the 478-point mesh, for portraits and group photos alike.

MediaPipe's short-range BlazeFace (inside ``face_landmarker.task``) only finds faces that fill at
least about a fifth of its input, so on a group photo it misses everyone. The strategy here:

1. **Window pyramid.** Square windows of side ``W = 5 · min_face_size · 2^k`` (k = 0, 1, ...,
   up to the whole image), stepping by ``0.6 W`` so every face of width ≤ 0.4 W lies wholly inside
   one window. BlazeFace finds a face of width f ≳ 0.2 W, so each f is covered by a level with
   W in [2.5 f, 5 f], a range that always holds one level of the doubling pyramid. Windows run on
   a small pool of detector instances in threads (MediaPipe releases the GIL while it infers).
2. **Merge.** Boxes from all windows are merged by non-maximum suppression (torchvision).
3. **Per-face mesh.** Each surviving box is cropped with a margin (up-sampled when small) and run
   through the FaceLandmarker; a candidate the landmarker does not confirm is dropped, which removes
   the detector's false alarms. Landmarks are mapped back to photo pixels.
4. Faces whose landmark boxes overlap are de-duplicated; the result is sorted largest first.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._native_logs import native_logs_silenced
from ..errors import NoFaceError
from ..io import load_image
from .face import Face

_MP_INPUT = 128           # BlazeFace short-range input side
_MIN_FRACTION = 0.2       # smallest face width BlazeFace finds, as a fraction of its input
_LANDMARK_CROP_MIN = 256  # small faces are up-sampled so the landmarker sees them well
_STEP_FRACTION = 0.6      # window step / side; faces up to (1 - 0.6)·W fit wholly in some window


@dataclass(frozen=True)
class DetectorConfig:
    """Parameters of :class:`FaceDetector` (recorded in explanation manifests)."""

    min_face_size: int = 40
    min_detection_confidence: float = 0.5
    nms_iou: float = 0.3
    crop_margin: float = 0.6
    # The landmarker confirms each candidate on its crop; these two thresholds reject the detector's
    # false alarms on the window pyramid (measured: a dark suit at 0.58 was "confirmed" at 0.5/0.5).
    confirm_detection_confidence: float = 0.6
    confirm_presence_confidence: float = 0.9


def pose_from_matrix(matrix: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from a 4×4 facial transformation matrix.

    The matrix maps the canonical face (x right, y up, z towards the viewer) into MediaPipe's
    camera frame. Decomposed as R = Rz(roll) · Ry(yaw) · Rx(pitch).
    """
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    r = r / np.cbrt(np.linalg.det(r))  # drop any uniform scale
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return (yaw, pitch, -roll)


def _windows(height: int, width: int, min_face: int) -> list[tuple[int, int, int]]:
    """(x0, y0, side) of every window of the pyramid."""
    out = []
    side = int(round(min_face / _MIN_FRACTION))
    longest = max(height, width)
    while True:
        if side >= longest:
            out.append((0, 0, longest))
            return out
        step = int(side * _STEP_FRACTION)
        xs = list(range(0, max(width - side, 0) + 1, step))
        ys = list(range(0, max(height - side, 0) + 1, step))
        if xs[-1] + side < width:
            xs.append(width - side)
        if ys[-1] + side < height:
            ys.append(height - side)
        out += [(x, y, side) for y in ys for x in xs]
        side *= 2


def _square_crop(image: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """A side×side crop starting at (x0, y0), zero-padded where it leaves the image."""
    h, w = image.shape[:2]
    crop = np.zeros((side, side, 3), dtype=np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return crop


class FaceDetector:
    """Finds faces and their 478-point meshes. Thread-safe; reuse one instance.

    Args:
        landmarker: path of ``face_landmarker.task``; default: the verified, cached asset.
        config: :class:`DetectorConfig`.
    """

    def __init__(self, landmarker: str | Path | None = None, config: DetectorConfig | None = None):
        from ..data import LANDMARKER

        self.config = config or DetectorConfig()
        self.bundle_path = LANDMARKER.path(landmarker)
        self._lock = threading.Lock()
        self._detectors: list = []
        self._landmarker = None
        self._warm = {"detector": False, "landmarker": False}  # first runs print native log lines
        self.workers = max(1, min(4, os.cpu_count() or 1))
        # Close the tasks before concurrent.futures shuts its executors down at exit: MediaPipe runs
        # its C calls (close included) on an executor, so tasks left for atexit or __del__ print
        # "cannot schedule new futures after shutdown". threading's exit hooks run in reverse order
        # of registration, so this one (registered after concurrent.futures') runs first.
        register = getattr(threading, "_register_atexit", None)  # private, but stable since 3.9
        try:
            (register or atexit.register)(self.close)
        except RuntimeError:  # already shutting down
            atexit.register(self.close)

    # MediaPipe tasks are created lazily and closed at exit (their __del__ fails at interpreter shutdown).
    def _tasks(self):
        if self._landmarker is None:
            from mediapipe.tasks.python import BaseOptions, vision

            with zipfile.ZipFile(self.bundle_path) as zf:
                det_model = zf.read("face_detector.tflite")
            self._detectors = [vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_buffer=det_model),
                min_detection_confidence=self.config.min_detection_confidence,
                min_suppression_threshold=self.config.nms_iou,
            )) for _ in range(self.workers)]
            self._landmarker = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(self.bundle_path)),
                num_faces=3,
                min_face_detection_confidence=self.config.confirm_detection_confidence,
                min_face_presence_confidence=self.config.confirm_presence_confidence,
                output_facial_transformation_matrixes=True,
            ))
        return self._detectors, self._landmarker

    def close(self) -> None:
        tasks = [t for t in (*self._detectors, self._landmarker) if t is not None]
        if not tasks:
            return
        with native_logs_silenced():  # LiteRT prints a line per task destroyed
            for task in tasks:
                try:
                    task.close()
                except Exception:  # noqa: BLE001 - closing at exit must never raise
                    pass
        self._detectors, self._landmarker = [], None

    @staticmethod
    def _mp_image(arr: np.ndarray):
        import mediapipe as mp

        return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(arr))

    def candidates(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4: x0, y0, x1, y1) and scores (N,) from the window pyramid, merged by NMS."""
        import torch
        import torchvision
        from PIL import Image

        detectors, _ = self._tasks()
        h, w = image.shape[:2]
        windows = _windows(h, w, self.config.min_face_size)

        def run(worker: int) -> list[tuple[tuple[float, float, float, float], float]]:
            found = []
            for x0, y0, side in windows[worker::len(detectors)]:
                crop = _square_crop(image, x0, y0, side)
                scale = 1.0
                if side > 2 * _MP_INPUT:
                    # Pre-shrink big windows (BlazeFace resizes to 128 anyway): cheaper to hand over.
                    scale = 2 * _MP_INPUT / side
                    crop = np.asarray(Image.fromarray(crop).resize((2 * _MP_INPUT,) * 2, Image.Resampling.BILINEAR))
                for det in detectors[worker].detect(self._mp_image(crop)).detections:
                    bb = det.bounding_box
                    bx0, by0 = x0 + bb.origin_x / scale, y0 + bb.origin_y / scale
                    found.append(((bx0, by0, bx0 + bb.width / scale, by0 + bb.height / scale),
                                  det.categories[0].score))
            return found

        with ThreadPoolExecutor(len(detectors)) as pool:
            results = [r for part in pool.map(run, range(len(detectors))) for r in part]
        boxes = [b for b, _ in results]
        scores = [s for _, s in results]
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        b = torch.tensor(boxes, dtype=torch.float32)
        s = torch.tensor(scores, dtype=torch.float32)
        keep = torchvision.ops.nms(b, s, self.config.nms_iou)
        return b[keep].numpy(), s[keep].numpy()

    def _landmark(self, image: np.ndarray, box: np.ndarray, score: float) -> Face | None:
        """Run the landmarker on a crop around ``box``; None when it finds no face there."""
        from PIL import Image

        _, landmarker = self._tasks()
        h, w = image.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = int(math.ceil(max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * self.config.crop_margin)))
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        crop = _square_crop(image, x0, y0, side)
        scale = 1.0
        if side < _LANDMARK_CROP_MIN:
            scale = _LANDMARK_CROP_MIN / side
            crop = np.asarray(Image.fromarray(crop).resize((_LANDMARK_CROP_MIN,) * 2, Image.Resampling.BICUBIC))
        result = landmarker.detect(self._mp_image(crop))
        if not result.face_landmarks:
            return None
        crop_px = crop.shape[0]
        best, best_dist = None, float("inf")
        for i, lms in enumerate(result.face_landmarks):
            pts = np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float32) * crop_px
            centre = pts[:, :2].mean(axis=0)
            dist = float(np.hypot(centre[0] - crop_px / 2, centre[1] - crop_px / 2))
            if dist < best_dist:
                best, best_dist = (i, pts), dist
        i, pts = best
        if best_dist > crop_px * 0.25:  # the landmarker found a neighbour, not this candidate
            return None
        pts = pts / scale
        pts[:, 0] += x0
        pts[:, 1] += y0
        matrix = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float32)
        fbox = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
        return Face(box=fbox, landmarks=pts, pose=pose_from_matrix(matrix), score=float(score),
                    transform=matrix, image_size=(h, w))

    def __call__(self, image, max_faces: int | None = None) -> list[Face]:
        """Every face at least ``min_face_size`` px wide, largest first."""
        import torch
        import torchvision

        img = load_image(image)
        with self._lock:
            # creating the tasks and their first inferences print native log lines: keep them out
            quiet = native_logs_silenced() if not all(self._warm.values()) else contextlib.nullcontext()
            with quiet:
                boxes, scores = self.candidates(img)
                self._warm["detector"] = True
                faces = [f for f in (self._landmark(img, b, s) for b, s in zip(boxes, scores)) if f is not None]
                self._warm["landmarker"] = self._warm["landmarker"] or len(boxes) > 0
        if len(faces) > 1:  # two candidates can converge on one face
            b = torch.tensor([f.box for f in faces], dtype=torch.float32)
            area = torch.tensor([f.width * f.height for f in faces])
            keep = torchvision.ops.nms(b, area, 0.4).tolist()
            faces = [faces[i] for i in keep]
        faces = [f for f in faces if f.width >= 0.75 * self.config.min_face_size]
        faces.sort(key=lambda f: f.width * f.height, reverse=True)
        return faces[:max_faces] if max_faces is not None else faces


_shared: dict[DetectorConfig, FaceDetector] = {}
_shared_lock = threading.Lock()


def default_detector(config: DetectorConfig | None = None) -> FaceDetector:
    """The shared :class:`FaceDetector` for ``config`` (default settings when None).

    MediaPipe tasks take seconds to create, so one detector per configuration is kept and reused.
    """
    config = config or DetectorConfig()
    with _shared_lock:
        if config not in _shared:
            _shared[config] = FaceDetector(config=config)
        return _shared[config]


def detect_faces(image, max_faces: int | None = None, *, min_face_size: int | None = None) -> list[Face]:
    """Detect every face in ``image`` (any :func:`facewidget.load_image` source), largest first.

    Each :class:`Face` carries its box, 478 landmarks (pixels), pose and score. Returns an empty
    list when there is no face; use :func:`detect_face` when one is required.
    """
    config = DetectorConfig() if min_face_size is None else DetectorConfig(min_face_size=min_face_size)
    return default_detector(config)(image, max_faces)


def detect_face(image) -> Face:
    """The largest face in ``image``; raises :class:`NoFaceError` when there is none."""
    img = load_image(image)
    faces = detect_faces(img, max_faces=1)
    if not faces:
        raise NoFaceError(f"no face found in the {img.shape[1]}×{img.shape[0]} image")
    return faces[0]
