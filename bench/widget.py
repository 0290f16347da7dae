"""Widget wire costs and live-update rate, measured side by side in one run.

1. Size of one 256x256 map update as it goes on the wire (the comm "update" message: JSON state +
   binary buffers), for float16 and uint8 buffers, against the same map sent as a JSON list.
2. A live run whose computation reports as fast as it can: progress calls made versus updates
   pushed to the view per second (the runner throttles to <= 10/s).
3. Frames per second while the canonical face is rotated, textured and with vertex colours
   (bench/widget_fps.py).
4. The tour exported by facewidget.export_html: page size (target < 5 MB; beside it the same page
   with lossless PNG photos) and the time until every view has painted in headless Chromium with
   the network blocked (target < 2 s; median of 3 loads).
Run: python bench/widget.py [--export-only] [--tour EXECUTED_TOUR.ipynb]
     (without --tour the tour is executed first, ~1-2 min on a laptop CPU)
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


def export_section(tour: str | None) -> None:
    import tempfile
    import time
    from pathlib import Path

    import facewidget as fw

    print("== the tour as one offline HTML page (facewidget.export_html)")
    out = Path(tempfile.mkdtemp(prefix="fw-bench-export-"))
    if tour is None:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "notebooks"))
        import nbformat
        from run_headless import REPO, execute

        t0 = time.perf_counter()
        nb = execute(REPO / "notebooks" / "tour.ipynb")
        tour = str(out / "tour.ipynb")
        nbformat.write(nb, tour)
        print(f"  executed the tour in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    page = fw.export_html(tour, out / "tour.html")
    export_s = time.perf_counter() - t0
    lossless = fw.export_html(tour, out / "tour-png.html", photo_quality=None)
    size, size_png = page.stat().st_size, lossless.stat().st_size
    print(f"  page {size / 1e6:.2f} MB ({'OK' if size < 5e6 else 'OVER'} the 5 MB target; written in {export_s:.1f} s); "
          f"with lossless PNG photos {size_png / 1e6:.2f} MB (ratio {size_png / size:.2f})")
    times = paint_times(page, loads=3)
    med = sorted(times)[len(times) // 2]
    print(f"  every view painted after {med:.2f} s (median of {len(times)}: "
          f"{', '.join(f'{t:.2f}' for t in times)}; {'OK' if med < 2 else 'OVER'} the 2 s target; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def paint_times(page_path, loads: int = 3) -> list[float]:
    """Seconds from navigation start until every facewidget view of the page has painted."""
    import shutil
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.browser.lab import CHROMIUM, CHROMIUM_ARGS

    root = tempfile.mkdtemp(prefix="fw-bench-chromium-")
    times = []
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(root, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                                    viewport={"width": 1300, "height": 1000})
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "blob:", "data:"))
                  else r.abort())
        page = ctx.new_page()
        for _ in range(loads):
            page.goto(page_path.as_uri())
            page.wait_for_function(
                """() => { const n = document.documentElement.dataset.fwViews;
                   if (n === undefined) return false;
                   const roots = [...document.querySelectorAll('.fw-root')];
                   return roots.length > 0 && roots.every(r => r.dataset.painted === 'true'); }""",
                timeout=60_000, polling="raf")
            times.append(page.evaluate("() => performance.now()") / 1000)
        ctx.close()
    shutil.rmtree(root, ignore_errors=True)
    return times


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export-only", action="store_true", help="only the exported-page section")
    parser.add_argument("--tour", help="an executed tour notebook (skips executing it)")
    args = parser.parse_args()
    if not args.export_only:
        main()
    export_section(args.tour)
