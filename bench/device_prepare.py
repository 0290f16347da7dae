"""Prepare what ``bench/device.sh`` needs on the bare GPU machine, here (where pip and MediaPipe work).

The device machine has Python 3.12 with torch, numpy, scipy, pytest, hypothesis, onnxruntime and
pillow, but no MediaPipe, dlib-bin or platformdirs, and no network. This script writes
``.device/`` (git-ignored, about 40 MB; carry it):

- ``cache/``: the assets the GPU checks read (dlib ResNet, dlib 5-point predictor, sample photos),
  laid out as facewidget's cache (``FACEWIDGET_CACHE`` points there on the device);
- ``faces.pkl``: the faces MediaPipe finds in every sample photo, keyed by the photo's sha256, which
  ``bench/device_site/sitecustomize.py`` serves to ``detect_faces`` when MediaPipe is missing;
- ``wheels/``: dlib-bin (bench/models.py's reference) for CPython 3.12, downloaded as a wheel.

Usage: python bench/device_prepare.py            then run bench/device.sh there with carry=[".device"].
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import facewidget as fw  # noqa: E402
from facewidget.data import MODEL_ASSETS, SAMPLES  # noqa: E402

OUT = ROOT / ".device"
WHEELS = ["dlib-bin==20.0.1.post1"]


def main() -> None:
    cache = OUT / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for asset in [MODEL_ASSETS["dlib-resnet"], MODEL_ASSETS["dlib-shape-5"], *SAMPLES.values()]:
        dest = cache / asset.cache_path.relative_to(fw.data.cache_dir())
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(asset.path(), dest)
    faces = {}
    for name in SAMPLES:
        img = fw.data.sample(name)
        faces[hashlib.sha256(img.tobytes()).hexdigest()] = fw.detect_faces(img)
    with open(OUT / "faces.pkl", "wb") as fh:
        pickle.dump(faces, fh)
    wheels = OUT / "wheels"
    wheels.mkdir(exist_ok=True)
    if not any(wheels.glob("dlib_bin-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                        "-d", str(wheels), *WHEELS], check=True)
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{OUT}: {size / 2**20:.1f} MiB (the device carries at most 64 MiB with the working tree)")


if __name__ == "__main__":
    os.environ.setdefault("GLOG_minloglevel", "2")
    main()
