import { afterEach, describe, expect, it } from "vitest";
import { decide, differenceMap } from "../src/pair.js";
import { float16Bytes, float32Bytes, gridMesh, pointer, uint16Bytes } from "./fake-model.js";
import { mount, overlayState, PNG, unmountAll } from "./mount.js";

afterEach(unmountAll);

function canonicalState() {
  const { vertices, triangles } = gridMesh();
  const nt = triangles.length / 3;
  const half = Array.from({ length: nt / 2 }, (_, i) => i);
  const rest = Array.from({ length: nt - nt / 2 }, (_, i) => i + nt / 2);
  return {
    _view: "canonical", vertices: float32Bytes(vertices), triangles: uint16Bytes(triangles),
    values: { data: float16Bytes(vertices.filter((_, i) => i % 3 === 0).map((x) => x / 5)), shape: [vertices.length / 3], dtype: "float16", lo: -1, hi: 1, scale: 1, signed: true },
    regions: [{ name: "upper", score: 0.7, triangles: uint16Bytes(half) }, { name: "lower", score: 0.2, triangles: uint16Bytes(rest) }],
    yaw: 0, pitch: 0, selected_region: "", colormap: "inferno", diverging_colormap: "rdbu", scale: "auto", title: "",
    annotations: [], progress: [0, 0], status: "idle", running: false, can_run: false, live_updates: 0,
  };
}

describe("OverlayView front end", () => {
  it("dragging the overlay sets the box on every move and saves once", () => {
    const { model, el } = mount(overlayState());
    const canvas = el.querySelector("canvas");
    pointer(canvas, "pointerdown", 120, 120);
    for (let k = 1; k <= 5; k++) pointer(canvas, "pointermove", 120 + 4 * k, 120 + 2 * k);
    pointer(canvas, "pointerup", 140, 130);
    expect(model.saves).toBe(1);
    expect(model.sets.filter((k) => k === "overlay_box").length).toBeGreaterThanOrEqual(4);
    expect(model.get("overlay_box")).toEqual([95, 85, 195, 185]);
  });
  it("dragging the corner handle resizes", () => {
    const { model, el } = mount(overlayState());
    const canvas = el.querySelector("canvas");
    pointer(canvas, "pointerdown", 174, 174);
    pointer(canvas, "pointermove", 194, 184);
    pointer(canvas, "pointerup", 194, 184);
    expect(model.get("overlay_box")).toEqual([75, 75, 195, 185]);
    expect(model.saves).toBe(1);
  });
  it("a press outside the overlay does nothing; a click without motion saves nothing", () => {
    const { model, el } = mount(overlayState());
    const canvas = el.querySelector("canvas");
    pointer(canvas, "pointerdown", 10, 10);
    pointer(canvas, "pointermove", 60, 60);
    pointer(canvas, "pointerup", 60, 60);
    pointer(canvas, "pointerdown", 120, 120);
    pointer(canvas, "pointerup", 121, 120);
    expect(model.saves).toBe(0);
  });
  it("a brush stroke becomes one annotation with one save", () => {
    const { model, el } = mount(overlayState());
    el.querySelector(".fw-tool-brush").click();
    el.querySelector(".fw-ann-label").value = "cheek";
    const canvas = el.querySelector("canvas");
    pointer(canvas, "pointerdown", 20, 20);
    for (let k = 1; k < 6; k++) pointer(canvas, "pointermove", 20 + 5 * k, 20);
    pointer(canvas, "pointerup", 45, 20);
    expect(model.saves).toBe(1);
    const anns = model.get("annotations");
    expect(anns).toHaveLength(1);
    expect(anns[0]).toMatchObject({ kind: "brush", target: "photo", label: "cheek" });
    expect(anns[0].points.length).toBeGreaterThanOrEqual(5);
  });
  it("a polygon needs three clicks and finish", () => {
    const { model, el } = mount(overlayState());
    el.querySelector(".fw-tool-polygon").click();
    const canvas = el.querySelector("canvas");
    for (const [x, y] of [[10, 10], [60, 10], [30, 50]]) { pointer(canvas, "pointerdown", x, y); pointer(canvas, "pointerup", x, y); }
    el.querySelector(".fw-ann-finish").click();
    const anns = model.get("annotations");
    expect(anns).toHaveLength(1);
    expect(anns[0].kind).toBe("polygon");
    expect(anns[0].points[1]).toEqual([59.5, 9.5]); // canvas px → photo px (scale 1, centres at integers)
  });
  it("labels are text: an HTML label creates no element and runs nothing", () => {
    const label = "<img src=x onerror=alert(1)>";
    const { el } = mount({ ...overlayState(), annotations: [{ id: "1", kind: "polygon", target: "photo", points: [[0, 0], [5, 0], [0, 5]], label, note: "<b>n</b>" }] });
    expect(el.querySelector(".fw-ann-list img")).toBeNull();
    expect(el.querySelector(".fw-ann-list b")).toBeNull();
    expect(el.querySelector(".fw-ann-item-label").textContent).toBe(label);
  });
  it("cleanup removes the DOM and every model listener", () => {
    const { model, el, cleanup } = mount(overlayState());
    expect(model.listenerCount()).toBeGreaterThan(5);
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.children.length).toBe(0);
  });
  it("live controls: cancel sends a message, progress shows, kernel-side updates counted", () => {
    const { model, el } = mount({ ...overlayState(), can_run: true });
    model.remote("running", true);
    model.remote("progress", [3, 10]);
    model.remote("live_updates", 2);
    expect(el.querySelector("progress").value).toBe(3);
    el.querySelector(".fw-cancel").click();
    expect(model.sent).toEqual([{ type: "cancel" }]);
    expect(el.querySelector(".fw-root").dataset.liveUpdates).toBe("2");
    model.remote("overlay", { ...model.get("overlay") });
    expect(el.querySelector(".fw-root").dataset.overlayUpdates).toBe("1");
  });
  it("live controls: an n='auto' run's reliability shows as it climbs, and goes with the next run", () => {
    const { model, el } = mount({ ...overlayState(), can_run: true, reliability: null });
    model.remote("running", true);
    model.remote("status", "running");
    model.remote("progress", [256, 8000]);
    expect(el.querySelector(".fw-status").textContent).toBe("running 256/8000");
    model.remote("reliability", 0.913);
    expect(el.querySelector(".fw-status").textContent).toBe("running 256/8000 · reliability 0.91");
    expect(el.querySelector(".fw-root").dataset.reliability).toBe("0.913");
    model.remote("reliability", null);
    expect(el.querySelector(".fw-status").textContent).toBe("running 256/8000");
    expect(el.querySelector(".fw-root").dataset.reliability).toBeUndefined();
  });
});

describe("CanonicalFaceView front end", () => {
  it("dragging rotates locally and saves the final angle once", () => {
    const { model, el } = mount(canonicalState());
    const canvas = el.querySelector("canvas");
    pointer(canvas, "pointerdown", 180, 200);
    for (let k = 1; k <= 10; k++) pointer(canvas, "pointermove", 180 + 6 * k, 200 - 2 * k);
    pointer(canvas, "pointerup", 240, 180);
    expect(model.saves).toBe(1);
    expect(model.get("yaw")).toBeCloseTo(30);
    expect(model.get("pitch")).toBeCloseTo(-10);
    expect(el.querySelector(".fw-root").dataset.yaw).toBe("30.0");
  });
  it("a click on the face selects the region under it", () => {
    const { model, el } = mount(canonicalState());
    const canvas = el.querySelector("canvas");
    pointer(canvas, "pointerdown", 180, 120); // upper half of the sheet
    pointer(canvas, "pointerup", 180, 120);
    expect(model.get("selected_region")).toBe("upper");
    expect(model.saves).toBe(1);
    pointer(canvas, "pointermove", 180, 300);
    expect(el.querySelector(".fw-tooltip").textContent).toBe("lower: 0.200");
  });
  it("annotating the selected region records its triangles", () => {
    const { model, el } = mount({ ...canonicalState(), selected_region: "lower" });
    el.querySelector(".fw-ann-label").value = "jaw";
    el.querySelector(".fw-ann-add").click();
    const [a] = model.get("annotations");
    expect(a).toMatchObject({ kind: "mesh", target: "canonical", regions: ["lower"], label: "jaw" });
    expect(a.triangles.length).toBe(36);
  });
  it("cleanup removes listeners", () => {
    const { model, cleanup } = mount(canonicalState());
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("PairView front end", () => {
  const lmA = [0, 0, 0, 100, 0, 0, 0, 100, 0];
  const lmB = [200, 0, 0, 300, 0, 0, 200, 200, 0];
  const pairState = () => ({
    _view: "pair", photo_a: PNG, photo_b: PNG, size_a: [420, 420], size_b: [420, 300],
    landmarks_a: float32Bytes(lmA), landmarks_b: float32Bytes(lmB), triangles: uint16Bytes([0, 1, 2]),
    maps: {}, mode: "similar", arrangement: "toggle", score: 0.45, threshold: 0.6, threshold_range: [0, 1], higher_is_similar: false,
    decision: "same", opacity: 0.6, colormap: "inferno", diverging_colormap: "rdbu", scale: "auto", map_threshold: 0, title: "",
    annotations: [], progress: [0, 0], status: "idle", running: false, can_run: false, live_updates: 0,
  });
  it("decides like the model (distance: lower is more similar)", () => {
    expect(decide(0.45, 0.6, false)).toBe("same");
    expect(decide(0.45, 0.4, false)).toBe("different");
    expect(decide(0.7, 0.6, true)).toBe("same");
  });
  it("difference maps need the same grid", () => {
    const a = { values: new Float32Array([1, 2]), width: 2, height: 1, affine: [1, 0, 0, 0, 1, 0] };
    const b = { values: new Float32Array([0.5, 3]), width: 2, height: 1, affine: [1, 0, 0, 0, 1, 0] };
    expect(Array.from(differenceMap(a, b).values)).toEqual([0.5, -1]);
    expect(differenceMap(a, { ...b, affine: [2, 0, 0, 0, 1, 0] })).toBeNull();
  });
  it("hovering face A marks the corresponding point of face B", () => {
    const { el } = mount(pairState());
    const canvas = el.querySelector("canvas[data-side=a]");
    canvas.dispatchEvent(new PointerEvent("pointermove", { clientX: 20.5, clientY: 30.5 }));
    expect(el.querySelector(".fw-root").dataset.linked).toBe("220.0,60.0");
  });
  it("the threshold slider changes the decision locally and saves once at the end", () => {
    const { model, el } = mount(pairState());
    const input = el.querySelector(".fw-slider input");
    input.value = "0.3";
    input.dispatchEvent(new Event("input"));
    expect(el.querySelector(".fw-decision").textContent).toBe("different");
    expect(model.saves).toBe(0);
    input.dispatchEvent(new Event("change"));
    expect(model.saves).toBe(1);
  });
  it("cleanup removes the DOM and every model listener", () => {
    const { model, el, cleanup } = mount(pairState());
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.children.length).toBe(0);
  });
  it("side-by-side layout shows four panels", () => {
    const { model, el } = mount(pairState());
    expect(el.querySelectorAll(".fw-pair-cell canvas").length).toBe(2);
    el.querySelector(".fw-layout").click();
    expect(model.get("arrangement")).toBe("side");
    expect(el.querySelectorAll(".fw-pair-cell canvas").length).toBe(4);
  });
});
