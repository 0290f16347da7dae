// CanonicalFaceView: the canonical mesh as a Lambert-shaded surface (painter's algorithm on a 2-D
// canvas), coloured by per-vertex values; drag rotates locally (one save_changes at the end),
// hover shows the region and its score, click selects a region.
import { meshAnnotator } from "./annotate.js";
import { decodeMap, float32Array, uint16Array } from "./buffers.js";
import { lut, scaleValues } from "./colormap.js";
import { button, canvas, canvasPoint, h, listen, onModel } from "./dom.js";
import { clamp, hitTriangle, meshFrame, triangleOrientation, triangleRegions } from "./geometry.js";
import { trackDrags } from "./gesture.js";
import { contentWidth, fitSize, pixelRatio, sizeCanvas, watchSize } from "./layout.js";
import { liveControls } from "./live.js";
import { rasterTextured, textureRGBA } from "./texture.js";
import { bindViewKeys, traitEdit, UndoStack } from "./undo.js";

const W = 360;
const H = 400;
const DEG_PER_PX = 0.5;

/** Per-triangle colour-map positions: the mean of the vertices' scaled values. */
export function triangleTones(values, triangles, mode) {
  if (!values) return null;
  const s = scaleValues(values, mode);
  const n = triangles.length / 3;
  const t = new Float32Array(n);
  for (let k = 0; k < n; k++) t[k] = (s.t[triangles[3 * k]] + s.t[triangles[3 * k + 1]] + s.t[triangles[3 * k + 2]]) / 3;
  return { t, mode: s.mode };
}

export function renderCanonical({ model, el }) {
  const root = h("div", { class: "fw-root fw-canonical" });
  root.dataset.painted = "false";
  root.dataset.paints = "0";
  const title = h("div", { class: "fw-title" });
  const { canvas: cv, ctx } = canvas(W, H, "fw-canvas fw-face");
  cv.tabIndex = 0;
  cv.setAttribute("role", "img");
  cv.setAttribute("aria-label", "canonical face: drag to rotate, click a region to select it, arrow keys rotate");
  let ratio = 1;
  const undo = new UndoStack();
  const relayout = () => {
    ratio = pixelRatio();
    const fit = fitSize(W, H, { available: contentWidth(root), preferred: W });
    sizeCanvas(cv, fit.width, fit.height, ratio);
  };
  const tooltip = h("div", { class: "fw-tooltip" });
  tooltip.hidden = true;
  const selectedText = h("div", { class: "fw-selected" });
  const disposers = [];
  let vertices = null, tris = null, sign = 1, tones = null, regions = [], triRegion = null, frame = null;
  let hoverRegion = -1;
  let view = { yaw: model.get("yaw"), pitch: model.get("pitch") };

  const live = liveControls(model, root);
  const annot = meshAnnotator(model, () => {
    const name = model.get("selected_region");
    const r = regions.find((x) => x.name === name);
    return r ? { name: r.name, triangles: r.triangles } : null;
  }, undo);
  disposers.push(live.dispose, annot.dispose);

  const decodeMesh = () => {
    vertices = float32Array(model.get("vertices"));
    tris = uint16Array(model.get("triangles"));
    sign = triangleOrientation(vertices, tris);
  };
  const decodeValues = () => {
    const p = model.get("values");
    const d = p ? decodeMap(p) : null;
    tones = d && tris ? triangleTones(d.values, tris, model.get("scale")) : null;
  };
  let tex = null, uvPx = null, texDecoded = null, texRGBA = null, texSize = 0, image = null, lift = null;
  const decodeTexture = () => {
    const p = model.get("texture");
    texDecoded = p ? decodeMap(p) : null;
    const uvb = model.get("uv");
    const uv = uvb && uvb.byteLength ? float32Array(uvb) : null;
    tex = null;
    uvPx = null;
    if (!texDecoded || !uv) return;
    const size = texDecoded.width;
    uvPx = new Float32Array(uv.length);
    for (let q = 0; q < uv.length; q++) uvPx[q] = uv[q] * size; // texel space: u R, v R
    const mode = model.get("scale");
    const m = scaleValues(texDecoded.values, mode).mode;
    texRGBA = textureRGBA(texDecoded.values, lut(m === "diverging" ? model.get("diverging_colormap") : model.get("colormap")), mode);
    texSize = size;
    tex = texRGBA;
  };
  const textured = () => tex !== null && model.get("face_style") !== "vertex";
  const decodeRegions = () => {
    regions = (model.get("regions") || []).map((r) => ({ name: r.name, score: r.score, triangles: uint16Array(r.triangles) }));
    triRegion = tris ? triangleRegions(tris.length / 3, regions) : null;
  };

  function paint() {
    if (!vertices || !tris) return;
    frame = meshFrame(vertices, tris, view.yaw, view.pitch, cv.width, cv.height, sign);
    root.dataset.yaw = view.yaw.toFixed(1);
    root.dataset.pitch = view.pitch.toFixed(1);
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, cv.width, cv.height); // the theme's background shows through
    const table = tones ? lut(tones.mode === "diverging" ? model.get("diverging_colormap") : model.get("colormap")) : null;
    const selectedName = model.get("selected_region");
    const selected = regions.findIndex((r) => r.name === selectedName);
    root.dataset.faceStyle = textured() ? "texture" : "vertex";
    if (textured()) {
      if (!image || image.width !== cv.width || image.height !== cv.height) image = ctx.createImageData(cv.width, cv.height);
      image.data.fill(0);
      const nt = tris.length / 3;
      if (!lift || lift.length !== nt) lift = new Float32Array(nt);
      for (let t = 0; t < nt; t++) lift[t] = triRegion && triRegion[t] >= 0 && triRegion[t] === hoverRegion ? 0.18 : 0;
      rasterTextured(image.data, cv.width, cv.height, frame, tris, frame.order, uvPx, texRGBA, texSize, lift);
      ctx.putImageData(image, 0, 0);
      if (selected >= 0) {
        ctx.strokeStyle = "rgba(255,255,255,0.95)";
        ctx.lineWidth = 1.2 * ratio;
        ctx.beginPath();
        for (const t of frame.order) {
          if (triRegion[t] !== selected) continue;
          const i = tris[3 * t], j = tris[3 * t + 1], k = tris[3 * t + 2];
          ctx.moveTo(frame.sx[i], frame.sy[i]); ctx.lineTo(frame.sx[j], frame.sy[j]); ctx.lineTo(frame.sx[k], frame.sy[k]); ctx.closePath();
        }
        ctx.stroke();
      }
    }
    for (const t of textured() ? [] : frame.order) {
      const i = tris[3 * t], j = tris[3 * t + 1], k = tris[3 * t + 2];
      const sh = frame.shade[t];
      let r = 200, g = 200, b = 200; // no data (NaN): grey
      if (table && Number.isFinite(tones.t[t])) {
        const q = Math.min(255, Math.max(0, Math.round(tones.t[t] * 255)));
        r = table[3 * q]; g = table[3 * q + 1]; b = table[3 * q + 2];
      }
      const reg = triRegion ? triRegion[t] : -1;
      const lift = reg >= 0 && reg === hoverRegion ? 1.25 : 1;
      const fill = `rgb(${Math.min(255, Math.round(r * sh * lift))},${Math.min(255, Math.round(g * sh * lift))},${Math.min(255, Math.round(b * sh * lift))})`;
      ctx.beginPath();
      ctx.moveTo(frame.sx[i], frame.sy[i]);
      ctx.lineTo(frame.sx[j], frame.sy[j]);
      ctx.lineTo(frame.sx[k], frame.sy[k]);
      ctx.closePath();
      ctx.fillStyle = fill;
      ctx.fill();
      ctx.strokeStyle = reg >= 0 && reg === selected ? "rgba(255,255,255,0.95)" : fill; // hides seams
      ctx.lineWidth = (reg >= 0 && reg === selected ? 1.2 : 0.6) * ratio;
      ctx.stroke();
    }
    root.dataset.painted = "true";
    root.dataset.paints = String(Number(root.dataset.paints) + 1);
  }

  /** select a region (one save_changes; undoable) */
  function selectRegion(name) {
    const before = model.get("selected_region") || "";
    if (before === name) return;
    model.set("selected_region", name);
    model.save_changes();
    undo.push(traitEdit(model, "selected_region", before, name, "select region"));
  }
  const KEY_TURN = { ArrowLeft: [-5, 0], ArrowRight: [5, 0], ArrowUp: [0, -5], ArrowDown: [0, 5] };
  disposers.push(bindViewKeys(root, undo, (e, action) => {
    const turn = KEY_TURN[e.key];
    if (turn && e.target === cv) {
      view = { yaw: clamp(view.yaw + turn[0], -85, 85), pitch: clamp(view.pitch + turn[1], -60, 60) };
      model.set("yaw", view.yaw);
      model.set("pitch", view.pitch);
      model.save_changes();
      paint();
      return true;
    }
    if (action === "cancel" && model.get("selected_region")) { selectRegion(""); return true; }
    return false;
  }));

  const styleButton = button("vertex colours", () => {
    const before = model.get("face_style") || "texture";
    const after = before === "vertex" ? "texture" : "vertex";
    model.set("face_style", after);
    model.save_changes();
    undo.push(traitEdit(model, "face_style", before, after, "face style"));
  }, "fw-button fw-face-style");
  styleButton.title = "texture: the canonical map's uv texture on the mesh; vertex colours: one colour per triangle";
  function syncStyle() {
    styleButton.hidden = tex === null;
    const vertex = model.get("face_style") === "vertex";
    styleButton.classList.toggle("fw-active", vertex);
    styleButton.setAttribute("aria-pressed", String(vertex));
  }

  const syncSelected = () => {
    const name = model.get("selected_region");
    const r = regions.find((x) => x.name === name);
    selectedText.textContent = r ? `selected: ${r.name} (score ${Number.isFinite(r.score) ? r.score.toFixed(3) : "–"})` : "click a region to select it";
    root.dataset.selected = name || "";
  };

  disposers.push(trackDrags(cv, () => {
    const start = { ...view };
    return {
      move(_p, dx, dy) {
        view = { yaw: clamp(start.yaw + (dx / ratio) * DEG_PER_PX, -85, 85), pitch: clamp(start.pitch + (dy / ratio) * DEG_PER_PX, -60, 60) }; // degrees per CSS pixel
        model.set("yaw", view.yaw); // local until the gesture ends
        model.set("pitch", view.pitch);
        paint();
      },
      end(p, moved) {
        if (moved) {
          model.save_changes();
          return;
        }
        const t = frame ? hitTriangle(frame, tris, p[0], p[1]) : -1;
        const reg = t >= 0 && triRegion ? triRegion[t] : -1;
        if (reg >= 0) selectRegion(regions[reg].name);
      },
    };
  }));

  disposers.push(
    listen(cv, "pointermove", (e) => {
      if (!frame) return;
      const [x, y] = canvasPoint(cv, e);
      const t = hitTriangle(frame, tris, x, y);
      const reg = t >= 0 && triRegion ? triRegion[t] : -1;
      root.dataset.hoverRegion = reg >= 0 ? regions[reg].name : "";
      if (reg >= 0) {
        const s = regions[reg].score;
        tooltip.textContent = `${regions[reg].name}: ${Number.isFinite(s) ? s.toFixed(3) : "–"}`;
        const k = cv.clientWidth ? cv.clientWidth / cv.width : 1; // canvas px → CSS px
        tooltip.style.left = `${x * k + 12}px`;
        tooltip.style.top = `${y * k + 12}px`;
        tooltip.hidden = false;
      } else {
        tooltip.hidden = true;
      }
      if (reg !== hoverRegion) { hoverRegion = reg; paint(); }
    }),
    listen(cv, "pointerleave", () => { tooltip.hidden = true; if (hoverRegion !== -1) { hoverRegion = -1; paint(); } }),
    onModel(model, "change:vertices", () => { decodeMesh(); decodeValues(); decodeRegions(); paint(); }),
    onModel(model, "change:triangles", () => { decodeMesh(); decodeValues(); decodeRegions(); paint(); }),
    onModel(model, "change:values", () => { decodeValues(); paint(); }),
    onModel(model, "change:scale", () => { decodeValues(); decodeTexture(); paint(); }),
    onModel(model, "change:colormap", () => { decodeTexture(); paint(); }),
    onModel(model, "change:diverging_colormap", () => { decodeTexture(); paint(); }),
    onModel(model, "change:texture", () => { decodeTexture(); paint(); }),
    onModel(model, "change:uv", () => { decodeTexture(); paint(); }),
    onModel(model, "change:face_style", () => { paint(); syncStyle(); }),
    onModel(model, "change:regions", () => { decodeRegions(); syncSelected(); paint(); }),
    onModel(model, "change:selected_region", () => { syncSelected(); paint(); }),
    // a drag sets yaw/pitch itself and has already painted: repaint only for changes from elsewhere
    onModel(model, "change:yaw", () => { if (model.get("yaw") !== view.yaw) { view.yaw = model.get("yaw"); paint(); } }),
    onModel(model, "change:pitch", () => { if (model.get("pitch") !== view.pitch) { view.pitch = model.get("pitch"); paint(); } }),
    onModel(model, "change:title", () => { title.textContent = model.get("title") || ""; }),
  );

  root.append(title, h("div", { class: "fw-stage fw-face-stage" }, [cv, tooltip]), h("div", { class: "fw-controls" }, [selectedText, styleButton]), live.el, annot.el);
  el.appendChild(root);
  relayout();
  disposers.push(watchSize(root, () => { relayout(); paint(); }));
  title.textContent = model.get("title") || "";
  decodeMesh();
  decodeValues();
  decodeTexture();
  decodeRegions();
  syncSelected();
  syncStyle();
  paint();
  return () => {
    disposers.forEach((f) => f());
    root.remove();
  };
}
