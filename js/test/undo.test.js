import { afterEach, describe, expect, it } from "vitest";
import { bindViewKeys, keyAction, traitEdit, UndoStack } from "../src/undo.js";
import { fakeModel } from "./fake-model.js";
import { mount, overlayState, unmountAll } from "./mount.js";

afterEach(unmountAll);

describe("undo stack", () => {
  it("undoes and redoes in order; a new edit clears the redo history", () => {
    const log = [];
    const s = new UndoStack();
    const edit = (n) => ({ undo: () => log.push(`-${n}`), redo: () => log.push(`+${n}`) });
    expect(s.undo()).toBeNull();
    s.push(edit(1));
    s.push(edit(2));
    s.undo();
    s.undo();
    expect(s.canUndo).toBe(false);
    s.redo();
    expect(log).toEqual(["-2", "-1", "+1"]);
    s.push(edit(3));
    expect(s.canRedo).toBe(false);
    expect(s.redo()).toBeNull();
  });
  it("keeps at most `limit` edits", () => {
    const s = new UndoStack(2);
    for (let i = 0; i < 5; i++) s.push({ undo() {}, redo() {} });
    expect(s.done.length).toBe(2);
  });
  it("rejects edits without undo/redo", () => {
    expect(() => new UndoStack().push({ undo() {} })).toThrow();
  });
  it("a trait edit restores copies and saves once per step", () => {
    const m = fakeModel({ box: [1, 2, 3, 4] });
    const e = traitEdit(m, "box", [1, 2, 3, 4], [5, 6, 7, 8]);
    e.redo();
    expect(m.get("box")).toEqual([5, 6, 7, 8]);
    e.undo();
    expect(m.get("box")).toEqual([1, 2, 3, 4]);
    expect(m.saves).toBe(2);
  });
});

describe("key handling", () => {
  const k = (key, extra = {}) => ({ key, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...extra });
  it("maps keys to actions (Ctrl and Cmd)", () => {
    expect(keyAction(k("z", { ctrlKey: true }))).toBe("undo");
    expect(keyAction(k("z", { metaKey: true }))).toBe("undo");
    expect(keyAction(k("Z", { ctrlKey: true, shiftKey: true }))).toBe("redo");
    expect(keyAction(k("z", { metaKey: true, shiftKey: true }))).toBe("redo");
    expect(keyAction(k("y", { ctrlKey: true }))).toBe("redo");
    expect(keyAction(k("Enter"))).toBe("finish");
    expect(keyAction(k("Escape"))).toBe("cancel");
    expect(keyAction(k("Delete"))).toBe("delete");
    expect(keyAction(k("a"))).toBeNull();
    expect(keyAction(k("Enter", { ctrlKey: true }))).toBeNull();
  });
  it("keys never reach Jupyter; text fields keep their own editing", () => {
    const root = document.createElement("div");
    const input = document.createElement("input");
    root.appendChild(input);
    document.body.appendChild(root);
    let outside = 0;
    document.body.addEventListener("keydown", () => { outside += 1; });
    const s = new UndoStack();
    let undone = 0;
    s.push({ undo: () => { undone += 1; }, redo() {} });
    bindViewKeys(root, s);
    expect(root.getAttribute("data-lm-suppress-shortcuts")).toBe("true");
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "z", ctrlKey: true, bubbles: true }));
    expect(undone).toBe(0); // native text undo in the field
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "z", ctrlKey: true, bubbles: true }));
    expect(undone).toBe(1);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }));
    expect(outside).toBe(0);
  });
});

const press = (target, key, extra = {}) => target.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, ...extra }));
const ptr = (target, type, x, y) => target.dispatchEvent(new PointerEvent(type, { clientX: x, clientY: y, button: 0, pointerId: 1, bubbles: true }));

describe("keyboard editing in the OverlayView", () => {
  it("draws a polygon with the arrow keys, Space and Enter; undo and redo it", () => {
    const { model, root, canvas } = mount(overlayState());
    root.querySelector(".fw-tool-polygon").click();
    press(canvas, " ");
    press(canvas, "ArrowRight", { shiftKey: true });
    press(canvas, " ");
    press(canvas, "ArrowDown", { shiftKey: true });
    press(canvas, "ArrowLeft");
    press(canvas, " ");
    press(canvas, "Enter");
    const [a] = model.get("annotations");
    expect(a.kind).toBe("polygon");
    expect(a.points).toEqual([[319.5, 239.5], [329.5, 239.5], [328.5, 249.5]]); // from the view's centre
    expect(model.saves).toBe(1);
    press(canvas, "z", { ctrlKey: true });
    expect(model.get("annotations")).toEqual([]);
    press(canvas, "z", { ctrlKey: true, shiftKey: true });
    expect(model.get("annotations")).toEqual([a]);
    expect(model.saves).toBe(3);
  });
  it("Escape cancels a polygon; Enter with fewer than three vertices adds nothing", () => {
    const { model, root, canvas } = mount(overlayState());
    root.querySelector(".fw-tool-polygon").click();
    press(canvas, " ");
    press(canvas, "ArrowRight");
    press(canvas, " ");
    press(canvas, "Enter");
    expect(model.get("annotations")).toEqual([]);
    press(canvas, "Escape");
    press(canvas, " ");
    press(canvas, "Enter");
    expect(model.get("annotations")).toEqual([]);
  });
  it("Delete removes the selected annotation and undo restores it in place", () => {
    const anns = [
      { id: "p1", kind: "polygon", target: "photo", points: [[10, 10], [50, 10], [30, 40]], label: "one", note: "" },
      { id: "p2", kind: "polygon", target: "photo", points: [[200, 200], [250, 200], [230, 240]], label: "two", note: "" },
    ];
    const { model, root, canvas } = mount({ ...overlayState(), annotations: anns });
    root.querySelectorAll(".fw-ann-item-label")[0].click();
    press(canvas, "Delete");
    expect(model.get("annotations").map((a) => a.id)).toEqual(["p2"]);
    press(canvas, "z", { metaKey: true });
    expect(model.get("annotations").map((a) => a.id)).toEqual(["p1", "p2"]);
  });
  it("a finished polygon's vertex can be dragged; undo puts it back", () => {
    const anns = [{ id: "p1", kind: "polygon", target: "photo", points: [[300, 300], [400, 300], [350, 380]], label: "", note: "" }];
    const { model, canvas } = mount({ ...overlayState(), annotations: anns });
    ptr(canvas, "pointerdown", 400.5, 300.5); // scale 1: client px = photo px + 0.5
    ptr(canvas, "pointermove", 420.5, 310.5);
    ptr(canvas, "pointerup", 420.5, 310.5);
    expect(model.get("annotations")[0].points).toEqual([[300, 300], [420, 310], [350, 380]]);
    expect(model.get("overlay_box")).toEqual([75, 75, 175, 175]); // the overlay did not move
    press(canvas, "z", { ctrlKey: true });
    expect(model.get("annotations")[0].points).toEqual([[300, 300], [400, 300], [350, 380]]);
  });
  it("an overlay move is undone and redone", () => {
    const { model, canvas } = mount(overlayState());
    ptr(canvas, "pointerdown", 120, 120);
    ptr(canvas, "pointermove", 140, 130);
    ptr(canvas, "pointerup", 140, 130);
    expect(model.get("overlay_box")).toEqual([95, 85, 195, 185]);
    press(canvas, "z", { ctrlKey: true });
    expect(model.get("overlay_box")).toEqual([75, 75, 175, 175]);
    press(canvas, "y", { ctrlKey: true });
    expect(model.get("overlay_box")).toEqual([95, 85, 195, 185]);
  });
  it("the brush radius is adjustable and recorded", () => {
    const { model, root, canvas } = mount(overlayState());
    root.querySelector(".fw-tool-brush").click();
    const r = root.querySelector(".fw-brush-radius input");
    r.value = "30";
    r.dispatchEvent(new Event("input"));
    ptr(canvas, "pointerdown", 20, 20);
    ptr(canvas, "pointermove", 40, 20);
    ptr(canvas, "pointerup", 40, 20);
    expect(model.get("annotations")[0].radius).toBe(30);
  });
  it("every control has an accessible name and is reachable by Tab", () => {
    const { root } = mount(overlayState());
    const controls = [...root.querySelectorAll("button, input, select, canvas")].filter((e) => !e.closest("[hidden]"));
    expect(controls.length).toBeGreaterThan(8);
    for (const c of controls) {
      const name = c.getAttribute("aria-label") || (c.closest("label") && c.closest("label").textContent.trim()) || c.textContent.trim();
      expect(name, c.outerHTML).toBeTruthy();
      expect(c.tabIndex, c.outerHTML).toBeGreaterThanOrEqual(0);
    }
  });
});
