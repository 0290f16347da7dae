// The canonical map's uv texture drawn on the mesh: a small software rasteriser (barycentric uv,
// bilinear texels, Lambert shade) writes one ImageData per frame.
import { scaleValues } from "./colormap.js";

/** RGBA bytes of a texture (R*R values): colour-map colours, grey where NaN (unseen). */
export function textureRGBA(values, table, mode) {
  const s = scaleValues(values, mode);
  const out = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const o = 4 * i;
    if (Number.isFinite(values[i])) {
      const k = Math.min(255, Math.max(0, Math.round(s.t[i] * 255)));
      out[o] = table[3 * k]; out[o + 1] = table[3 * k + 1]; out[o + 2] = table[3 * k + 2];
    } else {
      out[o] = 200; out[o + 1] = 200; out[o + 2] = 200;
    }
    out[o + 3] = 255;
  }
  return out;
}

/**
 * Software rasteriser for the textured face: every visible triangle (far → near, `order`) is
 * filled pixel by pixel into `rgba` (width × height × 4, cleared by the caller) with its texels
 * (bilinear, through barycentric uv) times its Lambert `shade`, plus `lift[t]` (0..1 towards
 * white, e.g. the hovered region). One putImageData per frame instead of a clip and a drawImage
 * per triangle: many times faster on a CPU-only canvas, and no seams between triangles.
 * tex: RGBA bytes of the R × R texture; uvPx: flat texel-space (u R, v R) per vertex.
 */
export function rasterTextured(rgba, width, height, frame, tris, order, uvPx, tex, R, lift = null) {
  const { sx, sy, shade } = frame;
  const maxT = R - 1;
  for (let n = 0; n < order.length; n++) {
    const t = order[n];
    const i = tris[3 * t], j = tris[3 * t + 1], k = tris[3 * t + 2];
    const x0 = sx[i], y0 = sy[i], x1 = sx[j], y1 = sy[j], x2 = sx[k], y2 = sy[k];
    const area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);
    if (Math.abs(area) < 1e-9) continue;
    const inv = 1 / area;
    const xmin = Math.max(0, Math.floor(Math.min(x0, x1, x2))), xmax = Math.min(width - 1, Math.ceil(Math.max(x0, x1, x2)));
    const ymin = Math.max(0, Math.floor(Math.min(y0, y1, y2))), ymax = Math.min(height - 1, Math.ceil(Math.max(y0, y1, y2)));
    const u0 = uvPx[2 * i] - 0.5, v0 = uvPx[2 * i + 1] - 0.5; // texel centres at integers
    const u1 = uvPx[2 * j] - 0.5, v1 = uvPx[2 * j + 1] - 0.5;
    const u2 = uvPx[2 * k] - 0.5, v2 = uvPx[2 * k + 1] - 0.5;
    const sh = shade[t];
    const up = lift ? lift[t] : 0;
    const eps = -1e-6;
    // barycentric weights as linear functions of the pixel centre: b = a + bx * x + by * y
    const b0x = (y1 - y2) * inv, b0y = (x2 - x1) * inv, b0c = (x1 * y2 - x2 * y1) * inv;
    const b1x = (y2 - y0) * inv, b1y = (x0 - x2) * inv, b1c = (x2 * y0 - x0 * y2) * inv;
    for (let y = ymin; y <= ymax; y++) {
      const py = y + 0.5;
      let row = 4 * (y * width + xmin);
      for (let x = xmin; x <= xmax; x++, row += 4) {
        const px = x + 0.5;
        const w0 = b0c + b0x * px + b0y * py;
        if (w0 < eps) continue;
        const w1 = b1c + b1x * px + b1y * py;
        if (w1 < eps) continue;
        const w2 = 1 - w0 - w1;
        if (w2 < eps) continue;
        let u = w0 * u0 + w1 * u1 + w2 * u2, v = w0 * v0 + w1 * v1 + w2 * v2;
        u = u < 0 ? 0 : u > maxT ? maxT : u;
        v = v < 0 ? 0 : v > maxT ? maxT : v;
        const ui = Math.min(maxT - 1, u | 0), vi = Math.min(maxT - 1, v | 0);
        const fu = u - ui, fv = v - vi;
        const a = 4 * (vi * R + ui), b = a + 4, c = a + 4 * R, d = c + 4;
        const wa = (1 - fu) * (1 - fv), wb = fu * (1 - fv), wc = (1 - fu) * fv, wd = fu * fv;
        for (let ch = 0; ch < 3; ch++) {
          const col = (tex[a + ch] * wa + tex[b + ch] * wb + tex[c + ch] * wc + tex[d + ch] * wd) * sh;
          rgba[row + ch] = col + (255 - col) * up;
        }
        rgba[row + 3] = 255;
      }
    }
  }
}
