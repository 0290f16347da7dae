"""Honest test data for the widget tests: maps computed from real detected faces.

The widgets only display maps; to test them we need maps whose content we know. These are
Gaussian bumps around real MediaPipe landmarks (a known place on a real face), never presented
as explanations of a model.
"""

from __future__ import annotations

import time

import numpy as np

NOSE_TIP = 1        # MediaPipe mesh index of the nose tip
LEFT_EYE = 33       # outer corner of the subject's right eye (image left)
MOUTH = 13          # upper lip centre


def gaussian(shape, center_xy, sigma) -> np.ndarray:
    """float32 (h, w) Gaussian bump centred at (x, y) pixels (centres at integers)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - center_xy[0]) ** 2 + (yy - center_xy[1]) ** 2) / (2.0 * sigma ** 2)).astype(np.float32)


def to_chip(transform, xy) -> np.ndarray:
    m = np.asarray(transform, np.float64)
    return m[:, :2] @ np.asarray(xy, np.float64)[:2] + m[:, 2]


def explained_face(image, face, maps_at: dict[str, tuple[int, float]], template=None):
    """An ExplainedFace whose chip maps are Gaussians around landmarks: name → (landmark index, weight)."""
    from facewidget import DLIB_5, align_faces
    from facewidget.explainers import ExplainedFace

    aligned = align_faces(image, [face], template or DLIB_5)
    chip = (aligned.chips[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    transform = np.asarray(aligned.transforms[0], np.float64)
    maps = {name: weight * gaussian(chip.shape[:2], to_chip(transform, face.landmarks[idx]), 8.0)
            for name, (idx, weight) in maps_at.items()}
    return ExplainedFace(image=image, face=face, chip=chip, transform=transform, maps=maps)


def pair_explanation(img_a, face_a, img_b, face_b, score=0.41, threshold=0.6):
    """PairExplanation of two real faces: 'similar' around the nose, 'dissimilar' around the mouth.

    ``score``/``threshold`` are in dlib's native units (Euclidean distance, lower = more similar).
    """
    from facewidget.explainers import PairExplanation

    a = explained_face(img_a, face_a, {"similar": (NOSE_TIP, 1.0), "dissimilar": (MOUTH, 0.5)})
    b = explained_face(img_b, face_b, {"similar": (NOSE_TIP, 0.8), "dissimilar": (LEFT_EYE, 0.6)})
    return PairExplanation(a=a, b=b, score=score, same=score < threshold, threshold=threshold,
                           manifest={"method": "test-gaussians-at-landmarks", "similarity": "euclidean"})


def landmark_density(shape, points, sigma=6.0, *, progress=None, cancel=None, every=8, pause=0.0):
    """Kernel density of 2-D points on an (h, w) grid, accumulated point by point.

    A real, checkable progressive computation for the live-run tests: it reports the running sum
    after every ``every`` points through ``progress(maps, done, total)`` and stops when ``cancel``
    is set (raising facewidget.CancelledError). ``pause`` (seconds per report) stretches it so a
    browser can watch it.
    """
    from facewidget import CancelledError

    acc = np.zeros(shape, np.float32)
    total = len(points)
    for i, p in enumerate(points, 1):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"cancelled after {i - 1} of {total} points")
        acc += gaussian(shape, p, sigma)
        if progress is not None and (i % every == 0 or i == total):
            progress({"density": acc.copy()}, i, total)
            if pause:
                time.sleep(pause)
    return acc


def canonical_test_regions(mesh, anchors=None) -> dict[str, np.ndarray]:
    """Triangles of the canonical face split by nearest anchor vertex (a Voronoi partition)."""
    anchors = anchors or {"nose": NOSE_TIP, "mouth": MOUTH, "right eye": LEFT_EYE, "left eye": 263,
                          "forehead": 10, "chin": 152, "right cheek": 205, "left cheek": 425}
    centroids = mesh.vertices[mesh.triangles].mean(axis=1)
    names = list(anchors)
    pts = mesh.vertices[[anchors[n] for n in names]]
    nearest = np.argmin(((centroids[:, None, :] - pts[None]) ** 2).sum(-1), axis=1)
    return {n: np.flatnonzero(nearest == k) for k, n in enumerate(names)}


def canonical_values(mesh, vertex=NOSE_TIP, sigma_cm=2.0) -> np.ndarray:
    """Per-vertex Gaussian of the 3-D distance to one canonical vertex."""
    d2 = ((mesh.vertices - mesh.vertices[vertex]) ** 2).sum(1)
    return np.exp(-d2 / (2 * sigma_cm ** 2)).astype(np.float32)
