// Colour maps and value scaling: the same rules as facewidget/widgets/colormap.py (read that
// module's docstring); both read colormaps.json.
import STOPS from "../../facewidget/widgets/colormaps.json";

const cache = new Map();

export function colormapNames() {
  return Object.keys(STOPS).filter((k) => !k.startsWith("_")).sort();
}

/** 256x3 Uint8Array table of a colour map (linear interpolation between evenly spaced stops). */
export function lut(name) {
  if (cache.has(name)) return cache.get(name);
  const stops = STOPS[name];
  if (!stops || name.startsWith("_")) throw new Error(`unknown colour map ${name}`);
  const rgb = stops.map((s) => [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16)));
  const table = new Uint8Array(256 * 3);
  const last = rgb.length - 1;
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * last;
    const k = Math.min(Math.floor(x), last - 1);
    const f = x - k;
    for (let c = 0; c < 3; c++) table[3 * i + c] = Math.round(rgb[k][c] * (1 - f) + rgb[k + 1][c] * f);
  }
  cache.set(name, table);
  return table;
}

export function resolveMode(mode, lo) {
  if (mode === "auto") return lo < 0 ? "diverging" : "sequential";
  if (mode !== "sequential" && mode !== "diverging") throw new Error(`unknown scale ${mode}`);
  return mode;
}

/** [min, max] of the finite values (NaN = no data); [0, 0] when there is none. */
export function range(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/**
 * Colour-map positions t in [0, 1] and strengths in [0, 1] of `values`.
 * sequential: t = (v - min(lo, 0)) / (hi - min(lo, 0)); diverging: t = 0.5 + v / (2 max|v|).
 */
export function scaleValues(values, mode = "auto", fixed = null) {
  // `fixed` = [lo, hi]: scale against a range shared with other maps (one absolute scale)
  const [lo, hi] = fixed && fixed.length === 2 && Number.isFinite(fixed[0]) && Number.isFinite(fixed[1]) ? fixed : range(values);
  const m = resolveMode(mode, lo);
  const n = values.length;
  const t = new Float32Array(n);
  const strength = new Float32Array(n);
  if (m === "diverging") {
    const a = Math.max(Math.abs(lo), Math.abs(hi));
    for (let i = 0; i < n; i++) {
      t[i] = a > 0 ? Math.min(1, Math.max(0, 0.5 + values[i] / (2 * a))) : 0.5;
      strength[i] = a > 0 ? Math.abs(values[i]) / a : 0;
    }
  } else {
    const vmin = Math.min(lo, 0);
    const span = hi - vmin;
    for (let i = 0; i < n; i++) {
      const x = span > 0 ? Math.min(1, Math.max(0, (values[i] - vmin) / span)) : 0;
      t[i] = x;
      strength[i] = x;
    }
  }
  return { t, strength, mode: m, lo, hi };
}

/** RGBA bytes of `values`: colour from the scaled value, alpha = opacity where strength >= threshold and > 0. */
export function colorize(values, { colormap = "inferno", divergingColormap = "rdbu", mode = "auto", threshold = 0, opacity = 1, range: fixed = null, mask = null } = {}) {
  // mask (same length, optional): pixels where mask < 0.5 (e.g. not significant) stay transparent
  const s = scaleValues(values, mode, fixed);
  const table = lut(s.mode === "diverging" ? divergingColormap : colormap);
  const alpha = Math.round(Math.min(1, Math.max(0, opacity)) * 255);
  const out = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const k = Math.min(255, Math.max(0, Math.round(s.t[i] * 255)));
    out[4 * i] = table[3 * k];
    out[4 * i + 1] = table[3 * k + 1];
    out[4 * i + 2] = table[3 * k + 2];
    const hidden = mask !== null && !(mask[i] >= 0.5);
    out[4 * i + 3] = !hidden && s.strength[i] >= threshold && s.strength[i] > 0 ? alpha : 0; // NaN: transparent
  }
  return out;
}

/** CSS colour of position t in [0, 1] of a colour map, darkened by `shade` (0..1). */
export function cssColor(name, t, shade = 1) {
  const table = lut(name);
  const k = Math.min(255, Math.max(0, Math.round(t * 255)));
  const c = [0, 1, 2].map((j) => Math.max(0, Math.min(255, Math.round(table[3 * k + j] * shade))));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** The [lo, hi] a set of maps shares (each map {lo, hi}); [0, 0] when there is none. */
export function sharedRange(maps) {
  let lo = Infinity, hi = -Infinity;
  for (const m of maps) {
    if (!m) continue;
    lo = Math.min(lo, m.lo);
    hi = Math.max(hi, m.hi);
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/** The ends [v0, v1] of the colour bar of a scale: sequential from min(lo, 0), diverging ±max|v|. */
export function barEnds(lo, hi, mode) {
  const m = resolveMode(mode, lo);
  if (m === "diverging") { const a = Math.max(Math.abs(lo), Math.abs(hi)); return [-a, a, m]; }
  return [Math.min(lo, 0), hi, m];
}
