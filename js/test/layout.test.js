import { describe, expect, it } from "vitest";
import { fitSize, sizeCanvas } from "../src/layout.js";
import { photoPanel } from "../src/photo.js";

describe("scaling maths", () => {
  it("scales a small photo up to the preferred width", () => {
    const f = fitSize(112, 112, { preferred: 480 });
    expect(f).toEqual({ width: 480, height: 480, scale: 480 / 112 });
  });
  it("scales a large photo down, and never wider than the cell", () => {
    expect(fitSize(4000, 3000, { preferred: 640 }).width).toBe(640);
    const f = fitSize(4000, 3000, { preferred: 640, available: 300 });
    expect(f.width).toBe(300);
    expect(f.height).toBe(225);
  });
  it("keeps tall photos within maxHeight and keeps the aspect", () => {
    const f = fitSize(100, 400, { preferred: 480, maxHeight: 400 });
    expect(f.height).toBe(400);
    expect(f.width).toBe(100);
  });
  it("limits blowing up tiny crops", () => {
    expect(fitSize(10, 10, { preferred: 480, maxUpscale: 8 }).width).toBe(80);
  });
  it("backing store = CSS size x devicePixelRatio", () => {
    const cv = document.createElement("canvas");
    expect(sizeCanvas(cv, 300, 200, 2)).toEqual([600, 400]);
    expect(cv.width).toBe(600);
    expect(cv.style.width).toBe("300px");
    expect(cv.style.height).toBe("200px");
  });
  it("a photo panel maps photo pixels to backing pixels at the device ratio", () => {
    const old = window.devicePixelRatio;
    Object.defineProperty(window, "devicePixelRatio", { value: 2, configurable: true });
    try {
      const p = photoPanel(400);
      p.setPhoto(null, [200, 100]);
      expect(p.canvas.style.width).toBe("400px");
      expect(p.canvas.width).toBe(800);
      expect(p.scale).toBe(4); // 2 CSS px per photo px, 2 backing px per CSS px
      expect(p.toCanvas(-0.5, -0.5)).toEqual([0, 0]);
      expect(p.toPhoto(...p.toCanvas(37, 12))).toEqual([37, 12]);
      p.fit(100); // a narrow cell
      expect(p.canvas.style.width).toBe("100px");
      expect(p.canvas.width).toBe(200);
    } finally {
      Object.defineProperty(window, "devicePixelRatio", { value: old, configurable: true });
    }
  });
});
