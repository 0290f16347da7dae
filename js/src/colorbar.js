// Colour bar: the colour map strip, its two end values and the quantity it shows (text only).
import { barEnds, lut } from "./colormap.js";
import { h } from "./dom.js";

/** Short, readable number for a bar end or a readout. */
export function fmtValue(x) {
  if (!Number.isFinite(x)) return "–";
  const a = Math.abs(x);
  if (a === 0) return "0";
  if (a >= 1000 || a < 0.001) return x.toExponential(2);
  const t = x.toPrecision(3);
  return t.includes(".") && !t.includes("e") ? t.replace(/0+$/, "").replace(/\.$/, "") : t;
}

/** p-value text: two significant digits, "< 0.0001" below that. */
export function fmtP(p) {
  if (!Number.isFinite(p)) return "–";
  if (p < 1e-4) return "< 0.0001";
  return p.toPrecision(2);
}

export function colorBar() {
  // a CSS gradient, not a canvas: the views' only canvases are the pictures one can point at
  const strip = h("span", { class: "fw-colorbar-strip", attrs: { role: "img" } });
  const lo = h("span", { class: "fw-colorbar-lo" });
  const hi = h("span", { class: "fw-colorbar-hi" });
  const label = h("span", { class: "fw-colorbar-label" });
  const el = h("div", { class: "fw-colorbar" }, [label, lo, strip, hi]);
  return {
    el,
    /** {colormap, lo, hi, mode, label}: draw the strip from lo to hi (barEnds rule) */
    update({ colormap, divergingColormap, lo: vlo, hi: vhi, mode, label: text, relative = false }) {
      const [v0, v1, m] = barEnds(vlo, vhi, mode);
      const table = lut(m === "diverging" ? divergingColormap : colormap);
      const stops = [];
      for (let q = 0; q <= 16; q++) {
        const k = Math.round((q / 16) * 255);
        stops.push(`rgb(${table[3 * k]},${table[3 * k + 1]},${table[3 * k + 2]}) ${((q / 16) * 100).toFixed(2)}%`);
      }
      strip.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
      strip.dataset.colormap = m === "diverging" ? divergingColormap : colormap;
      lo.textContent = relative ? (m === "diverging" ? "−max" : "0") : fmtValue(v0);
      hi.textContent = relative ? "max" : fmtValue(v1);
      label.textContent = text;
      strip.setAttribute("aria-label", `colour bar: ${text} from ${lo.textContent} to ${hi.textContent}`);
      el.dataset.lo = String(v0);
      el.dataset.hi = String(v1);
      el.dataset.label = text;
    },
  };
}
