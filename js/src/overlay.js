// OverlayView: photo + draggable / resizable map overlay, colour controls, annotations, live runs.
import { photoAnnotator } from "./annotate.js";
import { decodeMap, float32Array, uint16Array } from "./buffers.js";
import { colorBar, fmtP, fmtValue } from "./colorbar.js";
import { colormapNames } from "./colormap.js";
import { sameGrid, sampleMap } from "./pair.js";
import { button, canvasPoint, h, listen, onModel, select, slider } from "./dom.js";
import { boxAffine, composeAffine, findTriangle, inBox, moveBox, resizeBox } from "./geometry.js";
import { trackDrags } from "./gesture.js";
import { contentWidth, watchSize } from "./layout.js";
import { liveControls } from "./live.js";
import { mapBitmap, photoPanel } from "./photo.js";
import { bindViewKeys, traitEdit, UndoStack } from "./undo.js";

const HANDLE = 10; // canvas pixels of the resize handle

export function renderOverlay({ model, el }) {
  const root = h("div", { class: "fw-root fw-overlay" });
  root.dataset.painted = "false";
  root.dataset.paints = "0";
  root.dataset.overlayUpdates = "0";
  const title = h("div", { class: "fw-title" });
  const panel = photoPanel(640);
  panel.canvas.tabIndex = 0;
  panel.canvas.setAttribute("role", "img");
  panel.canvas.setAttribute("aria-label", "photo with its map: drag to move the map; with the polygon tool, arrow keys and Space add vertices, Enter finishes");
  const disposers = [];
  const undo = new UndoStack();
  let decoded = null;
  let bitmap = null;

  const annot = photoAnnotator(model, {
    target: "photo", redraw: () => paint(), undo,
    centre: () => { const b = panel.box; return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]; },
  });
  const live = liveControls(model, root);
  disposers.push(annot.dispose, live.dispose);

  // canonical regions on this face: names under the pointer, a linked view's selection outlined
  let lm = null, tris = null, triRegion = null, outline = null;
  const decodeRegions = () => {
    const l = model.get("landmarks"), t = model.get("triangles"), r = model.get("triangle_regions");
    lm = l && l.byteLength ? float32Array(l) : null;
    tris = t && t.byteLength ? uint16Array(t) : null;
    triRegion = r && r.byteLength ? Int16Array.from(uint16Array(r), (v) => (v > 32767 ? v - 65536 : v)) : null;
    const o = model.get("region_outline") || {};
    outline = o.photo && o.photo.byteLength ? float32Array(o.photo) : null;
    root.dataset.outline = o.name || "";
    root.dataset.outlineSegments = String(outline ? outline.length / 4 : 0);
  };
  const regionAt = (x, y) => {
    if (!lm || !tris || !triRegion) return "";
    const hit = findTriangle(lm, tris, x, y);
    const k = hit ? triRegion[hit.index] : -1;
    return k >= 0 ? (model.get("region_names") || [])[k] || "" : "";
  };
  const bar = colorBar();
  const readout = h("div", { class: "fw-readout", attrs: { "aria-live": "polite" } });
  let sig = null, pv = null;
  const opts = () => ({
    colormap: model.get("colormap"), divergingColormap: model.get("diverging_colormap"),
    mode: model.get("scale"), threshold: model.get("threshold"), opacity: model.get("opacity"),
    mask: sig && !model.get("show_insignificant") ? sig.values : null,
  });
  const rebuildBitmap = () => {
    const p = model.get("overlay");
    decoded = p ? decodeMap(p) : null;
    const s = model.get("significant");
    sig = s && decoded ? decodeMap(s) : null;
    if (sig && !sameGrid(sig, decoded)) sig = null;
    const q = model.get("p_value");
    pv = q && decoded ? decodeMap(q) : null;
    bitmap = decoded ? mapBitmap(decoded, opts()) : null;
    if (decoded) {
      bar.update({ colormap: model.get("colormap"), divergingColormap: model.get("diverging_colormap"), lo: decoded.lo, hi: decoded.hi,
        mode: model.get("scale"), label: model.get("quantity") || model.get("map_name") || "map value" });
    }
    bar.el.hidden = !decoded;
    sigButton.hidden = !sig;
    sigButton.classList.toggle("fw-active", !!model.get("show_insignificant"));
    sigButton.setAttribute("aria-pressed", String(!!model.get("show_insignificant")));
    root.dataset.significance = sig ? (model.get("show_insignificant") ? "shown" : "hidden") : "none";
  };
  const sigButton = button("show non-significant", () => {
    const before = !!model.get("show_insignificant");
    model.set("show_insignificant", !before);
    model.save_changes();
    undo.push(traitEdit(model, "show_insignificant", before, !before, "show non-significant"));
  }, "fw-button fw-significance");
  const currentAffine = () => {
    const box = model.get("overlay_box");
    const nat = model.get("natural_box");
    if (!decoded) return null;
    if (box && box.length === 4 && nat && nat.length === 4) return composeAffine(boxAffine(nat, box), decoded.affine);
    return decoded.affine;
  };

  function paint() {
    const aff = currentAffine();
    const ok = panel.draw(aff ? [{ bitmap, affine: aff }] : []);
    const ctx = panel.ctx;
    const box = model.get("overlay_box");
    if (ctx && decoded && box && box.length === 4) {
      const [x0, y0] = panel.toCanvas(box[0], box[1]);
      const [x1, y1] = panel.toCanvas(box[2], box[3]);
      ctx.strokeStyle = "rgba(255,255,255,0.8)";
      ctx.lineWidth = panel.ratio;
      ctx.setLineDash([4 * panel.ratio, 3 * panel.ratio]);
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([]);
      ctx.fillStyle = "rgba(255,255,255,0.9)";
      const hs = HANDLE * panel.ratio;
      ctx.fillRect(x1 - hs, y1 - hs, hs, hs);
    }
    if (ctx && outline) {
      ctx.save();
      ctx.lineCap = "round";
      for (const [colour, width] of [["rgba(0,0,0,0.7)", 4], ["#ffffff", 2]]) {
        ctx.strokeStyle = colour;
        ctx.lineWidth = width * panel.ratio;
        ctx.beginPath();
        for (let i = 0; i < outline.length; i += 4) {
          ctx.moveTo(...panel.toCanvas(outline[i], outline[i + 1]));
          ctx.lineTo(...panel.toCanvas(outline[i + 2], outline[i + 3]));
        }
        ctx.stroke();
      }
      ctx.restore();
    }
    if (ctx) annot.draw(ctx, panel.toCanvas, panel.scale, panel.ratio);
    if (ok) {
      root.dataset.painted = "true";
      root.dataset.paints = String(Number(root.dataset.paints) + 1);
    }
  }

  // Dragging the overlay: model.set on every move (local only), one save_changes at the end.
  disposers.push(trackDrags(panel.canvas, (p) => {
    const pt = panel.toPhoto(p[0], p[1]);
    const drawing = annot.press(pt, (6 * panel.ratio) / panel.scale);
    if (drawing) return { move: (q) => drawing.move(panel.toPhoto(q[0], q[1])), end: (q, moved) => drawing.end(panel.toPhoto(q[0], q[1]), moved) };
    const box = model.get("overlay_box");
    if (!decoded || !box || box.length !== 4) return null;
    const [cx1, cy1] = panel.toCanvas(box[2], box[3]);
    const hs = HANDLE * panel.ratio, slack = 2 * panel.ratio;
    const onHandle = p[0] >= cx1 - hs - slack && p[0] <= cx1 + slack && p[1] >= cy1 - hs - slack && p[1] <= cy1 + slack;
    if (!onHandle && !inBox(box, pt[0], pt[1])) return null;
    const start = box.slice();
    return {
      move(_q, dx, dy) {
        const d = [dx / panel.scale, dy / panel.scale];
        model.set("overlay_box", onHandle ? resizeBox(start, d[0], d[1]) : moveBox(start, d[0], d[1]));
        paint();
      },
      end(_q, moved) {
        if (!moved) return;
        model.save_changes();
        undo.push(traitEdit(model, "overlay_box", start, model.get("overlay_box"), onHandle ? "resize overlay" : "move overlay"));
      },
    };
  }));

  const opacity = slider("opacity", { min: 0, max: 1, step: 0.05, value: model.get("opacity"),
    onInput: (v) => { model.set("opacity", v); }, onCommit: () => model.save_changes() });
  const threshold = slider("threshold", { min: 0, max: 1, step: 0.01, value: model.get("threshold"),
    onInput: (v) => { model.set("threshold", v); }, onCommit: () => model.save_changes() });
  const cmap = select("colours", colormapNames(), model.get("colormap"), (v) => { model.set("colormap", v); model.save_changes(); });
  const scale = select("scale", ["auto", "sequential", "diverging"], model.get("scale"), (v) => { model.set("scale", v); model.save_changes(); });
  const mapSel = select("map", model.get("map_names") || [], model.get("map_name"), (v) => { model.set("map_name", v); model.save_changes(); });
  const controls = h("div", { class: "fw-controls" }, [mapSel.el, opacity.el, threshold.el, cmap.el, scale.el, sigButton]);

  const syncControls = () => {
    opacity.input.value = String(model.get("opacity"));
    threshold.input.value = String(model.get("threshold"));
    cmap.input.value = model.get("colormap");
    scale.input.value = model.get("scale");
    const names = model.get("map_names") || [];
    mapSel.input.replaceChildren(...names.map((n) => h("option", { text: n, attrs: { value: n } })));
    mapSel.input.value = model.get("map_name");
    mapSel.el.hidden = names.length < 2;
    title.textContent = model.get("title") || "";
  };

  const loadPhoto = () => {
    const done = panel.setPhoto(model.get("photo"), model.get("photo_size"));
    panel.fit(contentWidth(root));
    panel.setView(model.get("view_box"));
    annot.step = panel.ratio / panel.scale;
    return done.then(paint, () => {});
  };
  disposers.push(
    onModel(model, "change:photo", loadPhoto),
    onModel(model, "change:overlay", () => {
      rebuildBitmap();
      root.dataset.overlayUpdates = String(Number(root.dataset.overlayUpdates) + 1);
      paint();
    }),
    onModel(model, "change:overlay_box", paint),
    onModel(model, "change:view_box", () => { panel.setView(model.get("view_box")); paint(); }),
    onModel(model, "change:annotations", paint),
    listen(panel.canvas, "pointermove", (e) => {
      const pt = panel.toPhoto(...canvasPoint(panel.canvas, e));
      const region = regionAt(pt[0], pt[1]);
      root.dataset.hoverRegion = region;
      const aff = currentAffine();
      if (!decoded || !aff) { readout.textContent = region; return; }
      const at = (d) => (d ? sampleMap({ ...d, affine: aff }, pt[0], pt[1]) : NaN);
      const v = at(decoded), p = at(pv);
      readout.textContent = `${region ? `${region} · ` : ""}${model.get("quantity") || model.get("map_name") || "value"} ${fmtValue(v)}${pv ? ` · p ${fmtP(p)}` : ""}`;
      root.dataset.readout = `${v},${p}`;
    }),
    listen(panel.canvas, "pointerleave", () => { readout.textContent = ""; }),
    ...["landmarks", "triangles", "triangle_regions", "region_names", "region_outline"].map((k) => onModel(model, `change:${k}`, () => { decodeRegions(); paint(); })),
    ...["significant", "p_value", "show_insignificant", "quantity"].map((k) => onModel(model, `change:${k}`, () => { rebuildBitmap(); paint(); })),
    ...["opacity", "threshold", "colormap", "diverging_colormap", "scale"].map((k) =>
      onModel(model, `change:${k}`, () => { rebuildBitmap(); paint(); syncControls(); })),
    ...["map_names", "map_name", "title"].map((k) => onModel(model, `change:${k}`, syncControls)),
  );

  const relayout = () => {
    panel.fit(contentWidth(root));
    annot.step = panel.ratio / panel.scale; // an arrow key moves the cursor one CSS pixel
    paint();
  };
  disposers.push(bindViewKeys(root, undo, (e, action) => annot.key(e, action)));

  root.append(title, h("div", { class: "fw-stage" }, [panel.canvas]), h("div", { class: "fw-legend" }, [bar.el, readout]), controls, live.el, annot.el);
  el.appendChild(root);
  disposers.push(watchSize(root, relayout));
  syncControls();
  decodeRegions();
  rebuildBitmap();
  loadPhoto();
  return () => {
    disposers.forEach((f) => f());
    panel.dispose();
    root.remove();
  };
}
