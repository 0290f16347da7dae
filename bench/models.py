"""Embeddings per second: our torch port of dlib's face ResNet vs dlib-bin itself.

Run: ``python bench/models.py [--repeats N]``. Both run side by side in one process on the same
150×150 chips (dlib's own chips of the sample photos, tiled to the batch size), batch 1 and 32,
on the CPU (and CUDA for our port when present). Prints embeddings/s and the ratio ours/dlib.
dlib-bin is a test-only dependency; this script needs it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _dlib_chips(n: int) -> list[np.ndarray]:
    import dlib

    from facewidget import data
    from facewidget.data import MODEL_ASSETS

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(MODEL_ASSETS["dlib-shape-5"].path()))
    chips = []
    for name in ("obama", "obama2", "obama3", "biden", "astronaut"):
        img = data.sample(name)
        shape = predictor(img, max(detector(img, 0), key=lambda r: r.area()))
        chips.append(dlib.get_face_chip(img, shape, size=150, padding=0.25))
    return [chips[i % len(chips)] for i in range(n)]


def _rates(fns, n_items: int, repeats: int) -> list[float]:
    """Items/s of each function, best of ``repeats``; runs interleave so load swings hit all alike."""
    for fn in fns:
        fn()  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [n_items / b for b in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (best is kept)")
    args = parser.parse_args()

    import dlib

    import facewidget as fw
    from facewidget.data import MODEL_ASSETS

    recogniser = dlib.face_recognition_model_v1(str(MODEL_ASSETS["dlib-resnet"].path()))
    chips_np = _dlib_chips(32)
    chips = torch.from_numpy(np.stack(chips_np)).permute(0, 3, 1, 2).float() / 255.0
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"dlib {dlib.__version__}, cpu cores {os.cpu_count()}")
    default_threads = torch.get_num_threads()
    print(f"{'batch':>5} {'device':>6} {'threads':>7} {'ours emb/s':>11} {'dlib emb/s':>11} {'ratio':>7}")
    for batch in (1, 32):
        dlib_batch = chips_np[:batch]
        if batch == 1:
            def run_dlib():
                return recogniser.compute_face_descriptor(dlib_batch[0])
        else:
            def run_dlib():
                return recogniser.compute_face_descriptor(dlib_batch)
        # dlib's CPU network runs on one thread: compare with torch on one thread and on all of them.
        cases = [("cpu", 1)] + ([("cpu", default_threads)] if default_threads > 1 else [])
        cases += [("cuda", default_threads)] if "cuda" in devices else []
        for device, threads in cases:
            torch.set_num_threads(threads)
            model = fw.load_model("dlib-resnet", device=device)
            x = model.preprocess(chips[:batch].to(device))

            def run_ours():
                with torch.inference_mode():
                    out = model.network(x)
                if device == "cuda":
                    torch.cuda.synchronize()
                return out

            ours, dlib_rate = _rates([run_ours, run_dlib], batch, args.repeats)
            print(f"{batch:>5} {device:>6} {threads:>7} {ours:>11.1f} {dlib_rate:>11.1f} {ours / dlib_rate:>6.1f}x")
        torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
