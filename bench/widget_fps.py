"""Frame rate of the CanonicalFaceView while it is rotated, in headless Chromium (no kernel).

The shipped bundle (facewidget/static/widget.js) renders a CanonicalFaceView whose state comes
from the real Python widget (a canonical map projected from a real photo); a drag across the
canvas turns the face, one pointer move per animation frame, and the page counts painted frames.
Textured (the map's uv texture on the 898 triangles) and vertex colours are measured side by
side in one browser. Used by bench/widget.py; run alone: python bench/widget_fps.py
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("GLOG_minloglevel", "2")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", "--disable-dev-shm-usage"]

_MEASURE = """async ({bundle, css, state, seconds, style}) => {
  const unb64 = (s) => { const b = atob(s); const u = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i); return new DataView(u.buffer); };
  const revive = (v) => (v && v.__b64__ !== undefined) ? unb64(v.__b64__) : Array.isArray(v) ? v.map(revive)
    : (v && typeof v === 'object') ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)])) : v;
  const st = revive(state);
  st.face_style = style;
  const handlers = {};
  const model = { get: (k) => st[k], set: (k, v) => { st[k] = v; (handlers['change:' + k] || []).forEach((f) => f()); },
    on: (e, f) => { (handlers[e] = handlers[e] || []).push(f); }, off: () => {}, save_changes: () => {}, send: () => {} };
  if (!window.__fw) {
    const s = document.createElement('style'); s.textContent = css; document.head.appendChild(s);
    window.__fw = await import(URL.createObjectURL(new Blob([bundle], { type: 'text/javascript' })));
  }
  document.body.replaceChildren();
  const el = document.createElement('div'); document.body.appendChild(el);
  const dispose = window.__fw.default.render({ model, el });
  const root = el.querySelector('.fw-root');
  const cv = el.querySelector('canvas.fw-canvas');
  const r = cv.getBoundingClientRect();
  const at = (x) => ({ clientX: r.left + x, clientY: r.top + r.height / 2, button: 0, pointerId: 1, bubbles: true });
  const frame = () => new Promise((res) => requestAnimationFrame(res));
  await frame();
  cv.dispatchEvent(new PointerEvent('pointerdown', at(20)));
  const p0 = Number(root.dataset.paints);
  let x = 20, dir = 1, paintMs = 0, frames = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    x += 3 * dir;
    if (x > r.width - 20 || x < 20) dir = -dir;
    const a = performance.now();
    cv.dispatchEvent(new PointerEvent('pointermove', at(x)));
    paintMs += performance.now() - a;
    frames += 1;
    await frame();
  }
  const elapsed = (performance.now() - t0) / 1000;
  cv.dispatchEvent(new PointerEvent('pointerup', at(x)));
  const painted = Number(root.dataset.paints) - p0;
  // frames: animation frames in which the face turned (one move, painted synchronously)
  const result = { fps: Math.min(frames, painted) / elapsed, paint_ms: paintMs / frames, painted, frames, style: root.dataset.faceStyle };
  dispose();
  return result;
}"""


def _jsonable_state(view) -> dict:
    def enc(v):
        if isinstance(v, (bytes, bytearray, memoryview)):
            return {"__b64__": base64.b64encode(bytes(v)).decode("ascii")}  # only to carry it into the test page
        if isinstance(v, dict):
            return {k: enc(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [enc(x) for x in v]
        return v

    return {k: enc(v) for k, v in view.get_state().items()}


def canonical_rotation_fps(seconds: float = 2.0, chromium: str | None = None) -> dict[str, dict]:
    """``{"texture": {...}, "vertex": {...}}``: frames painted per second while dragging, and the
    mean paint time per move (ms), for the 898-triangle CanonicalFaceView."""
    import facewidget as fw
    from facewidget.widgets import CanonicalFaceView
    from facewidget.widgets.base import _CSS, _ESM
    from playwright.sync_api import sync_playwright
    from tests.widget_data import NOSE_TIP, gaussian

    img = fw.data.sample("obama")
    face = fw.detect_face(img)
    cmap = fw.canonical.project(gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 40.0), face)
    view = CanonicalFaceView.from_canonical_map(cmap)
    state = _jsonable_state(view)
    chromium = chromium or shutil.which("chromium") or "/usr/bin/chromium"
    tmp = tempfile.mkdtemp(prefix="fw-fps-")
    out = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
                                         env={**os.environ, "XDG_CONFIG_HOME": tmp, "XDG_CACHE_HOME": tmp})
            page = browser.new_page(viewport={"width": 800, "height": 800}, device_scale_factor=1)
            page.set_content("<!doctype html><html><body></body></html>")
            args = {"bundle": _ESM.read_text(), "css": _CSS.read_text(), "state": state, "seconds": seconds}
            for style in ("texture", "vertex"):
                out[style] = page.evaluate(_MEASURE, {**args, "style": style})
            browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    res = canonical_rotation_fps()
    for style, r in res.items():
        print(f"  {style:8s} {r['fps']:5.1f} frames/s while rotating (paint {r['paint_ms']:.1f} ms per move)")


if __name__ == "__main__":
    main()
