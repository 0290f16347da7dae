"""Detection and the 478-point mesh on real photos, including an assembled group photo."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import facewidget as fw
from facewidget.faces.detect import pose_from_matrix

from .conftest import PORTRAITS

# Mesh indices used for plausibility: eye centres (iris), nose tip, mouth centre (upper/lower lip).
IRIS_R, IRIS_L, NOSE_TIP, LIP_UP, LIP_LOW = 468, 473, 1, 13, 14


@pytest.mark.parametrize("name", PORTRAITS + ["obama_partial_face", "obama_partial_face2"])
def test_one_plausible_face_per_portrait(name, sample_faces, sample_images):
    faces = sample_faces[name]
    assert len(faces) == 1, f"{name}: {[f.box for f in faces]}"
    f = faces[0]
    h, w = sample_images[name].shape[:2]
    assert f.landmarks.shape == (478, 3) and f.landmarks.dtype == np.float32
    assert f.image_size == (h, w)
    lm = f.landmarks
    mouth_y = (lm[LIP_UP, 1] + lm[LIP_LOW, 1]) / 2
    assert lm[IRIS_R, 1] < lm[NOSE_TIP, 1] and lm[IRIS_L, 1] < lm[NOSE_TIP, 1]  # eyes above the nose tip
    assert lm[NOSE_TIP, 1] < mouth_y                                              # nose above the mouth
    assert lm[IRIS_R, 0] < lm[IRIS_L, 0]            # subject's right eye on the image's left
    x0, y0, x1, y1 = f.box
    assert (lm[:, 0] >= x0 - 1e-3).all() and (lm[:, 0] <= x1 + 1e-3).all()
    assert (lm[:, 1] >= y0 - 1e-3).all() and (lm[:, 1] <= y1 + 1e-3).all()
    assert 0.5 <= f.score <= 1.0
    assert all(abs(a) < 30 for a in f.pose)          # the sample portraits are near frontal
    assert f.width > 80


def test_pose_from_matrix_recovers_angles():
    def rot(yaw, pitch, roll):
        y, p, r = np.radians([yaw, pitch, roll])
        rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
        m = np.eye(4)
        m[:3, :3] = 1.7 * rz @ ry @ rx  # with a uniform scale, which must be ignored
        return m

    yaw, pitch, roll = pose_from_matrix(rot(20, -10, 5))
    assert yaw == pytest.approx(20, abs=1e-6) and pitch == pytest.approx(-10, abs=1e-6)
    assert roll == pytest.approx(-5, abs=1e-6)


def test_pose_sign_follows_the_head(sample_images):
    """Mirroring a photo turns the head the other way: yaw and roll change sign, pitch stays."""
    img = sample_images["obama2"]
    f = fw.detect_face(img)
    g = fw.detect_face(np.ascontiguousarray(img[:, ::-1]))
    assert abs(f.yaw) > 5
    assert np.sign(f.yaw) == -np.sign(g.yaw) and abs(f.yaw + g.yaw) < 4
    assert abs(f.roll + g.roll) < 4 and abs(f.pitch - g.pitch) < 4


def _face_crop(img, face, margin=0.45):
    x0, y0, x1, y1 = face.box
    m = margin * max(x1 - x0, y1 - y0)
    X0, Y0 = int(max(0, x0 - m)), int(max(0, y0 - m))
    X1, Y1 = int(min(img.shape[1], x1 + m)), int(min(img.shape[0], y1 + m))
    return img[Y0:Y1, X0:X1], (x1 - x0) / (X1 - X0)


def test_group_photo_every_face_found_none_invented(sample_images, sample_faces):
    """Faces pasted at several scales, down to 40 px wide, on a textured background."""
    rng = np.random.default_rng(1)
    canvas = (rng.normal(120, 25, size=(900, 1400, 3)).clip(0, 255)).astype(np.uint8)
    layout = [("obama", 260, (60, 80)), ("biden", 170, (420, 120)), ("astronaut", 120, (700, 420)),
              ("obama2", 90, (980, 150)), ("obama3", 64, (1200, 600)), ("astronaut", 48, (300, 700)),
              ("biden", 40, (560, 760)), ("obama", 40, (1250, 90))]
    truth = []
    for name, face_width, (x, y) in layout:
        crop, frac = _face_crop(sample_images[name], sample_faces[name][0])
        side = face_width / frac
        scale = side / crop.shape[1]
        small = np.asarray(Image.fromarray(crop).resize((int(crop.shape[1] * scale), int(crop.shape[0] * scale)),
                                                        Image.LANCZOS))
        h, w = small.shape[:2]
        canvas[y:y + h, x:x + w] = small
        truth.append((x + w / 2, y + h / 2, face_width))
    found = fw.detect_faces(canvas)
    assert len(found) == len(truth), [tuple(round(v) for v in f.box) for f in found]
    for cx, cy, fwid in truth:
        dists = [np.hypot(f.center[0] - cx, f.center[1] - cy) for f in found]
        best = found[int(np.argmin(dists))]
        assert min(dists) < 0.5 * fwid
        assert 0.6 * fwid < best.width < 1.6 * fwid
    areas = [f.width * f.height for f in found]
    assert areas == sorted(areas, reverse=True)  # largest first
    assert len(fw.detect_faces(canvas, max_faces=3)) == 3


def test_no_face_error_names_the_image_size():
    blank = np.full((240, 320, 3), 200, np.uint8)
    assert fw.detect_faces(blank) == []
    with pytest.raises(fw.NoFaceError, match="320×240"):
        fw.detect_face(blank)


def test_detect_faces_rejects_bad_input():
    with pytest.raises(fw.UnreadableImageError):
        fw.detect_faces(b"garbage")


def test_detectors_are_shared_per_configuration(sample_images):
    """A non-default min_face_size reuses one detector instead of rebuilding MediaPipe tasks per call."""
    from facewidget.faces.detect import DetectorConfig, default_detector

    img = sample_images["astronaut"]
    first = fw.detect_faces(img, min_face_size=80)
    assert len(first) == 1 and first[0].width > 80
    assert default_detector(DetectorConfig(min_face_size=80)) is default_detector(DetectorConfig(min_face_size=80))
    assert default_detector(DetectorConfig(min_face_size=80)) is not default_detector()
    assert np.allclose(fw.detect_faces(img, min_face_size=80)[0].landmarks, first[0].landmarks)


def test_exit_is_quiet_with_two_detector_configurations(tmp_path):
    """MediaPipe tasks close before concurrent.futures stops its executors: no traceback at exit."""
    import subprocess
    import sys

    script = tmp_path / "two_configs.py"
    script.write_text("import facewidget as fw\n"
                      "img = fw.data.sample('obama')\n"
                      "assert fw.detect_faces(img) and fw.detect_faces(img, min_face_size=80)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "GLOG_minloglevel": "2"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cannot schedule new futures" not in done.stderr
    assert "Traceback" not in done.stderr
