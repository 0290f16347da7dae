import { describe, expect, it } from "vitest";
import { lut } from "../src/colormap.js";
import { rasterTextured, textureRGBA } from "../src/texture.js";

describe("textured canonical face", () => {
  it("texture colours follow the colour map; unseen texels are grey", () => {
    const table = lut("viridis");
    const rgba = textureRGBA(new Float32Array([0, 1, NaN, 0.5]), table, "sequential");
    expect(Array.from(rgba.slice(0, 4))).toEqual([table[0], table[1], table[2], 255]);
    expect(Array.from(rgba.slice(4, 8))).toEqual([table[765], table[766], table[767], 255]);
    expect(Array.from(rgba.slice(8, 12))).toEqual([200, 200, 200, 255]);
  });

  // a square of two triangles covering a 20 x 20 canvas; uv covers a 4 x 4 texture
  const R = 4, W = 20;
  const frame = (shade) => ({ sx: new Float32Array([0, W, 0, W]), sy: new Float32Array([0, 0, W, W]), shade: new Float32Array(shade) });
  const tris = new Uint16Array([0, 1, 2, 1, 3, 2]);
  const uvPx = new Float32Array([0, 0, R, 0, 0, R, R, R]);
  const texture = (f) => { const t = new Uint8ClampedArray(R * R * 4); for (let y = 0; y < R; y++) for (let x = 0; x < R; x++) { const o = 4 * (y * R + x); const v = f(x, y); t[o] = v; t[o + 1] = v; t[o + 2] = v; t[o + 3] = 255; } return t; };
  const px = (rgba, x, y) => Array.from(rgba.slice(4 * (y * W + x), 4 * (y * W + x) + 4));

  it("fills every pixel of adjacent triangles (no seams) with the shaded texels", () => {
    const rgba = new Uint8ClampedArray(W * W * 4);
    rasterTextured(rgba, W, W, frame([1, 0.5]), tris, [0, 1], uvPx, texture(() => 200), R);
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) expect(rgba[4 * (y * W + x) + 3]).toBe(255);
    expect(px(rgba, 2, 2)).toEqual([200, 200, 200, 255]); // triangle 0, full light
    expect(px(rgba, 17, 17)).toEqual([100, 100, 100, 255]); // triangle 1, half shade
  });
  it("samples the texture through the uv coordinates (left column dark, right column bright)", () => {
    const rgba = new Uint8ClampedArray(W * W * 4);
    rasterTextured(rgba, W, W, frame([1, 1]), tris, [0, 1], uvPx, texture((x) => 60 * x), R);
    expect(px(rgba, 0, 10)[0]).toBe(0);
    expect(px(rgba, 19, 10)[0]).toBe(180);
    const row = Array.from({ length: W }, (_, x) => px(rgba, x, 10)[0]);
    for (let x = 1; x < W; x++) expect(row[x]).toBeGreaterThanOrEqual(row[x - 1]); // bilinear: monotone
    expect(new Set(row).size).toBeGreaterThan(R); // finer than one colour per texel (or per triangle)
  });
  it("a later (nearer) triangle paints over an earlier one; lift brightens", () => {
    const rgba = new Uint8ClampedArray(W * W * 4);
    const f = { sx: new Float32Array([0, W, 0, W, 0, 0]), sy: new Float32Array([0, 0, W, W, 0, 0]), shade: new Float32Array([1, 1, 1]) };
    const t3 = new Uint16Array([0, 1, 2, 1, 3, 2, 0, 1, 2]);
    rasterTextured(rgba, W, W, f, t3, [0, 2], uvPx, texture(() => 100), R, new Float32Array([0, 0, 0.5]));
    expect(px(rgba, 2, 2)[0]).toBe(178); // 100 + (255 - 100) / 2, the lifted triangle on top
  });
});
