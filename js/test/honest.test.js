import { afterEach, describe, expect, it } from "vitest";
import { fmtP, fmtValue } from "../src/colorbar.js";
import { colorize, sharedRange } from "../src/colormap.js";
import { sampleMap } from "../src/pair.js";
import { float16Bytes, float32Bytes, uint16Bytes } from "./fake-model.js";
import { mount, PNG, unmountAll } from "./mount.js";

afterEach(unmountAll);

const payload = (values, extra = {}) => {
  const hi = Math.max(...values), lo = Math.min(...values);
  const scale = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  return { data: float16Bytes(values.map((v) => v / scale)), shape: [2, 2], dtype: "float16", lo, hi, scale, signed: lo < 0, affine: [10, 0, 5, 0, 10, 5], ...extra };
};
const mask = (bits) => ({ data: new DataView(new Uint8Array(bits.map((b) => (b ? 255 : 0))).buffer), shape: [2, 2], dtype: "uint8", lo: 0, hi: 1, scale: 1, signed: false, affine: [10, 0, 5, 0, 10, 5] });

function pairState(extra = {}) {
  return {
    _view: "pair", photo_a: PNG, photo_b: PNG, size_a: [420, 420], size_b: [420, 420],
    landmarks_a: float32Bytes([]), landmarks_b: float32Bytes([]), triangles: uint16Bytes([]),
    maps: {
      a: { similar: payload([0.1, 0.2, 0.3, 0.4]), dissimilar: payload([0, 0, 0.05, 0]), p_value: payload([0.5, 0.2, 0.01, 0.001]), significant: mask([0, 0, 1, 1]) },
      b: { similar: payload([0.6, 0, 0, 0.2]), dissimilar: payload([0, 0.1, 0, 0]) },
    },
    mode: "similar", arrangement: "toggle", score: 0.5, threshold: 0.6, threshold_range: [0, 1], higher_is_similar: true,
    decision: "different", opacity: 0.6, colormap: "inferno", diverging_colormap: "rdbu", scale: "auto", map_threshold: 0, title: "",
    info: "", quantity: "correlation r", shared_scale: true, show_insignificant: false,
    annotations: [], progress: [0, 0], status: "idle", running: false, can_run: false, live_updates: 0, ...extra,
  };
}

describe("honest display", () => {
  it("non-significant pixels are transparent unless asked for", () => {
    const values = new Float32Array([0.5, 0.5, 0.5, 0.5]);
    const m = new Float32Array([0, 1, 0, 1]);
    const hidden = colorize(values, { mask: m });
    expect([hidden[3], hidden[7], hidden[11], hidden[15]]).toEqual([0, 255, 0, 255]);
    const all = colorize(values, { mask: null });
    expect([all[3], all[11]]).toEqual([255, 255]);
  });
  it("a shared range makes equal values equal colours across maps", () => {
    const a = colorize(new Float32Array([0.2, 0.4]), { range: [0, 0.4] });
    const b = colorize(new Float32Array([0.2, 0.8]), { range: [0, 0.4] });
    expect(Array.from(a.slice(0, 4))).toEqual(Array.from(b.slice(0, 4)));
    const own = colorize(new Float32Array([0.2, 0.8]));
    expect(Array.from(own.slice(0, 4))).not.toEqual(Array.from(a.slice(0, 4)));
    expect(sharedRange([{ lo: 0, hi: 0.4 }, null, { lo: -0.1, hi: 0.6 }])).toEqual([-0.1, 0.6]);
  });
  it("the pair's colour bar names the quantity and spans every map of both faces", () => {
    const { root, model } = mount(pairState());
    const bar = root.querySelector(".fw-colorbar");
    expect(bar.querySelector(".fw-colorbar-label").textContent).toBe("correlation r");
    expect(Number(bar.dataset.lo)).toBe(0);
    expect(Number(bar.dataset.hi)).toBeCloseTo(0.6, 3); // face B's maximum, shown on face A's panel too
    expect(root.dataset.significance).toBe("hidden");
    root.querySelector(".fw-shared-scale").click();
    expect(model.get("shared_scale")).toBe(false);
    expect(bar.querySelector(".fw-colorbar-label").textContent).toContain("own maximum");
    expect(bar.querySelector(".fw-colorbar-hi").textContent).toBe("max");
    root.querySelector(".fw-significance").click();
    expect(model.get("show_insignificant")).toBe(true);
    expect(root.dataset.significance).toBe("shown");
  });
  it("the significance toggle is hidden without a significance map; labels stay text", () => {
    const st = pairState({ quantity: "<img src=x onerror=alert(1)>" });
    delete st.maps.a.significant;
    const { root } = mount(st);
    expect(root.querySelector(".fw-significance").hidden).toBe(true);
    expect(root.dataset.significance).toBe("none");
    expect(root.querySelector(".fw-colorbar-label").textContent).toBe("<img src=x onerror=alert(1)>");
    expect(root.querySelectorAll("img").length).toBe(0);
  });
  it("the pointer readout gives the value and the p-value under the pointer", () => {
    const { root } = mount(pairState());
    const canvas = root.querySelector("canvas[data-side=a]");
    // map pixel (1, 1) lies at photo (15, 15); canvas scale 1 (420 px photo at 420 CSS px)
    canvas.dispatchEvent(new PointerEvent("pointermove", { clientX: 15.5, clientY: 15.5 }));
    const [v, p] = root.dataset.readout.split(",").map(Number);
    expect(v).toBeCloseTo(0.4, 3);
    expect(p).toBeCloseTo(0.001, 4);
    expect(root.querySelector(".fw-readout").textContent).toBe("A · similar: correlation r 0.4 · p 0.0010");
  });
  it("samples maps through their affine and formats numbers", () => {
    const d = { values: new Float32Array([1, 2, 3, 4]), width: 2, height: 2, affine: [10, 0, 5, 0, 10, 5] };
    expect(sampleMap(d, 5, 15)).toBe(3);
    expect(Number.isNaN(sampleMap(d, 100, 100))).toBe(true);
    expect(fmtP(0.00001)).toBe("< 0.0001");
    expect(fmtP(0.0312)).toBe("0.031");
    expect(fmtValue(0.6650001)).toBe("0.665");
    expect(fmtValue(0)).toBe("0");
  });
});

describe("linked canonical regions on the PairView", () => {
  const lm = [0, 0, 0, 100, 0, 0, 0, 100, 0, 100, 100, 0];
  const state = () => pairState({
    landmarks_a: float32Bytes(lm), landmarks_b: float32Bytes(lm), triangles: uint16Bytes([0, 1, 2, 1, 3, 2]),
    region_names: ["cheek", "nose"], triangle_regions: new DataView(new Int16Array([-1, 1]).buffer),
    region_outline: { name: "nose", a: float32Bytes([100, 0, 100, 100, 100, 100, 0, 100, 0, 100, 100, 0]) },
  });
  it("hovering names the region of the mesh triangle under the pointer", () => {
    const { root } = mount(state());
    const canvas = root.querySelector("canvas[data-side=a]");
    canvas.dispatchEvent(new PointerEvent("pointermove", { clientX: 80.5, clientY: 80.5 }));
    expect(root.dataset.hoverRegion).toBe("nose");
    expect(root.querySelector(".fw-readout").textContent.startsWith("A · nose · similar")).toBe(true);
    canvas.dispatchEvent(new PointerEvent("pointermove", { clientX: 10.5, clientY: 10.5 }));
    expect(root.dataset.hoverRegion).toBe(""); // triangle 0 belongs to no region
  });
  it("takes the selected region's outline from the kernel", () => {
    const { root, model } = mount(state());
    expect(root.dataset.outline).toBe("nose");
    expect(root.dataset.outlineSegments).toBe("3");
    model.remote("region_outline", {});
    expect(root.dataset.outline).toBe("");
    expect(root.dataset.outlineSegments).toBe("0");
  });
});

describe("honest display in the OverlayView", () => {
  const ov = (extra = {}) => ({
    _view: "overlay", photo: PNG, photo_size: [640, 640], title: "t", map_names: ["saliency"], map_name: "saliency",
    overlay: payload([0.1, 0.2, 0.3, 0.4]), natural_box: [-0.5, -0.5, 19.5, 19.5], overlay_box: [-0.5, -0.5, 19.5, 19.5],
    opacity: 0.6, threshold: 0, colormap: "inferno", diverging_colormap: "rdbu", scale: "auto", quantity: "similarity drop (score units)",
    significant: mask([0, 1, 0, 1]), p_value: payload([0.4, 0.01, 0.3, 0.002]), show_insignificant: false,
    annotations: [], progress: [0, 0], status: "idle", running: false, can_run: false, live_updates: 0, ...extra,
  });
  it("names the quantity, hides non-significant pixels and reads value and p under the pointer", () => {
    const { root, model } = mount(ov());
    expect(root.querySelector(".fw-colorbar-label").textContent).toBe("similarity drop (score units)");
    expect(root.dataset.significance).toBe("hidden");
    const canvas = root.querySelector("canvas.fw-canvas");
    canvas.dispatchEvent(new PointerEvent("pointermove", { clientX: 15.5, clientY: 5.5 })); // map pixel (1, 0)
    const [v, p] = root.dataset.readout.split(",").map(Number);
    expect(v).toBeCloseTo(0.2, 3);
    expect(p).toBeCloseTo(0.01, 4);
    root.querySelector(".fw-significance").click();
    expect(model.get("show_insignificant")).toBe(true);
    expect(root.dataset.significance).toBe("shown");
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "z", ctrlKey: true, bubbles: true }));
    expect(model.get("show_insignificant")).toBe(false);
  });
  it("without a significance map every pixel is drawn and the toggle is hidden", () => {
    const { root } = mount(ov({ significant: null, p_value: null }));
    expect(root.dataset.significance).toBe("none");
    expect(root.querySelector(".fw-significance").hidden).toBe(true);
  });
});

describe("canonical regions on the OverlayView", () => {
  it("names the region under the pointer and draws a linked outline", () => {
    const lm = [0, 0, 0, 600, 0, 0, 0, 600, 0, 600, 600, 0];
    const { model, root } = mount({
      _view: "overlay", photo: PNG, photo_size: [640, 640], title: "t", map_names: [], map_name: "", overlay: null,
      natural_box: [], overlay_box: [], opacity: 0.6, threshold: 0, colormap: "inferno", diverging_colormap: "rdbu", scale: "auto",
      landmarks: float32Bytes(lm), triangles: uint16Bytes([0, 1, 2, 1, 3, 2]), region_names: ["chin", "nose"],
      triangle_regions: new DataView(new Int16Array([-1, 1]).buffer), region_outline: {},
      annotations: [], progress: [0, 0], status: "idle", running: false, can_run: false, live_updates: 0,
    });
    const canvas = root.querySelector("canvas.fw-canvas");
    canvas.dispatchEvent(new PointerEvent("pointermove", { clientX: 500.5, clientY: 500.5 }));
    expect(root.dataset.hoverRegion).toBe("nose");
    expect(root.querySelector(".fw-readout").textContent).toBe("nose");
    expect(root.dataset.outline).toBe("");
    model.remote("region_outline", { name: "nose", photo: float32Bytes([600, 0, 600, 600, 600, 600, 0, 600]) });
    expect(root.dataset.outline).toBe("nose");
    expect(root.dataset.outlineSegments).toBe("2");
  });
});
