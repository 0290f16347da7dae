"""On the GPU machine (no MediaPipe there): ``detect_faces`` answers from faces found beforehand.

``bench/device_prepare.py`` ran MediaPipe on every sample photo where it is installed and stored
the faces by the photo's sha256 in ``.device/faces.pkl``. This module is imported at start-up
(``bench/device.sh`` puts its folder on PYTHONPATH) and, only when MediaPipe cannot be imported,
makes ``facewidget.faces.detect.FaceDetector.__call__`` look the photo up there. A photo that was
not prepared raises, so no check runs on made-up faces.
"""

import os


def _mediapipe_missing() -> bool:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        return True
    return False


if os.environ.get("FACEWIDGET_DEVICE_FACES") and _mediapipe_missing():
    import hashlib
    import pickle

    import facewidget.faces.detect as _detect
    from facewidget.io import load_image

    with open(os.environ["FACEWIDGET_DEVICE_FACES"], "rb") as _fh:
        _FACES = pickle.load(_fh)  # written by bench/device_prepare.py on the developer's machine

    def _lookup(self, image, max_faces=None):
        img = load_image(image)
        key = hashlib.sha256(img.tobytes()).hexdigest()
        if key not in _FACES:
            raise RuntimeError("device run: this photo's faces were not prepared (bench/device_prepare.py)")
        faces = _FACES[key]
        return faces[:max_faces] if max_faces is not None else list(faces)

    _detect.FaceDetector.__init__ = lambda self, landmarker=None, config=None: None  # no bundle needed
    _detect.FaceDetector.__call__ = _lookup
    _detect.FaceDetector.close = lambda self: None
