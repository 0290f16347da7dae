"""Data-set runs: in-process (1 thread) vs client="local" (one worker per core × 1 thread), face index
reuse, driver memory vs data-set size, and a projection to more workers.

    python bench/runs.py            # >= 500 augmented images (long on 2 cores)
    python bench/runs.py --quick    # a few dozen images: the same measurements, smaller

Prints, measured side by side in one run:
* images/s of a photo-space canonical model map (Grad-CAM) and of AMVA (Score-CAM), in-process with
  one torch thread vs a LocalCluster (goal: >= 1.7x on 2 cores);
* a model map's second run (faces from the face index) vs its first run (detection included);
  goal >= 5x for a map that costs less than detection (a projected map), also shown for Grad-CAM;
* peak driver memory (RSS) of a model map over a small and a 10x larger data set (goal: within 50 MB);
* per-partition timings and the projected speed-up at 8 / 32 / 128 workers from the measured serial share.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def gradcam_map(image, face, model, target):
    """Photo-space Grad-CAM of the predicted class (the 'Grad-CAM class' model map)."""
    import facewidget as fw

    return fw.explain(image, model, method="gradcam", face=face).face


def projected_luminance(image, face, model, target):
    """A map cheaper than detection: the photo's brightness (only projection costs)."""
    return image.astype(np.float32).mean(2) / 255.0


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def memory_child(folder: str, n: int) -> None:
    """Run in a subprocess: a model map over the first n images of folder; print peak RSS (MB)."""
    import warnings

    import facewidget as fw
    from facewidget.canonical import model_map
    paths = sorted(Path(folder).glob("img*.png"))[:n]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_map(paths, fw.load_model("dlib-gender", device="cpu"), method=projected_luminance, resolution=64,
                  partition_size=16)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "peak_mb": peak, "before_run_mb": base}))


def projection(serial_s: float, parallel_s: float, workers=(1, 2, 8, 32, 128)) -> dict:
    """Amdahl: time(w) = serial + parallel / w; speed-up against one worker."""
    one = serial_s + parallel_s
    return {w: one / (serial_s + parallel_s / w) for w in workers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few dozen images instead of >= 500")
    ap.add_argument("--n", type=int, default=None, help="images (default 500, quick 48)")
    ap.add_argument("--memory", nargs=2, type=int, default=None, help="small and large set sizes for the memory test")
    args = ap.parse_args()
    n = args.n or (64 if args.quick else 500)
    small, large = args.memory or ((60, 600) if args.quick else (200, 2000))
    part = 8 if args.quick else 16
    os.environ.setdefault("GLOG_minloglevel", "2")

    import warnings

    import torch

    import facewidget as fw
    from facewidget.canonical import model_map
    from facewidget.datasets import face_index
    from facewidget.quality import analyze
    from facewidget.runs import local_client
    from facewidget.runs.core import one_thread_per_process
    from facewidget.runs.augment import augmented_dataset

    warnings.simplefilter("ignore")
    one_thread_per_process()  # the in-process baseline is one thread: torch, BLAS and OpenCV alike
    tmp = Path(tempfile.mkdtemp(prefix="fw-bench-runs-"))
    paths, t_write = _timed(lambda: augmented_dataset(tmp / "set", n, seed=0, max_side=224, bad=False))
    print(f"{n} augmented images written in {t_write:.1f} s ({tmp / 'set'})")
    gender = fw.load_model("dlib-gender", device="cpu")
    resnet = fw.load_model("dlib-resnet", device="cpu")

    # -- face index: first run (detects) vs second run (reuses) --------------------------------
    first_cheap, t1_cheap = _timed(lambda: model_map(paths, gender, method=projected_luminance, resolution=64,
                                                     partition_size=part))
    second_cheap, t2_cheap = _timed(lambda: model_map(paths, gender, method=projected_luminance, resolution=64,
                                                      partition_size=part))
    print("\n== face index: model map, first run (detection) vs second run (index)")
    print(f"projected map : first {t1_cheap:7.1f} s  second {t2_cheap:7.1f} s  ratio {t1_cheap / t2_cheap:5.2f}x "
          f"(goal >= 5x)")

    # -- in-process vs LocalCluster ------------------------------------------------------------
    grad_in, t_grad_in = _timed(lambda: model_map(paths, gender, method=gradcam_map, resolution=64,
                                                  partition_size=part))
    amva_kw = dict(fiqa=["sharpness"], model=resnet, quantile=0.25, maps="scorecam", channels=8, missing="skip",
                   bins=20, keep_images=False)
    amva_in, t_amva_in = _timed(lambda: analyze(paths, partition_size=part, **amva_kw))
    client, t_start = _timed(lambda: local_client())
    try:
        workers = len(client.scheduler_info()["workers"])
        # warm-up, reported apart: each worker imports torch and facewidget and loads both models once
        _, t_warm = _timed(lambda: (model_map(paths[:workers * 2], gender, method=gradcam_map, resolution=64,
                                              partition_size=1, client=client),
                                    analyze(paths[:8], partition_size=1, client=client,
                                            **{**amva_kw, "quantile": 0.25})))
        grad_dk, t_grad_dk = _timed(lambda: model_map(paths, gender, method=gradcam_map, resolution=64,
                                                      partition_size=part, client=client))
        amva_dk, t_amva_dk = _timed(lambda: analyze(paths, partition_size=part, client=client, **amva_kw))
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    n_maps = amva_in.manifest["runs"]["maps"]["n_items"]
    print(f"\n== in-process (1 thread) vs client='local' ({workers} workers x 1 thread; cluster start "
          f"{t_start:.1f} s and worker warm-up {t_warm:.1f} s, not counted)")
    print(f"model map, Grad-CAM : {n / t_grad_in:6.2f} vs {n / t_grad_dk:6.2f} images/s   "
          f"ratio {t_grad_in / t_grad_dk:4.2f}x (goal >= 1.7x)")
    print(f"AMVA, Score-CAM     : {n / t_amva_in:6.2f} vs {n / t_amva_dk:6.2f} images/s   "
          f"ratio {t_amva_in / t_amva_dk:4.2f}x (goal >= 1.7x; {n_maps} images scored and mapped)")
    _, t_grad2 = _timed(lambda: model_map(paths, gender, method=gradcam_map, resolution=64, partition_size=part))
    print(f"Grad-CAM model map with the index vs first projected run: first-run detection share "
          f"{(t1_cheap - t2_cheap) / (t1_cheap - t2_cheap + t_grad2):.0%} of a first Grad-CAM run")

    # -- per-partition timings and projection --------------------------------------------------
    run_info = grad_in.metadata["run"]
    secs = np.asarray(run_info["partition_seconds"])
    parallel = float(secs.sum())
    serial = max(t_grad_in - parallel, 0.0)
    print(f"\n== per-partition timings (Grad-CAM model map, in-process, {len(secs)} partitions of {part})")
    print(f"partition s: mean {secs.mean():.2f}  min {secs.min():.2f}  max {secs.max():.2f}; "
          f"serial (plan, index read, merge, reduce) {serial:.2f} s = {serial / t_grad_in:.1%} of {t_grad_in:.1f} s")
    for w, s in projection(serial, parallel).items():
        print(f"  projected {w:4d} workers: {s:6.1f}x")
    print(f"  measured    {workers} workers: {t_grad_in / t_grad_dk:6.1f}x")

    # -- peak driver memory vs data-set size ---------------------------------------------------
    mem_dir = tmp / "mem"
    face_index(augmented_dataset(mem_dir, large, seed=1, max_side=160, bad=False))  # detected here, once
    rows = []
    for k in (small, large):
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(mem_dir), str(k)], check=True,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    d = rows[1]["peak_mb"] - rows[0]["peak_mb"]
    print(f"\n== peak driver memory (model map; index built before the measured run)")
    print(f"{small} images: {rows[0]['peak_mb']:.0f} MB   {large} images: {rows[1]['peak_mb']:.0f} MB   "
          f"difference {d:+.0f} MB (goal within 50 MB)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
