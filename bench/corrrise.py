"""CorrRISE benchmark: engine overhead, memory vs N, first-progress latency, speed vs xaitk-saliency.

Prints, measured side by side in one run (goals from issue 4):

1. wall time / forward-only time for N = 1000 and 4000 masks (goal <= 1.10). Forward-only = the
   same number of chips in the same batch shapes through ``model.infer`` (the runtime the engine
   uses: ONNX Runtime on CPU, see facewidget/models/runtime.py), nothing else; wall = the whole
   CorrRISE pair explanation at chip level (masks, forwards, running sums). The same forwards in
   eager torch (``model.forward_chips``) are timed too: their ratio is the runtime's gain.
2. peak memory growth during a run at N = 1000 and N = 8000 (goal: within 50 MB of each other).
   CPU: peak RSS sampled at every batch, in a process whose glibc mmap threshold is fixed (so freed
   batch buffers go back to the OS and RSS measures live memory); CUDA: max_memory_allocated.
3. time from calling ``explain_pair`` (faces given, alignment included) to the first progress
   callback (goal <= 1 s on CPU).
4. speed vs xaitk-saliency's similarity saliency with RISE masks (PerturbationOcclusion + RISEGrid
   + SimilarityScoring, the same model, image and N, one direction: image A against B's embedding)
   (goal >= 3x faster). xaitk gets the torch model as a user hands it over (its black box calls
   ``model.forward_chips``, eager torch); a second line hands it facewidget's own fast forward
   (``model.infer``), which isolates what the engine itself saves.

Model: dlib's ResNet (``facewidget.load_model("dlib-resnet")``) when this checkout has it, else a
comparable randomly initialised ResNet (dlib's layout: 150x150 input, 32-64-128-256 channels,
128-D embedding); the first line says which.

Usage: python bench/corrrise.py [--quick | --scale K]   (divide every N by 10 / by K)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

# Point 2 runs in its own process with a fixed glibc mmap threshold, so freed batch buffers go back
# to the OS and RSS measures live memory. Only there: the page faults it causes slow every forward
# pass (both tools alike, but absolute times would be off), so points 1, 3 and 4 run without it.
MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import facewidget as fw  # noqa: E402
from facewidget.explainers import corrrise  # noqa: E402
from facewidget.explainers.engine import MASK_BLOCK  # noqa: E402
from facewidget.explainers.targets import SimilarityTarget  # noqa: E402
from facewidget.models import FaceModel  # noqa: E402


class _Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class DlibLikeResNet(nn.Module):
    """dlib's face ResNet layout (stem 7x7/2 32, pool, stages 32x3, 64x4, 128x3, 256x3 + 256, fc 128)."""

    def __init__(self):
        super().__init__()
        layers = [nn.Conv2d(3, 32, 7, 2, 0, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(3, 2)]
        cin = 32
        for cout, blocks in ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1)):
            for i in range(blocks):
                layers.append(_Block(cin, cout, 2 if (i == 0 and cout != 32 and (cout != cin or blocks == 1)) else 1))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(256, 128, bias=False)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def load_bench_model():
    loader = getattr(fw, "load_model", None) or getattr(fw.models, "load_model", None)
    if loader is not None:
        return loader("dlib-resnet"), "dlib-resnet (real weights via facewidget.load_model)"
    torch.manual_seed(0)
    net = DlibLikeResNet()
    cfg = dict(name="dlib-like-resnet-random", input_size=(150, 150), template="dlib-5", padding=0.25,
               mean=(122.782, 117.001, 104.298), std=(256.0, 256.0, 256.0), embedding_size=128,
               similarity="euclidean", threshold=0.6)
    params = sum(p.numel() for p in net.parameters())
    return FaceModel.from_module(net, cfg), (f"comparable conv net: DlibLikeResNet, random weights, 150x150, "
                                             f"{params / 1e6:.1f} M parameters (facewidget.load_model is not "
                                             f"on this branch)")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def forward_only(model, chips: torch.Tensor, n: int, batch: int, runtime: str = "infer") -> float:
    """Seconds for the forwards CorrRISE makes for n masks over len(chips) images, nothing else.

    ``runtime="infer"``: through ``model.infer`` (what the engine calls: onnxruntime on CPU);
    ``"torch"``: through ``model.forward_chips`` (eager torch)."""
    sizes = [MASK_BLOCK] + [batch] * ((n - MASK_BLOCK) // batch)
    if sum(sizes) < n:
        sizes.append(n - sum(sizes))
    inputs = {s: chips.repeat_interleave(s, 0).contiguous() for s in set(sizes)}
    forward = model.infer if runtime == "infer" else model.forward_chips
    t = time.perf_counter()
    with torch.no_grad():
        for s in sizes:
            forward(inputs[s])
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def run_corrrise(model, chips, targets, n, **kw):
    t = time.perf_counter()
    res = corrrise.compute(model, chips, targets, n=n, **kw)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t, res


def xaitk_rise(model, chip_a: torch.Tensor, chip_b: torch.Tensor, n: int, batch: int, forward=None, seed: int = 0):
    """xaitk-saliency's similarity saliency with RISE masks, same model (batched forwards).

    ``forward``: what the black box calls on a float batch (default ``model.forward_chips``: the
    torch model as a user hands it over)."""
    forward = forward or model.forward_chips
    from smqtk_descriptors.interfaces.image_descriptor_generator import ImageDescriptorGenerator
    from xaitk_saliency.impls.gen_descriptor_sim_sal.similarity_scoring import SimilarityScoring
    from xaitk_saliency.impls.gen_image_similarity_blackbox_sal.occlusion_based import PerturbationOcclusion
    from xaitk_saliency.impls.perturb_image.rise import RISEGrid

    class Blackbox(ImageDescriptorGenerator):
        def generate_arrays_from_images(self, img_mat_iter):
            buf = []
            for img in img_mat_iter:
                buf.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255)
                if len(buf) == batch:
                    yield from self._run(buf)
                    buf = []
            if buf:
                yield from self._run(buf)

        def _run(self, buf):
            with torch.no_grad():
                return list(forward(torch.stack(buf).to(model.device)).float().cpu().numpy())

        def get_config(self):
            return {}

    to_img = lambda c: (c.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    algo = PerturbationOcclusion(RISEGrid(n=n, s=7, p1=0.5, seed=seed, threads=0), SimilarityScoring("euclidean"),
                                 threads=0)
    t = time.perf_counter()
    sal = algo.generate(to_img(chip_a), [to_img(chip_b)], Blackbox())
    return time.perf_counter() - t, sal


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="N / 10 (smoke run)")
    ap.add_argument("--scale", type=int, default=1, help="divide every N by this (slow CPUs)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of point 1 (min is kept)")
    ap.add_argument("--only", type=int, default=0, help="run only point 1..4")
    ap.add_argument("--quiet-header", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only == 2 and sys.platform.startswith("linux") and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MEMORY_ENV})
    scale = 10 if args.quick else max(1, args.scale)
    if scale != 1 and not args.quiet_header:
        print(f"NOTE: every N below is divided by {scale}; the goals are stated for the full N")
    model, description = load_bench_model()
    if not args.quiet_header:
        print(f"model: {description}; gradient-free forwards run in {model.runtime_in_use}")
        print(f"device: {model.device}, torch threads: {torch.get_num_threads()}, facewidget {fw.__version__}, "
          f"torch {torch.__version__}")
    img_a, img_b = fw.data.sample("obama"), fw.data.sample("obama2")
    face_a, face_b = fw.detect_face(img_a), fw.detect_face(img_b)
    chips = torch.stack([model.align(img_a, [face_a]).chips[0], model.align(img_b, [face_b]).chips[0]])
    emb = model.embed(chips)
    targets = [SimilarityTarget(model, emb[1]), SimilarityTarget(model, emb[0])]
    batch = 32
    run_corrrise(model, chips, targets, 64, batch_size=batch)  # warm-up
    forward_only(model, chips, 64, batch)

    for i, section in enumerate((section_1, section_2, section_3, section_4), start=1):
        if i == 2 and args.only == 0 and model.device.type == "cpu":
            sys.stdout.flush()  # point 2 in its own process (see MEMORY_ENV)
            argv = [a for a in sys.argv[1:] if not a.startswith("--only")]
            subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--only", "2", "--quiet-header"],
                           env={**os.environ, **MEMORY_ENV}, check=True)
        elif args.only in (0, i):
            section(model, chips, targets, batch, scale, args, img_a, img_b, face_a, face_b)


def section_1(model, chips, targets, batch, scale, args, img_a, img_b, face_a, face_b):
    print("\n1. wall / forward-only (pair: both images, N masks each; goal <= 1.10)")
    for n in (1000 // scale, 4000 // scale):
        fwd, wall = float("inf"), float("inf")
        eager = float("inf")
        for _ in range(args.repeats):  # interleaved; the fastest of each (a shared CPU is noisy)
            fwd = min(fwd, forward_only(model, chips, n, batch))
            w, r = run_corrrise(model, chips, targets, n, batch_size=batch)
            if w < wall:
                wall, res = w, r
            eager = min(eager, forward_only(model, chips, n, batch, runtime="torch"))
        t = res.timings
        print(f"   N={n:5d}: wall {wall:7.2f} s, forward-only {fwd:7.2f} s, ratio {wall / fwd:.3f}  "
              f"(engine phases: masks {t.get('masks_s', 0):.2f} s, forward {t.get('forward_s', 0):.2f} s, "
              f"sums {t.get('accumulate_s', 0):.2f} s)")
        print(f"            the same forwards in eager torch: {eager:7.2f} s ({eager / fwd:.2f}x the runtime in use)")


def section_2(model, chips, targets, batch, scale, args, img_a, img_b, face_a, face_b):
    print("\n2. peak memory growth during a run (goal: N=8000 within 50 MB of N=1000)")
    peaks = {}
    for n in (1000 // scale, 8000 // scale):
        if model.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            run_corrrise(model, chips, targets, n, batch_size=batch)
            peaks[n] = torch.cuda.max_memory_allocated() - before
        else:
            base = rss()
            samples = [base]
            run_corrrise(model, chips, targets, n, batch_size=batch, progress=lambda u: samples.append(rss()),
                         progress_interval=0)
            peaks[n] = max(samples) - base
        print(f"   N={n:5d}: peak growth {peaks[n] / 2**20:7.1f} MB")
    n1, n8 = sorted(peaks)
    print(f"   difference: {(peaks[n8] - peaks[n1]) / 2**20:.1f} MB")


def section_3(model, chips, targets, batch, scale, args, img_a, img_b, face_a, face_b):
    print("\n3. time to the first progress callback (explain_pair, faces given; goal <= 1 s on CPU)")
    fresh, _ = load_bench_model()
    for attempt, m in enumerate((fresh, model, model)):
        stop, first = threading.Event(), []
        t0 = time.perf_counter()

        def progress(update):
            if not first:
                first.append(time.perf_counter() - t0)
            stop.set()

        detail = ""
        try:
            fw.explain_pair(img_a, img_b, m, faces=(face_a, face_b), n=1000, progress=progress, cancel=stop)
        except fw.CancelledError as err:
            if err.partial is not None:
                t = err.partial.manifest["timings"]
                detail = (f": alignment + 2 embeddings {t['prepare_s']:.3f} s, then the first {MASK_BLOCK} masks x 2 "
                          f"images {t['method'].get('first_progress_s', float('nan')):.3f} s")
        what = "cold (a freshly loaded model: its onnxruntime session is built first)" if m is fresh else "warm"
        print(f"   run {attempt + 1}, {what}: {first[0]:.3f} s{detail}")


def section_4(model, chips, targets, batch, scale, args, img_a, img_b, face_a, face_b):
    print("\n4. speed vs xaitk-saliency (RISE masks + similarity scoring, one direction; goal >= 3x)")
    try:
        import xaitk_saliency  # noqa: F401
        from importlib.metadata import version

        n = 1000 // scale
        ours = theirs = theirs_fast = float("inf")
        for _ in range(args.repeats):  # interleaved; the fastest of each
            ours = min(ours, run_corrrise(model, chips[:1], targets[:1], n, batch_size=batch, masks="grid")[0])
            theirs = min(theirs, xaitk_rise(model, chips[0], chips[1], n, batch)[0])
            theirs_fast = min(theirs_fast, xaitk_rise(model, chips[0], chips[1], n, batch, forward=model.infer)[0])
        print(f"   N={n}: facewidget corrrise (grid masks) {ours:.2f} s; xaitk-saliency {version('xaitk-saliency')} "
              f"with the torch model {theirs:.2f} s: speed ratio {theirs / ours:.2f}x")
        print(f"   the engine alone: xaitk-saliency handed facewidget's own fast forward (model.infer) "
              f"{theirs_fast:.2f} s: ratio {theirs_fast / ours:.2f}x")
    except ImportError as err:
        print(f"   xaitk-saliency is not installed ({err}); pip install xaitk-saliency (the 'bench' extra)")


if __name__ == "__main__":
    main()
