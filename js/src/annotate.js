// Annotations: polygon and brush regions on photos, mesh regions on the canonical face.
// Stored in the synced `annotations` trait (schema: facewidget/widgets/annotations.py); labels and
// notes are rendered with textContent only.
import { button, h, onModel, slider } from "./dom.js";

export function newId() {
  return Math.random().toString(36).slice(2, 10) + Date.now().toString(36).slice(-4);
}

const list = (model) => (model.get("annotations") || []).slice();
const sync = (model, anns) => { model.set("annotations", anns); model.save_changes(); };
const copy = (x) => JSON.parse(JSON.stringify(x));

/**
 * Edits of the annotation list by id (so an undo never drops what the kernel added meanwhile).
 * Each applies itself (one save_changes) and returns an undoable edit {label, undo, redo}.
 */
export const annotationEdits = {
  add(model, ann) {
    const a = { id: newId(), ...copy(ann) };
    const redo = () => sync(model, [...list(model).filter((x) => x.id !== a.id), copy(a)]);
    const undo = () => sync(model, list(model).filter((x) => x.id !== a.id));
    redo();
    return { label: "add annotation", id: a.id, undo, redo };
  },
  remove(model, id) {
    const anns = list(model);
    const index = anns.findIndex((x) => x.id === id);
    if (index < 0) return null;
    const a = copy(anns[index]);
    const redo = () => sync(model, list(model).filter((x) => x.id !== id));
    const undo = () => { const l = list(model).filter((x) => x.id !== id); l.splice(Math.min(index, l.length), 0, copy(a)); sync(model, l); };
    redo();
    return { label: "delete annotation", id, undo, redo };
  },
  /** replace fields of annotation `id` (e.g. moved vertices); `before` are the old values */
  update(model, id, before, after) {
    const set = (fields) => sync(model, list(model).map((x) => (x.id === id ? { ...x, ...copy(fields) } : x)));
    set(after);
    return { label: "edit annotation", id, undo: () => set(before), redo: () => set(after) };
  },
};

/** Append one annotation and sync it (one save_changes); returns the undoable edit. */
export function addAnnotation(model, ann, undo = null) {
  const e = annotationEdits.add(model, ann);
  if (undo) undo.push(e);
  return e;
}

/** Delete annotation `id` (one save_changes); returns the undoable edit or null. */
export function removeAnnotation(model, id, undo = null) {
  const e = annotationEdits.remove(model, id);
  if (e && undo) undo.push(e);
  return e;
}

/** The label / note inputs shared by the annotation tools. */
function textInputs() {
  const label = h("input", { class: "fw-ann-label", attrs: { type: "text", placeholder: "label", "aria-label": "annotation label" } });
  const note = h("input", { class: "fw-ann-note", attrs: { type: "text", placeholder: "note", "aria-label": "annotation note" } });
  return { label, note };
}

/**
 * A live list of the annotations (optionally only those of `targets`). Each label is a button
 * that selects its annotation (Delete then removes it); × deletes it. Text only, never HTML.
 */
export function annotationList(model, targets = null, { undo = null, selected = () => null, select = () => {} } = {}) {
  const ul = h("ul", { class: "fw-ann-list", attrs: { "aria-label": "annotations" } });
  const render = () => {
    ul.replaceChildren();
    for (const a of model.get("annotations") || []) {
      if (targets && !targets.includes(a.target)) continue;
      const where = a.kind === "mesh" ? (a.regions || []).join(", ") : `${(a.points || []).length} points`;
      const name = a.label || "(no label)";
      const pick = button(name, () => select(a.id), "fw-ann-item-label");
      pick.setAttribute("aria-pressed", String(selected() === a.id));
      const del = button("×", () => removeAnnotation(model, a.id, undo), "fw-button fw-ann-delete");
      del.setAttribute("aria-label", `delete annotation ${name}`);
      const li = h("li", { class: "fw-ann-item", attrs: { "data-id": a.id } }, [
        pick,
        h("span", { class: "fw-ann-item-kind", text: ` ${a.kind} · ${a.target} · ${where}` }),
        a.note ? h("span", { class: "fw-ann-item-note", text: ` — ${a.note}` }) : null,
        del,
      ]);
      li.classList.toggle("fw-selected", selected() === a.id);
      ul.appendChild(li);
    }
  };
  const off = onModel(model, "change:annotations", render);
  render();
  return { el: ul, render, dispose: off };
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/**
 * Drawing tool for photos. The view routes pointer events (press) and key presses (key) here.
 * Points are photo pixels. `redraw` repaints the view; `undo` is the view's UndoStack.
 *
 * Keyboard (canvas focused): with the polygon tool the arrow keys move a cursor (Shift: 10×),
 * Space adds a vertex there, Enter finishes the polygon, Escape cancels it; Delete removes the
 * selected annotation. In "move" mode a polygon's vertices can be dragged.
 */
export function photoAnnotator(model, { target = "photo", redraw = () => {}, undo = null, centre = () => [0, 0] } = {}) {
  let tool = "none";
  let pending = [];
  let radius = 12;
  let cursor = null; // keyboard cursor, photo pixels
  let selectedId = null;
  const { label, note } = textInputs();
  const toolButtons = {};
  const setTool = (t) => {
    tool = t;
    pending = [];
    cursor = null;
    for (const [k, b] of Object.entries(toolButtons)) {
      b.classList.toggle("fw-active", k === t);
      b.setAttribute("aria-pressed", String(k === t));
    }
    finish.hidden = t !== "polygon";
    brush.el.hidden = t !== "brush";
    redraw();
  };
  const names = { none: "move", polygon: "polygon", brush: "brush" };
  const help = { none: "move: drag the overlay or a polygon's vertices", polygon: "polygon: click or use the arrow keys and Space to add vertices, Enter to finish, Escape to cancel", brush: "brush: paint with the mouse" };
  for (const t of ["none", "polygon", "brush"]) {
    toolButtons[t] = button(names[t], () => setTool(t), `fw-button fw-tool fw-tool-${t}`);
    toolButtons[t].title = help[t];
  }
  const select = (id) => { selectedId = id; list.render(); redraw(); };
  const commit = (kind) => {
    const ann = { kind, target, points: pending.map((p) => [p[0], p[1]]), label: label.value, note: note.value };
    if (kind === "brush") ann.radius = radius;
    pending = [];
    const e = addAnnotation(model, ann, undo);
    selectedId = e.id;
    list.render();
    redraw();
  };
  const finishPolygon = () => {
    if (pending.length >= 3) { commit("polygon"); return true; }
    return false;
  };
  const finish = button("finish polygon", finishPolygon, "fw-button fw-ann-finish");
  finish.hidden = true;
  const brush = slider("brush radius", { min: 1, max: 60, step: 1, value: radius, onInput: (v) => { radius = v; redraw(); } });
  brush.el.classList.add("fw-brush-radius");
  brush.el.hidden = true;
  const list = annotationList(model, [target], { undo, selected: () => selectedId, select });
  const el = h("div", { class: "fw-annotate" }, [
    h("div", { class: "fw-ann-tools", attrs: { role: "toolbar", "aria-label": "annotation tools" } },
      [toolButtons.none, toolButtons.polygon, toolButtons.brush, brush.el, label, note, finish]),
    list.el,
  ]);
  toolButtons.none.classList.add("fw-active");
  for (const [k, b] of Object.entries(toolButtons)) b.setAttribute("aria-pressed", String(k === "none"));

  const mine = () => (model.get("annotations") || []).filter((a) => a.target === target);
  /** the polygon vertex within `tol` photo pixels of pt: {ann, index} or null */
  const vertexAt = (pt, tol) => {
    let best = null, bestD = tol;
    for (const a of mine()) {
      if (a.kind !== "polygon") continue;
      (a.points || []).forEach((p, i) => {
        const d = Math.hypot(p[0] - pt[0], p[1] - pt[1]);
        if (d <= bestD) { bestD = d; best = { ann: a, index: i }; }
      });
    }
    return best;
  };

  return {
    el,
    tool: () => tool,
    setTool,
    selected: () => selectedId,
    select,
    /** start of a press on the photo (photo pixels; `tol` = grab distance in photo pixels) */
    press(pt, tol = 6) {
      if (tool === "polygon") {
        pending.push(pt);
        cursor = pt.slice();
        redraw();
        return { move() {}, end() {} };
      }
      if (tool === "brush") {
        pending = [pt];
        return {
          move: (p) => { pending.push(p); redraw(); },
          end: () => { if (pending.length) commit("brush"); },
        };
      }
      const hit = vertexAt(pt, tol);
      if (!hit) return null;
      const id = hit.ann.id;
      const before = copy(hit.ann.points);
      let points = copy(before);
      selectedId = id;
      return {
        move: (p) => {
          points = copy(points);
          points[hit.index] = [p[0], p[1]];
          model.set("annotations", (model.get("annotations") || []).map((x) => (x.id === id ? { ...x, points } : x)));
          redraw();
        },
        end: (_p, moved) => {
          if (!moved) { list.render(); redraw(); return; }
          const e = annotationEdits.update(model, id, { points: before }, { points });
          if (undo) undo.push(e);
        },
      };
    },
    /** a key pressed while the view has focus; returns true when handled */
    key(e, action) {
      if (action === "delete" && selectedId && tool !== "polygon") {
        removeAnnotation(model, selectedId, undo);
        selectedId = null;
        redraw();
        return true;
      }
      if (tool !== "polygon") return false;
      if (action === "finish") return finishPolygon() || true;
      if (action === "cancel") { pending = []; cursor = null; redraw(); return true; }
      if (action === "delete") { pending.pop(); redraw(); return true; }
      const step = ARROWS[e.key];
      if (step) {
        if (!cursor) cursor = centre();
        const k = (e.shiftKey ? 10 : 1) * (this.step || 1);
        cursor = [cursor[0] + step[0] * k, cursor[1] + step[1] * k];
        redraw();
        return true;
      }
      if (e.key === " " || e.key === "Spacebar") {
        if (!cursor) cursor = centre();
        pending.push(cursor.slice());
        redraw();
        return true;
      }
      return false;
    },
    /** photo pixels per arrow-key press (the view sets it to one CSS pixel) */
    step: 1,
    pending: () => pending,
    cursor: () => cursor,
    radius: () => radius,
    setRadius(r) { radius = r; brush.input.value = String(r); },
    draw(ctx, toCanvas, scale, ratio = 1) {
      const anns = mine();
      const path = (pts, close) => {
        ctx.beginPath();
        pts.forEach((p, i) => { const [x, y] = toCanvas(p[0], p[1]); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
        if (close) ctx.closePath();
      };
      ctx.save();
      ctx.lineJoin = "round";
      ctx.lineCap = "round";
      for (const a of anns) {
        if (!a.points || !a.points.length) continue;
        const sel = a.id === selectedId;
        if (a.kind === "polygon") {
          path(a.points, true);
          ctx.fillStyle = sel ? "rgba(255, 200, 0, 0.22)" : "rgba(0, 200, 255, 0.18)";
          ctx.fill();
          ctx.strokeStyle = sel ? "rgba(255, 200, 0, 0.95)" : "rgba(0, 200, 255, 0.95)";
          ctx.lineWidth = 2 * ratio;
          ctx.stroke();
          if (tool === "none" || sel) {
            ctx.fillStyle = ctx.strokeStyle;
            for (const p of a.points) { const [x, y] = toCanvas(p[0], p[1]); ctx.fillRect(x - 3 * ratio, y - 3 * ratio, 6 * ratio, 6 * ratio); }
          }
        } else {
          path(a.points, false);
          ctx.strokeStyle = sel ? "rgba(255, 200, 0, 0.5)" : "rgba(0, 255, 120, 0.45)";
          ctx.lineWidth = Math.max(1, 2 * (a.radius || 8) * scale);
          ctx.stroke();
        }
        const [lx, ly] = toCanvas(a.points[0][0], a.points[0][1]);
        ctx.fillStyle = "white";
        ctx.font = `${12 * ratio}px sans-serif`;
        ctx.fillText(a.label || "", lx + 4 * ratio, ly - 4 * ratio); // canvas text: never parsed as HTML
      }
      if (pending.length) {
        path(pending, false);
        ctx.strokeStyle = tool === "brush" ? "rgba(0, 255, 120, 0.6)" : "rgba(255, 255, 0, 0.95)";
        ctx.lineWidth = tool === "brush" ? Math.max(1, 2 * radius * scale) : 2 * ratio;
        ctx.stroke();
      }
      if (cursor && tool === "polygon") {
        const [x, y] = toCanvas(cursor[0], cursor[1]);
        ctx.strokeStyle = "rgba(255, 255, 0, 0.95)";
        ctx.lineWidth = 1.5 * ratio;
        ctx.beginPath();
        ctx.moveTo(x - 8 * ratio, y); ctx.lineTo(x + 8 * ratio, y);
        ctx.moveTo(x, y - 8 * ratio); ctx.lineTo(x, y + 8 * ratio);
        ctx.stroke();
      }
      ctx.restore();
    },
    dispose: () => list.dispose(),
  };
}

/** Annotate the selected canonical-face region. `selected()` returns {name, triangles} or null. */
export function meshAnnotator(model, selected, undo = null) {
  const { label, note } = textInputs();
  const add = button("annotate selected region", () => {
    const s = selected();
    if (!s) return;
    addAnnotation(model, { kind: "mesh", target: "canonical", regions: [s.name], triangles: Array.from(s.triangles), label: label.value, note: note.value }, undo);
  }, "fw-button fw-ann-add");
  const list = annotationList(model, ["canonical"], { undo });
  const el = h("div", { class: "fw-annotate" }, [h("div", { class: "fw-ann-tools" }, [label, note, add]), list.el]);
  return { el, dispose: () => list.dispose() };
}
