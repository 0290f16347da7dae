import { describe, expect, it } from "vitest";
import {
  affineBox, applyAffine, barycentric, boxAffine, composeAffine, findTriangle, hitTriangle, invertAffine,
  mapThroughMesh, meshFrame, moveBox, resizeBox, rotation, triangleOrientation,
} from "../src/geometry.js";
import { bitmapTransform } from "../src/photo.js";
import { gridMesh } from "./fake-model.js";

describe("affines", () => {
  it("compose and invert", () => {
    const m = [2, 0.5, 10, -0.3, 1.5, 4];
    const inv = invertAffine(m);
    const id = composeAffine(inv, m);
    [1, 0, 0, 0, 1, 0].forEach((v, i) => expect(id[i]).toBeCloseTo(v, 10));
    const [x, y] = applyAffine(m, 3, 7);
    const back = applyAffine(inv, x, y);
    expect(back[0]).toBeCloseTo(3, 10);
    expect(back[1]).toBeCloseTo(7, 10);
  });
  it("boxAffine maps one box onto another; affineBox covers pixel edges", () => {
    const m = boxAffine([0, 0, 10, 20], [5, 5, 25, 15]);
    expect(applyAffine(m, 10, 20)).toEqual([25, 15]);
    expect(affineBox([1, 0, 0, 0, 1, 0], 4, 3)).toEqual([-0.5, -0.5, 3.5, 2.5]);
  });
  it("move and resize keep a minimum size", () => {
    expect(moveBox([0, 0, 10, 10], 3, -2)).toEqual([3, -2, 13, 8]);
    expect(resizeBox([0, 0, 10, 10], -50, 5, 4)).toEqual([0, 0, 4, 15]);
  });
  it("bitmap transform puts map pixel centres on photo pixel centres", () => {
    // map pixel (u, v) at photo (2u + 10, 2v + 20); scale 0.5: bitmap edge e ↦ canvas 0.5 (A(e - 0.5) + 0.5)
    const [a, b, c, d, e, f] = bitmapTransform([2, 0, 10, 0, 2, 20], 0.5);
    const u = 3, v = 4; // centre of map pixel (3, 4) is bitmap point (3.5, 4.5)
    const cx = a * (u + 0.5) + c * (v + 0.5) + e;
    const cy = b * (u + 0.5) + d * (v + 0.5) + f;
    expect(cx).toBeCloseTo(0.5 * (2 * u + 10 + 0.5));
    expect(cy).toBeCloseTo(0.5 * (2 * v + 20 + 0.5));
  });
});

describe("mesh correspondence", () => {
  const A = [0, 0, 0, 10, 0, 0, 0, 10, 0, 10, 10, 0];
  const tris = [0, 1, 2, 1, 3, 2];
  it("barycentric coordinates reproduce the point", () => {
    const bary = barycentric([2, 3], [0, 0], [10, 0], [0, 10]);
    expect(bary[0] + bary[1] + bary[2]).toBeCloseTo(1);
    expect(bary[1] * 10).toBeCloseTo(2);
    expect(bary[2] * 10).toBeCloseTo(3);
  });
  it("a point on face A lands on the same place of face B's triangle", () => {
    const B = [100, 100, 0, 120, 100, 0, 100, 140, 0, 120, 140, 0]; // B = A scaled (2, 4) + 100
    const m = mapThroughMesh(A, B, tris, 2, 3);
    expect(m.triangle).toBe(0);
    expect(m.x).toBeCloseTo(104);
    expect(m.y).toBeCloseTo(112);
    const m2 = mapThroughMesh(A, B, tris, 8, 7);
    expect(m2.triangle).toBe(1);
    expect(m2.x).toBeCloseTo(116);
    expect(m2.y).toBeCloseTo(128);
    expect(mapThroughMesh(A, B, tris, 50, 50)).toBeNull();
  });
  it("overlapping triangles: the one nearest the camera (smallest z) wins", () => {
    const pts = [0, 0, 5, 10, 0, 5, 0, 10, 5, 0, 0, -1, 10, 0, -1, 0, 10, -1];
    expect(findTriangle(pts, [0, 1, 2, 3, 4, 5], 2, 2).index).toBe(1);
  });
});

describe("canonical face frame", () => {
  const { vertices, triangles } = gridMesh();
  it("rotation matrices are orthonormal", () => {
    const R = rotation(30, -20);
    for (let r = 0; r < 3; r++) {
      const n = Math.hypot(R[3 * r], R[3 * r + 1], R[3 * r + 2]);
      expect(n).toBeCloseTo(1);
    }
  });
  it("front view shows every triangle, a turned-away view shows none", () => {
    const sign = triangleOrientation(vertices, triangles);
    expect(meshFrame(vertices, triangles, 0, 0, 200, 200, sign).order.length).toBe(triangles.length / 3);
    expect(meshFrame(vertices, triangles, 180, 0, 200, 200, sign).order.length).toBe(0);
  });
  it("the centre of the canvas hits a central triangle; Lambert shade is in [ambient, 1]", () => {
    const f = meshFrame(vertices, triangles, 0, 0, 200, 200, triangleOrientation(vertices, triangles));
    const t = hitTriangle(f, triangles, 101, 101);
    expect(t).toBeGreaterThanOrEqual(0);
    expect(hitTriangle(f, triangles, 1, 1)).toBe(-1);
    for (const s of f.shade) { expect(s).toBeGreaterThanOrEqual(0.35); expect(s).toBeLessThanOrEqual(1.0001); }
  });
  it("yaw moves the nose side: a right turn shifts points with z > 0 to the right", () => {
    const f0 = meshFrame(vertices, triangles, 0, 0, 200, 200);
    const f1 = meshFrame(vertices, triangles, 20, 0, 200, 200);
    const centre = 24; // the middle vertex of the 7x7 grid, highest z
    expect(f1.sx[centre]).toBeGreaterThan(f0.sx[centre]);
  });
});

describe("photo panel zoom", async () => {
  const { photoPanel, viewBox } = await import("../src/photo.js");
  it("maps photo points to canvas pixels and back inside a view box", () => {
    const p = photoPanel(300);
    p.setPhoto(null, [1000, 800]);
    expect(p.canvas.width).toBe(300); // whole photo, shrunk
    expect(p.toCanvas(-0.5, -0.5)).toEqual([0, 0]);
    p.setView([399.5, 199.5, 499.5, 349.5]); // 100 x 150 photo pixels, enlarged 3x at most
    expect(p.scale).toBe(3);
    expect([p.canvas.width, p.canvas.height]).toEqual([300, 450]);
    const c = p.toCanvas(450, 300);
    expect(c).toEqual([151.5, 301.5]);
    expect(p.toPhoto(...c)).toEqual([450, 300]);
    expect(viewBox([5, 5, 1, 1], [10, 10])).toEqual([-0.5, -0.5, 9.5, 9.5]);
  });
});

describe("pointer coordinates", async () => {
  const { canvasPoint } = await import("../src/dom.js");
  it("convert CSS pixels to canvas pixels when CSS shrinks the canvas", () => {
    const c = document.createElement("canvas");
    c.width = 300;
    c.height = 200;
    Object.defineProperty(c, "clientWidth", { value: 150 });
    Object.defineProperty(c, "clientHeight", { value: 100 });
    c.getBoundingClientRect = () => ({ left: 10, top: 20, width: 150, height: 100 });
    expect(canvasPoint(c, { clientX: 85, clientY: 70 })).toEqual([150, 100]);
  });
});
