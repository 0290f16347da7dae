// Annotations: polygon and brush regions on photos, mesh regions on the canonical face.
// Stored in the synced `annotations` trait (schema: facewidget/widgets/annotations.py); labels and
// notes are rendered with textContent only.
import { button, h, onModel } from "./dom.js";

export function newId() {
  return Math.random().toString(36).slice(2, 10) + Date.now().toString(36).slice(-4);
}

/** Append one annotation and sync it (one save_changes). */
export function addAnnotation(model, ann) {
  const list = (model.get("annotations") || []).slice();
  list.push({ id: newId(), ...ann });
  model.set("annotations", list);
  model.save_changes();
}

function removeAnnotation(model, id) {
  model.set("annotations", (model.get("annotations") || []).filter((a) => a.id !== id));
  model.save_changes();
}

/** The label / note inputs shared by the annotation tools. */
function textInputs() {
  const label = h("input", { class: "fw-ann-label", attrs: { type: "text", placeholder: "label" } });
  const note = h("input", { class: "fw-ann-note", attrs: { type: "text", placeholder: "note" } });
  return { label, note };
}

/** A live list of the annotations (optionally only those of `targets`). */
export function annotationList(model, targets = null) {
  const ul = h("ul", { class: "fw-ann-list" });
  const render = () => {
    ul.replaceChildren();
    for (const a of model.get("annotations") || []) {
      if (targets && !targets.includes(a.target)) continue;
      const where = a.kind === "mesh" ? (a.regions || []).join(", ") : `${(a.points || []).length} points`;
      const li = h("li", { class: "fw-ann-item", attrs: { "data-id": a.id } }, [
        h("span", { class: "fw-ann-item-label", text: a.label || "(no label)" }),
        h("span", { class: "fw-ann-item-kind", text: ` ${a.kind} · ${a.target} · ${where}` }),
        a.note ? h("span", { class: "fw-ann-item-note", text: ` — ${a.note}` }) : null,
        button("×", () => removeAnnotation(model, a.id), "fw-button fw-ann-delete"),
      ]);
      ul.appendChild(li);
    }
  };
  const off = onModel(model, "change:annotations", render);
  render();
  return { el: ul, dispose: off };
}

/**
 * Drawing tool for photos. The view routes pointer events here while tool() !== "none".
 * Points are photo pixels. `redraw` repaints the view.
 */
export function photoAnnotator(model, { target = "photo", redraw = () => {} } = {}) {
  let tool = "none";
  let pending = [];
  let radius = 12;
  const { label, note } = textInputs();
  const toolButtons = {};
  const setTool = (t) => {
    tool = t;
    pending = [];
    for (const [k, b] of Object.entries(toolButtons)) b.classList.toggle("fw-active", k === t);
    finish.hidden = t !== "polygon";
    redraw();
  };
  for (const t of ["none", "polygon", "brush"]) {
    toolButtons[t] = button(t === "none" ? "move" : t, () => setTool(t), `fw-button fw-tool fw-tool-${t}`);
  }
  const commit = (kind) => {
    const ann = { kind, target, points: pending.map((p) => [p[0], p[1]]), label: label.value, note: note.value };
    if (kind === "brush") ann.radius = radius;
    pending = [];
    addAnnotation(model, ann);
    redraw();
  };
  const finish = button("finish polygon", () => { if (pending.length >= 3) commit("polygon"); }, "fw-button fw-ann-finish");
  finish.hidden = true;
  const list = annotationList(model, [target]);
  const el = h("div", { class: "fw-annotate" }, [
    h("div", { class: "fw-ann-tools" }, [toolButtons.none, toolButtons.polygon, toolButtons.brush, label, note, finish]),
    list.el,
  ]);
  toolButtons.none.classList.add("fw-active");

  return {
    el,
    tool: () => tool,
    setTool,
    /** start of a press on the photo (point in photo pixels); returns a gesture or null */
    press(pt) {
      if (tool === "polygon") {
        pending.push(pt);
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
      return null;
    },
    pending: () => pending,
    radius: () => radius,
    draw(ctx, toCanvas, scale) {
      const anns = (model.get("annotations") || []).filter((a) => a.target === target);
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
        if (a.kind === "polygon") {
          path(a.points, true);
          ctx.fillStyle = "rgba(0, 200, 255, 0.18)";
          ctx.fill();
          ctx.strokeStyle = "rgba(0, 200, 255, 0.95)";
          ctx.lineWidth = 2;
          ctx.stroke();
        } else {
          path(a.points, false);
          ctx.strokeStyle = "rgba(0, 255, 120, 0.45)";
          ctx.lineWidth = Math.max(1, 2 * (a.radius || 8) * scale);
          ctx.stroke();
        }
        const [lx, ly] = toCanvas(a.points[0][0], a.points[0][1]);
        ctx.fillStyle = "white";
        ctx.font = "12px sans-serif";
        ctx.fillText(a.label || "", lx + 4, ly - 4); // canvas text: never parsed as HTML
      }
      if (pending.length) {
        path(pending, false);
        ctx.strokeStyle = tool === "brush" ? "rgba(0, 255, 120, 0.6)" : "rgba(255, 255, 0, 0.95)";
        ctx.lineWidth = tool === "brush" ? Math.max(1, 2 * radius * scale) : 2;
        ctx.stroke();
      }
      ctx.restore();
    },
    dispose: () => list.dispose(),
  };
}

/** Annotate the selected canonical-face region. `selected()` returns {name, triangles} or null. */
export function meshAnnotator(model, selected) {
  const { label, note } = textInputs();
  const add = button("annotate selected region", () => {
    const s = selected();
    if (!s) return;
    addAnnotation(model, { kind: "mesh", target: "canonical", regions: [s.name], triangles: Array.from(s.triangles), label: label.value, note: note.value });
  }, "fw-button fw-ann-add");
  const list = annotationList(model, ["canonical"]);
  const el = h("div", { class: "fw-annotate" }, [h("div", { class: "fw-ann-tools" }, [label, note, add]), list.el]);
  return { el, dispose: () => list.dispose() };
}
