"""Widget wire costs and live-update rate, measured side by side in one run.

1. Size of one 256x256 map update as it goes on the wire (the comm "update" message: JSON state +
   binary buffers), for float16 and uint8 buffers, against the same map sent as a JSON list.
2. A live run whose computation reports as fast as it can: progress calls made versus updates
   pushed to the view per second (the runner throttles to <= 10/s).
3. Frames per second while the canonical face is rotated, textured and with vertex colours
   (bench/widget_fps.py).
Run: python bench/widget.py
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("GLOG_minloglevel", "2")


def update_message_bytes(view, names) -> tuple[int, int]:
    """(JSON bytes, buffer bytes) of the comm update message that syncs ``names``."""
    from ipywidgets.widgets.widget import _remove_buffers

    state = view.get_state(names)
    state, _paths, buffers = _remove_buffers(state)
    msg = {"method": "update", "state": state, "buffer_paths": _paths}
    return len(json.dumps(msg).encode()), sum(memoryview(b).nbytes for b in buffers)


def main() -> None:
    import facewidget as fw
    from facewidget.widgets import OverlayView

    img = fw.data.sample("obama")
    face = fw.detect_face(img)
    x0, y0, x1, y1 = face.box
    s = max(x1 - x0, y1 - y0) / 256
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]
    nose = (face.landmarks[1, :2] - [x0, y0]) / s
    gauss = np.exp(-((xx - nose[0]) ** 2 + (yy - nose[1]) ** 2) / (2 * 30.0 ** 2))
    m = (gauss + 0.05 * rng.standard_normal((256, 256))).astype(np.float32)  # a signed, noisy map

    print("== one 256x256 map update on the wire")
    rows = []
    for enc in ("float16", "uint8"):
        view = OverlayView(img, affine=[[s, 0, x0], [0, s, y0]], encoding=enc)
        view.set_map(m)
        j, b = update_message_bytes(view, ["overlay"])
        rows.append((enc, j, b))
    naive = len(json.dumps(m.tolist()).encode())
    for enc, j, b in rows:
        total = j + b
        print(f"  {enc:8s} json {j:6d} B + buffers {b:7d} B = {total / 1024:7.1f} KiB "
              f"({'OK' if total <= 140_000 else 'OVER'} the 140 KB budget; "
              f"{naive / total:5.1f}x smaller than a JSON list of {naive / 1024:.0f} KiB)")
    print(f"  float16 / uint8 size ratio: {(rows[0][1] + rows[0][2]) / (rows[1][1] + rows[1][2]):.2f}")

    print("== one PairView progress update (both faces, similar + dissimilar on 150x150 dlib chips)")
    from facewidget.widgets import PairView

    img_b = fw.data.sample("obama2")
    pair = PairView.from_photos(img, img_b, face, fw.detect_face(img_b))
    chip_maps = {f"{side}/{kind}": rng.random((150, 150)).astype(np.float32)
                 for side in "ab" for kind in ("similar", "dissimilar")}
    sizes = {}
    for enc in ("uint8", "float16"):
        pair.live_encoding = enc
        pair._in_progress_update = True
        pair._apply_progress(chip_maps, 1, 2)
        pair._in_progress_update = False
        j, b = update_message_bytes(pair, ["maps"])
        sizes[enc] = j + b
        print(f"  live_encoding={enc:8s} {(j + b) / 1024:7.1f} KiB per update (4 maps)")
    print(f"  float16 / uint8: {sizes['float16'] / sizes['uint8']:.2f} (previews travel as uint8 by default; "
          "the final result as float16)")

    print("== live run: progress calls vs updates pushed (throttle 0.1 s)")
    view = OverlayView(img, affine=[[s, 0, x0], [0, s, y0]])
    points = (face.landmarks[:, :2] - [x0, y0]) / s

    def density(progress, cancel, repeats=6):
        acc = np.zeros((256, 256), np.float32)
        total = repeats * len(points)
        done = 0
        for _ in range(repeats):
            for p in points:
                if cancel.is_set():
                    raise fw.CancelledError("cancelled")
                acc += np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / 72.0).astype(np.float32)
                done += 1
                progress({"density": acc}, done, total)
        return acc

    run = view.run(density)
    run.wait(600)
    elapsed = run.finished_at - run.started_at
    print(f"  run time {elapsed:.2f} s: {run.updates_received} progress calls "
          f"({run.updates_received / elapsed:.0f}/s) -> {run.updates_sent} view updates "
          f"({run.update_rate:.1f}/s); calls per update {run.updates_received / max(run.updates_sent, 1):.0f}")


    print("== CanonicalFaceView rotated by a drag in headless Chromium (898 triangles; target >= 30 frames/s)")
    from widget_fps import main as face_fps

    face_fps()


if __name__ == "__main__":
    main()
