"""Canonical saliency maps: projection throughput and end-to-end model-map throughput on CPU.

Run: ``python bench/canonical.py [--n 200] [--images 2]``. Prints one table; ratios are measured
side by side in this run. Goal: >= 200 projections/s at 256×256 on CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def rate(fn, n: int, rounds: int = 5) -> float:
    """Calls per second: the best of ``rounds`` rounds of n/rounds calls (the CPU is shared, so the
    best round is the least disturbed one; the median is printed too)."""
    fn()  # warm (atlas cache, allocations)
    per = max(1, n // rounds)
    rates = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(per):
            fn()
        rates.append(per / (time.perf_counter() - t))
    rate.last_median = float(np.median(rates))
    return max(rates)


def resnet_model():
    """A ResNet-18-sized classifier (random weights, fixed seed) at dlib's 150×150 chip: the cost of a
    real face model, without needing one installed."""
    import torchvision

    from facewidget.models.base import FaceModel

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=2)
    cfg = {"name": "resnet18-random", "task": "classification", "input_size": (150, 150), "template": "dlib-5",
           "classes": ("a", "b")}
    return FaceModel.from_module(net, cfg, device="cpu", batch_size=64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200, help="projections per measurement")
    ap.add_argument("--images", type=int, default=2, help="images for the CIS model map")
    args = ap.parse_args()

    import facewidget as fw
    from facewidget.canonical import model_map, project, uv_atlas

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    img = fw.data.sample("obama")
    t = time.perf_counter()
    face = fw.detect_face(img)
    detect_s = time.perf_counter() - t
    photo_map = np.random.default_rng(0).random(img.shape[:2]).astype(np.float32)

    rows = []
    for res in (128, 256, 512):
        t = time.perf_counter()
        uv_atlas(res)
        atlas_s = time.perf_counter() - t
        r = rate(lambda: project(photo_map, face, resolution=res), args.n)
        rows.append((f"project {res}x{res} ({img.shape[1]}x{img.shape[0]} photo)", r, "maps/s",
                     f"median {rate.last_median:.0f}; atlas built once in {atlas_s * 1000:.0f} ms"))
    cmap = project(photo_map, face)
    rows.append(("translate 256 → photo", rate(lambda: cmap.translate(face), 10), "maps/s",
                 f"median {rate.last_median:.1f}"))
    rows.append(("region_scores 256", rate(cmap.region_scores, 50), "calls/s", f"median {rate.last_median:.0f}"))

    def luminance(image, f, model, target):
        return image.astype(np.float32).mean(2) / 255.0

    items = [(img, face)] * 20
    t = time.perf_counter()
    model_map(items, method=luminance, resolution=256)
    rows.append(("model map, photo-space method (map + projection + Welford)", 20 / (time.perf_counter() - t),
                 "images/s", "one run"))

    model = resnet_model()
    items = [(img, face)] * args.images
    t = time.perf_counter()
    model_map(items, model, None, method="cis", resolution=256)
    cis_rate = args.images / (time.perf_counter() - t)
    rows.append(("model map, CIS on ResNet-18 150x150 (468 occlusions/image)", cis_rate, "images/s", "one run"))
    rows.append(("  = forward passes", cis_rate * 469, "chips/s", "one run"))
    from facewidget.canonical import vertex_subset

    t = time.perf_counter()
    model_map(items, model, None, method="cis", resolution=256, vertices=vertex_subset(120))
    sub_rate = args.images / (time.perf_counter() - t)
    rows.append(("model map, CIS with vertex_subset(120) + harmonic fill", sub_rate, "images/s",
                 f"one run; {sub_rate / cis_rate:.1f}x all 468 vertices"))

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (rates: best of 5 rounds)")
    print(f"{'measurement':62s} {'rate':>10s}  unit       notes")
    for name, r, unit, note in rows:
        print(f"{name:62s} {r:10.3g}  {unit:9s}  {note}")
    p256 = rows[1][1]
    print(f"\nprojection at 256: {p256:.0f} maps/s = {p256 / 200:.2f}x the 200 maps/s goal; "
          f"512 is {rows[2][1] / p256:.2f}x and 128 is {rows[0][1] / p256:.2f}x the 256 rate; "
          f"face detection (not included above) took {detect_s:.2f} s")


if __name__ == "__main__":
    main()
