// Mounting views on a fake model for the front-end tests: one mount helper and one overlay state
// for every test file; afterEach(unmountAll) disposes what a test mounted.
import widget from "../src/index.js";
import { fakeModel, float16Bytes } from "./fake-model.js";

/** A PNG signature only: never decoded in happy-dom. */
export const PNG = new DataView(new Uint8Array([137, 80, 78, 71]).buffer);

let cleanups = [];

export function mount(state) {
  const model = fakeModel(state);
  const el = document.createElement("div");
  document.body.appendChild(el);
  const cleanup = widget.render({ model, el });
  cleanups.push(cleanup);
  return { model, el, cleanup, root: el.querySelector(".fw-root"), canvas: el.querySelector("canvas.fw-canvas") };
}

export function unmountAll() {
  cleanups.forEach((f) => f());
  cleanups = [];
  document.body.replaceChildren();
}

export function overlayState() {
  return {
    _view: "overlay", photo: PNG, photo_size: [640, 480], title: "t", map_names: ["map"], map_name: "map",
    overlay: { data: float16Bytes([0, 0.5, 1, 0.25]), shape: [2, 2], dtype: "float16", lo: 0, hi: 1, scale: 1, signed: false, affine: [50, 0, 100, 0, 50, 100] },
    natural_box: [75, 75, 175, 175], overlay_box: [75, 75, 175, 175], opacity: 0.6, threshold: 0, colormap: "inferno",
    diverging_colormap: "rdbu", scale: "auto", annotations: [], progress: [0, 0], status: "idle", running: false, can_run: false, live_updates: 0,
  };
}
