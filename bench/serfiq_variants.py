"""SER-FIQ variants on dlib-resnet: clean-above-degraded win rates per degradation kind (CPU, ~2 min per variant).

The set: the 8 sample photos × {as is, mirrored} × {full size, 0.7×} × {0°, ±10°} (face detected on each
variant; 88 clean faces where one is found), each degraded once per kind at severity 1.0 with
``DegradationGenerator(seed=0)`` (blur, noise, jpeg, low_light, downscale) plus a second noise draw
(``seed=1``, reported as ``noise_s1``). Only noise is random at severity 1.0, so more generator seeds
alone would repeat the same blurred/JPEG/... copies; the photo variants are what enlarge the set
(they are correlated: 88 pairs per kind are fewer than 88 independent faces).

A variant: where dropout goes (``fc``: the fc input, the library's placement; ``blockN``: the output of
residual block N of dlib's ResNet, blocks 0-13), element or channel dropout, rate, passes, mask seed.
Reported: pairs where the clean face's mean pairwise distance of its stochastic embeddings is
smaller than its degraded copy's (i.e. SER-FIQ rates it higher), on L2-normalised embeddings
(SER-FIQ) and on raw embeddings (dlib's metric).

    PYTHONPATH=. python bench/serfiq_variants.py fc:el:0.5:100:0 block12:el:0.1:50:0 block9:ch:0.5:100:0
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

import facewidget as fw  # noqa: E402
from facewidget import data, detect_face  # noqa: E402
from facewidget.quality import DegradationGenerator, FaceBatch  # noqa: E402

KINDS = ["blur", "noise", "noise_s1", "jpeg", "low_light", "downscale"]
CACHE = os.environ.get("SERFIQ_SET", "/tmp/serfiq_variants_set.pt")


def build_set(model):
    if os.path.isfile(CACHE):
        d = torch.load(CACHE)
        return d["chips"], d["items"]
    cleans, faces, photo_of = {}, {}, {}
    for name in data.samples():
        img = np.asarray(data.sample(name))
        for flip in (0, 1):
            for scale in (1.0, 0.7):
                for angle in (0, 10, -10):
                    im = Image.fromarray(np.ascontiguousarray(img[:, ::-1]) if flip else img)
                    if scale != 1.0:
                        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
                    if angle:
                        im = im.rotate(angle, resample=Image.BICUBIC, fillcolor=(0, 0, 0))
                    arr = np.ascontiguousarray(np.asarray(im))
                    try:
                        face = detect_face(arr)
                    except Exception:  # noqa: BLE001 - no face in this variant
                        continue
                    key = f"{name}|f{flip}|s{scale}|r{angle}"
                    cleans[key], faces[key], photo_of[key] = arr, face, name
    items = DegradationGenerator(seed=0, kinds=["blur", "noise", "jpeg", "low_light", "downscale"],
                                 severity=1.0).build(cleans, faces)
    items += DegradationGenerator(seed=1, kinds=["noise"], severity=1.0, include_clean=False).build(cleans, faces)
    chips = FaceBatch.from_images([it.image for it in items], [it.face for it in items]).chips_for(model).cpu()
    rec = [{"source": it.source, "photo": photo_of[it.source],
            "kind": it.kind + ("_s1" if it.seed[0] == 1 else "")} for it in items]
    torch.save({"chips": chips, "items": rec}, CACHE)
    return chips, rec


def masks(shape, passes, rate, channel, seed):
    g = torch.Generator().manual_seed(seed)
    if channel:
        keep = (torch.rand(passes, shape[0], generator=g) >= rate)[:, :, None, None].expand(passes, *shape)
    else:
        keep = torch.rand(passes, *shape, generator=g) >= rate
    return keep.float() / (1.0 - rate)


@torch.no_grad()
def spreads(model, chips, where, channel, rate, passes, seed, bs=8):
    """Mean pairwise distance of each face's stochastic embeddings: (raw, L2-normalised)."""
    net = model.network.eval()
    out_raw, out_norm = [], []
    for i in range(0, len(chips), bs):
        x = model.preprocess(chips[i:i + bs]).contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(net.stem(x)), 3, 2)
        k = len(net.blocks) - 1 if where == "fc" else int(where.removeprefix("block"))
        for b in net.blocks[:k + 1]:
            x = b(x)
        if where == "fc":
            x = x.mean(dim=(2, 3))
        n, shape = x.shape[0], tuple(x.shape[1:])
        xx = (x[:, None] * masks(shape, passes, rate, channel, seed)[None]).reshape(n * passes, *shape)
        if where != "fc":
            xx = xx.contiguous(memory_format=torch.channels_last)
            for b in net.blocks[k + 1:]:
                xx = b(xx)
            xx = xx.mean(dim=(2, 3))
        e = net.fc(xx).double().reshape(n, passes, -1)
        for emb, acc in ((e, out_raw), (F.normalize(e, dim=-1), out_norm)):
            acc.append((torch.cdist(emb, emb).triu(1).sum((1, 2)) * 2 / passes ** 2).numpy())
    return np.concatenate(out_raw), np.concatenate(out_norm)


def wins(items, spread):
    clean = {it["source"]: v for it, v in zip(items, spread) if it["kind"] == "clean"}
    res = {}
    for kind in KINDS:
        w = [v > clean[it["source"]] for it, v in zip(items, spread) if it["kind"] == kind]
        res[kind] = (int(sum(w)), len(w))
    return res


def main(specs):
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    model = fw.load_model("dlib-resnet", device="cpu")
    chips, items = build_set(model)
    print(f"{len(chips)} faces; columns: clean rated above degraded / pairs")
    print(f"{'variant':32s} {'dist':5s} " + " ".join(f"{k:>11s}" for k in KINDS))
    for spec in specs:
        where, kind, rate, passes, seed = spec.split(":")
        t = time.perf_counter()
        raw, norm = spreads(model, chips, where, kind == "ch", float(rate), int(passes), int(seed))
        for label, s in (("norm", norm), ("raw", raw)):
            cells = " ".join(f"{a:>5d}/{b:<3d}{a / b:3.0%}" for a, b in wins(items, s).values())
            print(f"{spec:32s} {label:5s} {cells}")
        print(f"  ({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["fc:el:0.5:100:0", "block12:el:0.1:50:0"])
