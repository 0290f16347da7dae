"""Pipeline speed on CPU: load + detect + landmarks (images/s) and batched alignment (chips/s).

Side by side in one run:
- facewidget.detect_faces (window pyramid + per-face mesh, finds faces down to 40 px) against
  MediaPipe's FaceLandmarker on the whole image (fast, but misses faces smaller than ~1/5 of the image);
- batched alignment (one grid_sample for many faces) against aligning the same faces one by one.
"""

from __future__ import annotations

import io
import os
import time

os.environ.setdefault("GLOG_minloglevel", "2")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

import facewidget as fw  # noqa: E402
from facewidget.align import ARCFACE_112, DLIB_5  # noqa: E402


def timed(fn, repeat):
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main():
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    names = ["obama", "obama2", "biden", "astronaut"]
    encoded = {}
    for n in names:
        buf = io.BytesIO()
        Image.fromarray(fw.data.sample(n)).save(buf, format="JPEG", quality=92)
        encoded[n] = buf.getvalue()
    detector = fw.FaceDetector()

    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    plain = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(detector.bundle_path)), num_faces=10))

    def ours():
        for data in encoded.values():
            detector(fw.load_image(data))

    def baseline():
        for data in encoded.values():
            img = fw.load_image(data)
            plain.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=img))

    t_ours, t_base = timed(ours, 3), timed(baseline, 3)
    n = len(encoded)
    print(f"load+detect+landmarks  facewidget: {n / t_ours:6.2f} images/s   "
          f"MediaPipe whole-image landmarker: {n / t_base:6.2f} images/s   ratio {t_base / t_ours:.2f}x "
          f"(sizes {', '.join(f'{fw.load_image(d).shape[1]}x{fw.load_image(d).shape[0]}' for d in encoded.values())})")
    plain.close()

    img = fw.data.sample("obama")
    face = detector(img)[0]
    for template, batch in ((ARCFACE_112, 64), (DLIB_5, 64)):
        faces = [face] * batch
        t_batch = timed(lambda: fw.align_faces(img, faces, template, device="cpu"), 3)
        t_loop = timed(lambda: [fw.align_faces(img, f, template, device="cpu") for f in faces], 1)
        print(f"alignment {template.name:12s} batch {batch}: {batch / t_batch:8.1f} chips/s batched   "
              f"{batch / t_loop:8.1f} chips/s one by one   ratio {t_loop / t_batch:.2f}x")
    detector.close()


if __name__ == "__main__":
    main()
