import { describe, expect, it } from "vitest";
import { decodeMap, float32Array, halfToFloat, uint16Array } from "../src/buffers.js";
import { colorize, lut, resolveMode, scaleValues } from "../src/colormap.js";
import { float16Bytes, float32Bytes } from "./fake-model.js";

describe("buffers", () => {
  it("decodes IEEE half floats", () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.33325, 4);
    expect(halfToFloat(0x0001)).toBeCloseTo(5.96e-8, 9);
  });
  it("float16 payloads are scaled back; uint8 payloads dequantised", () => {
    const p = { data: float16Bytes([1, -0.5, 0.25, 0]), shape: [2, 2], dtype: "float16", lo: -2e-6, hi: 4e-6, scale: 4e-6, signed: true, affine: [1, 0, 0, 0, 1, 0] };
    const d = decodeMap(p);
    expect(d.width).toBe(2);
    expect(Array.from(d.values).map((v) => v / 1e-6)).toEqual([4, -2, 1, 0].map((v) => expect.closeTo(v, 5)));
    const q = decodeMap({ data: new DataView(new Uint8Array([0, 255, 51]).buffer), shape: [3], dtype: "uint8", lo: -1, hi: 1, scale: 1 });
    expect(q.height).toBe(1);
    expect(q.values[0]).toBeCloseTo(-1);
    expect(q.values[1]).toBeCloseTo(1);
    expect(q.values[2]).toBeCloseTo(-0.6);
  });
  it("refuses a buffer of the wrong length", () => {
    expect(() => decodeMap({ data: float16Bytes([1, 2, 3]), shape: [2, 2], dtype: "float16", scale: 1 })).toThrow(/bytes/);
  });
  it("reads little-endian float32 and uint16 from offset views", () => {
    const buf = float32Bytes([0, 1.5, -2]);
    const view = new DataView(buf.buffer, 4, 8);
    expect(Array.from(float32Array(view))).toEqual([1.5, -2]);
    expect(Array.from(uint16Array(new Uint8Array([1, 0, 0, 1])))).toEqual([1, 256]);
  });
});

describe("colour scaling (same rules as colormap.py)", () => {
  it("tables match the Python tables at their ends and middle", () => {
    const v = lut("viridis");
    expect(Array.from(v.slice(0, 3))).toEqual([68, 1, 84]);
    expect(Array.from(v.slice(3 * 128, 3 * 128 + 3))).toEqual([33, 145, 140]);
    expect(Array.from(v.slice(3 * 255))).toEqual([253, 231, 37]);
    expect(Array.from(lut("rdbu").slice(3 * 128, 3 * 128 + 3))).toEqual([247, 246, 246]);
  });
  it("auto is diverging for signed maps and puts 0 in the middle", () => {
    expect(resolveMode("auto", -0.1)).toBe("diverging");
    expect(resolveMode("auto", 0)).toBe("sequential");
    const s = scaleValues(new Float32Array([-2, 0, 1]));
    expect(s.mode).toBe("diverging");
    expect(Array.from(s.t)).toEqual([0, 0.5, 0.75]);
    expect(Array.from(s.strength)).toEqual([1, 0, 0.5]);
  });
  it("sequential starts at 0 for non-negative maps", () => {
    const s = scaleValues(new Float32Array([1, 2, 4]), "sequential");
    expect(Array.from(s.t)).toEqual([0.25, 0.5, 1]);
  });
  it("threshold and opacity set alpha; zero evidence stays transparent", () => {
    const rgba = colorize(new Float32Array([0, 0.2, 0.6, 1]), { colormap: "viridis", threshold: 0.5, opacity: 0.5 });
    expect([rgba[3], rgba[7], rgba[11], rgba[15]]).toEqual([0, 0, 128, 128]);
    expect(Array.from(rgba.slice(12, 15))).toEqual([253, 231, 37]);
  });
  it("diverging maps use the diverging colour map", () => {
    const rgba = colorize(new Float32Array([-1, 1]), { divergingColormap: "rdbu" });
    expect(Array.from(rgba.slice(0, 3))).toEqual([5, 48, 97]);
    expect(Array.from(rgba.slice(4, 7))).toEqual([103, 0, 31]);
  });
  it("an unknown colour map is an error", () => {
    expect(() => lut("nope")).toThrow(/unknown/);
  });
});

describe("no data (NaN)", () => {
  it("NaN is left out of the range and never drawn", () => {
    const s = scaleValues(new Float32Array([NaN, 1, 2]), "sequential");
    expect(s.hi).toBe(2);
    expect(Array.from(s.t.slice(1))).toEqual([0.5, 1]);
    const rgba = colorize(new Float32Array([NaN, 2]));
    expect(rgba[3]).toBe(0);
    expect(rgba[7]).toBe(255);
  });
});
