// PairView: both photos, similar / dissimilar / difference maps (toggle or side by side), linked
// hover through the face mesh, score, decision and a threshold slider.
import { decodeMap, float32Array, uint16Array } from "./buffers.js";
import { colorBar, fmtP, fmtValue } from "./colorbar.js";
import { resolveMode, sharedRange } from "./colormap.js";
import { button, canvasPoint, h, listen, onModel, slider } from "./dom.js";
import { applyAffine, findTriangle, invertAffine, mapThroughMesh } from "./geometry.js";
import { contentWidth, watchSize } from "./layout.js";
import { liveControls } from "./live.js";
import { mapBitmap, photoPanel } from "./photo.js";
import { bindViewKeys, traitEdit, UndoStack } from "./undo.js";

const SIDES = ["a", "b"];

/** "same" / "different" at `threshold` (the rule of PairView._decide). */
export function decide(score, threshold, higherIsSimilar) {
  if (!Number.isFinite(score) || !Number.isFinite(threshold)) return "";
  const same = higherIsSimilar ? score >= threshold : score < threshold;
  return same ? "same" : "different";
}

/** similar − dissimilar on the same grid, or null when the grids differ. */
export function differenceMap(sim, dis) {
  if (!sim || !dis || sim.width !== dis.width || sim.height !== dis.height) return null;
  if (sim.affine.some((v, i) => Math.abs(v - dis.affine[i]) > 1e-9)) return null;
  const values = new Float32Array(sim.values.length);
  for (let i = 0; i < values.length; i++) values[i] = sim.values[i] - dis.values[i];
  return { ...sim, values };
}

/** Value of decoded map `d` at photo point (x, y) (nearest map pixel), or NaN outside it. */
export function sampleMap(d, x, y) {
  if (!d) return NaN;
  let inv;
  try { inv = invertAffine(d.affine); } catch (e) { return NaN; }
  const [u, v] = applyAffine(inv, x, y);
  const i = Math.round(u), j = Math.round(v);
  if (i < 0 || j < 0 || i >= d.width || j >= d.height) return NaN;
  return d.values[j * d.width + i];
}

/** true when two decoded maps lie on the same grid (same size and placement) */
export function sameGrid(p, q) {
  return !!p && !!q && p.width === q.width && p.height === q.height && p.affine.every((v, i) => Math.abs(v - q.affine[i]) < 1e-6);
}

function fmt(x) {
  return Number.isFinite(x) ? x.toFixed(3) : "–";
}

export function renderPair({ model, el }) {
  const root = h("div", { class: "fw-root fw-pair" });
  root.dataset.painted = "false";
  root.dataset.paints = "0";
  root.dataset.mapUpdates = "0";
  const title = h("div", { class: "fw-title" });
  const info = h("div", { class: "fw-info" });
  const grid = h("div", { class: "fw-pair-grid" });
  const disposers = [];
  let panels = []; // {side, kind, panel, bitmap, affine}
  let loaded = { a: false, b: false };
  let hover = null; // {side, p: [x, y], q: [x, y] | null}
  let lm = { a: null, b: null };
  let tris = null;
  let triRegion = null; // Int16Array: canonical region of every mesh triangle
  let outline = { a: null, b: null }; // Float32Array segments x0 y0 x1 y1 (photo pixels)

  const live = liveControls(model, root);
  disposers.push(live.dispose);

  const kindsShown = () => (model.get("arrangement") === "side" ? ["similar", "dissimilar"] : [model.get("mode")]);
  const undo = new UndoStack();
  const bar = colorBar();
  const readout = h("div", { class: "fw-readout", attrs: { "aria-live": "polite" } });
  const modeOf = (kind) => (kind === "difference" ? "diverging" : model.get("scale"));
  const opts = (kind, range, mask) => ({
    colormap: model.get("colormap"), divergingColormap: model.get("diverging_colormap"),
    mode: modeOf(kind), threshold: model.get("map_threshold"), opacity: model.get("opacity"),
    range, mask: model.get("show_insignificant") ? null : mask,
  });

  const decodeLandmarks = () => {
    for (const s of SIDES) {
      const b = model.get(`landmarks_${s}`);
      lm[s] = b && b.byteLength ? float32Array(b) : null;
    }
    const t = model.get("triangles");
    tris = t && t.byteLength ? uint16Array(t) : null;
  };
  const decodeRegions = () => {
    const b = model.get("triangle_regions");
    triRegion = b && b.byteLength ? Int16Array.from(uint16Array(b), (v) => (v > 32767 ? v - 65536 : v)) : null;
    const o = model.get("region_outline") || {};
    for (const s of SIDES) outline[s] = o[s] && o[s].byteLength ? float32Array(o[s]) : null;
    root.dataset.outline = o.name || "";
    root.dataset.outlineSegments = String(SIDES.reduce((n, s) => n + (outline[s] ? outline[s].length / 4 : 0), 0));
  };
  /** name of the canonical region under photo point (x, y) of face `side` ("" when none) */
  const regionAt = (side, x, y) => {
    if (!lm[side] || !tris || !triRegion) return "";
    const hit = findTriangle(lm[side], tris, x, y);
    const k = hit ? triRegion[hit.index] : -1;
    return k >= 0 ? (model.get("region_names") || [])[k] || "" : "";
  };
  function drawOutline(p) {
    const seg = outline[p.side];
    const ctx = p.panel.ctx;
    if (!seg || !ctx) return;
    ctx.save();
    ctx.lineCap = "round";
    for (const [colour, width] of [["rgba(0,0,0,0.7)", 4], ["#ffffff", 2]]) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width * p.panel.ratio;
      ctx.beginPath();
      for (let i = 0; i < seg.length; i += 4) {
        const [x0, y0] = p.panel.toCanvas(seg[i], seg[i + 1]);
        const [x1, y1] = p.panel.toCanvas(seg[i + 2], seg[i + 3]);
        ctx.moveTo(x0, y0);
        ctx.lineTo(x1, y1);
      }
      ctx.stroke();
    }
    ctx.restore();
  }

  const decoded = (side, kind) => {
    const maps = (model.get("maps") || {})[side] || {};
    if (kind === "difference") return differenceMap(decodeMap(maps.similar), decodeMap(maps.dissimilar));
    return maps[kind] ? decodeMap(maps[kind]) : null;
  };

  const significance = (side, d) => {
    const maps = (model.get("maps") || {})[side] || {};
    const sig = maps.significant ? decodeMap(maps.significant) : null;
    const pv = maps.p_value ? decodeMap(maps.p_value) : null;
    return { mask: sig && sameGrid(sig, d) ? sig.values : null, sig, pv };
  };
  /** the range the panels share: every similar/dissimilar map of both faces (or both differences) */
  const pairRange = () => {
    const kinds = panels.length && panels[0].kind === "difference" ? ["difference"] : ["similar", "dissimilar"];
    return sharedRange(SIDES.flatMap((s) => kinds.map((k) => {
      const d = decoded(s, k);
      if (!d || k !== "difference") return d;
      let lo = Infinity, hi = -Infinity;
      for (const v of d.values) { if (v < lo) lo = v; if (v > hi) hi = v; }
      return { lo, hi };
    })));
  };
  const rebuildBitmaps = () => {
    const shared = model.get("shared_scale") !== false;
    const range = shared ? pairRange() : null;
    let anySig = false;
    for (const p of panels) {
      const d = decoded(p.side, p.kind);
      const sig = d ? significance(p.side, d) : { mask: null, sig: null, pv: null };
      anySig = anySig || sig.mask !== null;
      p.decoded = d;
      p.sig = sig;
      p.bitmap = d ? mapBitmap(d, opts(p.kind, range, sig.mask)) : null;
      p.affine = d ? d.affine : null;
    }
    const kind = panels.length ? panels[0].kind : model.get("mode");
    const [lo, hi] = range || pairRange();
    const quantity = model.get("quantity") || "map value";
    const suffix = kind === "difference" ? " · similar − dissimilar" : kind === "dissimilar" ? " · dissimilar part (−value)" : "";
    bar.update({ colormap: model.get("colormap"), divergingColormap: model.get("diverging_colormap"), lo, hi,
      mode: modeOf(kind), label: `${quantity}${suffix}${shared ? "" : " · each panel to its own maximum"}`, relative: !shared });
    bar.el.hidden = !panels.some((p) => p.decoded);
    sigButton.hidden = !anySig;
    sigButton.classList.toggle("fw-active", !!model.get("show_insignificant"));
    sigButton.setAttribute("aria-pressed", String(!!model.get("show_insignificant")));
    scaleButton.textContent = shared ? "scale: shared" : "scale: per panel";
    scaleButton.setAttribute("aria-pressed", String(shared));
    root.dataset.sharedScale = String(shared);
    root.dataset.significance = anySig ? (model.get("show_insignificant") ? "shown" : "hidden") : "none";
  };

  function marker(ctx, x, y, colour, r = 1) {
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2 * r;
    ctx.beginPath();
    ctx.arc(x, y, 7 * r, 0, 2 * Math.PI);
    ctx.moveTo(x - 11 * r, y); ctx.lineTo(x + 11 * r, y);
    ctx.moveTo(x, y - 11 * r); ctx.lineTo(x, y + 11 * r);
    ctx.stroke();
    ctx.restore();
  }

  function paint() {
    let all = true;
    for (const p of panels) {
      const ok = p.panel.draw(p.bitmap ? [{ bitmap: p.bitmap, affine: p.affine }] : []);
      all = all && ok;
      drawOutline(p);
      const ctx = p.panel.ctx;
      if (ctx && hover) {
        const pt = hover.side === p.side ? hover.p : hover.q;
        if (pt) marker(ctx, ...p.panel.toCanvas(pt[0], pt[1]), hover.side === p.side ? "#00e5ff" : "#ffea00", p.panel.ratio);
      }
    }
    if (all && panels.length && loaded.a && loaded.b) {
      root.dataset.painted = "true";
      root.dataset.paints = String(Number(root.dataset.paints) + 1);
    }
  }

  /** CSS width of one grid column (two columns, 6 px gap); 0 before layout */
  const columnWidth = () => { const w = contentWidth(root); return w > 0 ? Math.floor((w - 6) / 2) : 0; };
  const relayout = () => {
    const col = columnWidth();
    panels.forEach((p) => p.panel.fit(col));
    paint();
  };

  let panelDisposers = [];
  function buildPanels() {
    panelDisposers.forEach((f) => f());
    panelDisposers = [];
    panels.forEach((p) => p.panel.dispose());
    grid.replaceChildren();
    loaded = { a: false, b: false };
    const side = model.get("arrangement") === "side";
    grid.classList.toggle("fw-pair-side", side);
    panels = [];
    for (const s of SIDES) {
      for (const kind of kindsShown()) {
        const panel = photoPanel(side ? 300 : 420, { maxHeight: 520 });
        panel.canvas.dataset.side = s;
        panel.canvas.dataset.kind = kind;
        const p = { side: s, kind, panel, bitmap: null, affine: null, decoded: null, sig: null };
        panels.push(p);
        const caption = h("div", { class: "fw-caption", text: `${s.toUpperCase()} · ${kind}` });
        grid.appendChild(h("div", { class: "fw-pair-cell" }, [panel.canvas, caption]));
        panelDisposers.push(
          listen(panel.canvas, "pointermove", (e) => {
            const pt = panel.toPhoto(...canvasPoint(panel.canvas, e));
            const other = s === "a" ? "b" : "a";
            let q = null;
            if (lm[s] && lm[other] && tris) {
              const m = mapThroughMesh(lm[s], lm[other], tris, pt[0], pt[1]);
              if (m) q = [m.x, m.y];
            }
            hover = { side: s, p: pt, q };
            const v = sampleMap(p.decoded, pt[0], pt[1]);
            const pv = p.sig && p.sig.pv ? sampleMap(p.sig.pv, pt[0], pt[1]) : NaN;
            const quantity = model.get("quantity") || "value";
            const region = regionAt(s, pt[0], pt[1]);
            root.dataset.hoverRegion = region;
            readout.textContent = `${s.toUpperCase()}${region ? ` · ${region}` : ""} · ${kind}: ${quantity} ${fmtValue(v)}${p.sig && p.sig.pv ? ` · p ${fmtP(pv)}` : ""}`;
            root.dataset.readout = `${v},${pv}`;
            root.dataset.hoverSide = s;
            root.dataset.hover = `${pt[0].toFixed(1)},${pt[1].toFixed(1)}`;
            root.dataset.linked = q ? `${q[0].toFixed(1)},${q[1].toFixed(1)}` : "";
            paint();
          }),
          listen(panel.canvas, "pointerleave", () => { hover = null; root.dataset.linked = ""; readout.textContent = ""; paint(); }),
        );
      }
    }
    rebuildBitmaps();
    const col = columnWidth();
    for (const s of SIDES) {
      const mine = panels.filter((p) => p.side === s);
      Promise.all(mine.map((p) => {
        p.panel.fit(col);
        const done = p.panel.setPhoto(model.get(`photo_${s}`), model.get(`size_${s}`));
        p.panel.setView(model.get(`view_box_${s}`));
        return done;
      })).then(() => { loaded[s] = true; paint(); }, () => {});
    }
  }

  // --- controls ---
  const modeButtons = {};
  for (const m of ["similar", "dissimilar", "difference"]) {
    modeButtons[m] = button(m, () => setTrait("mode", m), `fw-button fw-mode fw-mode-${m}`);
  }
  /** set a trait from a control: one save_changes, undoable */
  function setTrait(key, value) {
    const before = model.get(key);
    if (before === value) return;
    model.set(key, value);
    model.save_changes();
    undo.push(traitEdit(model, key, before, value));
  }
  const sigButton = button("show non-significant", () => setTrait("show_insignificant", !model.get("show_insignificant")), "fw-button fw-significance");
  sigButton.title = "pixels whose map value is not significant (Benjamini–Hochberg) are transparent unless shown";
  const scaleButton = button("scale: shared", () => setTrait("shared_scale", model.get("shared_scale") === false), "fw-button fw-shared-scale");
  scaleButton.title = "shared: every panel of the pair uses one absolute scale; per panel: each map to its own maximum";
  const layoutButton = button("side by side", () => setTrait("arrangement", model.get("arrangement") === "side" ? "toggle" : "side"), "fw-button fw-layout");
  const scoreText = h("span", { class: "fw-score" });
  const decisionText = h("span", { class: "fw-decision" });
  const range = () => model.get("threshold_range") || [0, 1];
  const thr = slider("threshold", { min: range()[0], max: range()[1], step: (range()[1] - range()[0]) / 200 || 0.01,
    value: model.get("threshold"),
    onInput: (v) => { model.set("threshold", v); syncScore(); },
    onCommit: () => model.save_changes() });
  const syncScore = () => {
    const s = model.get("score");
    const t = model.get("threshold");
    scoreText.textContent = `score ${fmt(s)} · threshold ${fmt(t)} (${model.get("higher_is_similar") ? "higher" : "lower"} = more similar)`;
    const d = decide(s, t, model.get("higher_is_similar"));
    decisionText.textContent = d;
    decisionText.dataset.decision = d;
    root.dataset.decision = d;
  };
  const syncControls = () => {
    const mode = model.get("mode");
    for (const [m, b] of Object.entries(modeButtons)) b.classList.toggle("fw-active", m === mode);
    layoutButton.classList.toggle("fw-active", model.get("arrangement") === "side");
    const [lo, hi] = range();
    thr.input.min = String(lo);
    thr.input.max = String(hi);
    thr.input.step = String((hi - lo) / 200 || 0.01);
    thr.input.value = String(model.get("threshold") ?? lo);
    thr.el.hidden = !Number.isFinite(model.get("score")) || !Number.isFinite(model.get("threshold"));
    title.textContent = model.get("title") || "";
    info.textContent = model.get("info") || "";
    syncScore();
  };
  const controls = h("div", { class: "fw-controls" }, [modeButtons.similar, modeButtons.dissimilar, modeButtons.difference, layoutButton, scaleButton, sigButton, thr.el, scoreText, decisionText]);

  disposers.push(
    onModel(model, "change:maps", () => {
      rebuildBitmaps();
      root.dataset.mapUpdates = String(Number(root.dataset.mapUpdates) + 1);
      paint();
    }),
    onModel(model, "change:mode", () => { syncControls(); buildPanels(); }),
    onModel(model, "change:arrangement", () => { syncControls(); buildPanels(); }),
    ...["photo_a", "photo_b", "size_a", "size_b"].map((k) => onModel(model, `change:${k}`, buildPanels)),
    ...SIDES.map((s) => onModel(model, `change:view_box_${s}`, () => {
      panels.filter((p) => p.side === s).forEach((p) => p.panel.setView(model.get(`view_box_${s}`)));
      paint();
    })),
    ...["landmarks_a", "landmarks_b", "triangles"].map((k) => onModel(model, `change:${k}`, decodeLandmarks)),
    ...["triangle_regions", "region_names", "region_outline"].map((k) => onModel(model, `change:${k}`, () => { decodeRegions(); paint(); })),
    ...["opacity", "colormap", "diverging_colormap", "scale", "map_threshold", "shared_scale", "show_insignificant", "quantity"].map((k) =>
      onModel(model, `change:${k}`, () => { rebuildBitmaps(); paint(); })),
    ...["score", "threshold", "threshold_range", "higher_is_similar", "title", "info"].map((k) => onModel(model, `change:${k}`, syncControls)),
  );

  disposers.push(bindViewKeys(root, undo));
  root.append(title, grid, h("div", { class: "fw-legend" }, [bar.el, readout]), controls, info, live.el);
  el.appendChild(root);
  disposers.push(watchSize(root, relayout));
  decodeLandmarks();
  decodeRegions();
  syncControls();
  buildPanels();
  return () => {
    disposers.forEach((f) => f());
    panelDisposers.forEach((f) => f());
    panels.forEach((p) => p.panel.dispose());
    root.remove();
  };
}
