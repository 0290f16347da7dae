"""FIQA speed on CPU: images/s for every built-in FIQA method, activation maps and streaming statistics.

Side by side in one run, on the same aligned faces (real sample photos, clean and degraded):
- each FIQA method's scores (images/s; chips are aligned once beforehand and shared);
- activation maps: Grad-CAM vs Score-CAM with a 16-channel subset vs full Score-CAM (128 channels of
  dlib-resnet's default layer), images/s;
- streaming per-pixel statistics (StreamingMapStats: Chan moments + 100-bin histograms) against numpy
  on the stacked maps (mean, std, median), maps/s.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import facewidget as fw  # noqa: E402
from facewidget.quality import (DegradationGenerator, StreamingMapStats, activation_maps, as_face_batch,  # noqa: E402
                                get_fiqa)


def rate(fn, n, repeat=1):
    fn()  # warm-up (lazy imports, thread pools)
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return n * repeat / (time.perf_counter() - t)


def main():
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    names = ["obama", "obama2", "biden", "astronaut"]
    items = DegradationGenerator(seed=0, kinds=["blur", "noise", "low_light"], severity=1.0).build(
        {n: fw.data.sample(n) for n in names})
    batch = as_face_batch(items)
    model = fw.load_model("dlib-resnet", device="cpu")
    t = time.perf_counter()
    batch.chips_for(model)
    n = len(batch)
    print(f"{n} faces ({len(names)} photos, clean + blur/noise/low light); aligned in {time.perf_counter() - t:.2f} s "
          f"on {torch.get_num_threads()} threads\n")

    print("FIQA scores (images/s)")
    results = {}
    for name in ["sharpness", "exposure", "dynamic-range", "brisque", "pose", "inter-eye-distance", "eyes-open",
                 "mouth-closed", "embedding-norm", "ser-fiq"]:
        method = get_fiqa(name, model=model) if name in ("ser-fiq", "embedding-norm") else get_fiqa(name)
        results[name] = rate(lambda m=method: m(batch), n)
        print(f"  {name:20s} {results[name]:10.1f}")
    print(f"  ser-fiq / embedding-norm: {results['ser-fiq'] / results['embedding-norm']:.2f}x "
          "(100 dropout passes of the head vs one forward)\n")

    print("activation maps (images/s, dlib-resnet 150x150, layer blocks.9.conv2, 128 channels)")
    k = min(n, 8)
    sub = batch.subset(range(k))
    grad = rate(lambda: activation_maps(sub, model, "gradcam"), k)
    score16 = rate(lambda: activation_maps(sub.subset([0, 1]), model, "scorecam", channels=16), 2)
    score_full = rate(lambda: activation_maps(sub.subset([0]), model, "scorecam"), 1)
    print(f"  gradcam              {grad:10.2f}")
    print(f"  scorecam (16 ch)     {score16:10.2f}   ({grad / score16:.1f}x slower than gradcam)")
    print(f"  scorecam (128 ch)    {score_full:10.2f}   ({grad / score_full:.1f}x slower than gradcam)\n")

    print("streaming statistics (maps/s, 150x150 maps in [0, 1], batches of 16)")
    rng = np.random.default_rng(0)
    maps = rng.beta(2, 5, (256, 150, 150)).astype(np.float32)

    def streaming():
        acc = StreamingMapStats((150, 150), bins=100)
        for i in range(0, len(maps), 16):
            acc.update(maps[i:i + 16])
        return acc.mean, acc.std, acc.median, acc.robust_std

    def numpy_batch():
        x = maps.astype(np.float64)
        return x.mean(0), x.std(0), np.median(x, 0), np.quantile(x, [0.25, 0.75], axis=0)

    s_rate, b_rate = rate(streaming, len(maps)), rate(numpy_batch, len(maps))
    print(f"  streaming (O(h·w·bins) memory)   {s_rate:10.1f}")
    print(f"  numpy on the stacked maps        {b_rate:10.1f}   (streaming / numpy: {s_rate / b_rate:.2f}x; numpy "
          "needs all maps in memory)")


if __name__ == "__main__":
    main()
