// Geometry shared by the views. Photo coordinates: x right, y down, pixel centres at integers
// (facewidget's convention). Affines are [a, b, c, d, e, f]: (x, y) → (a x + b y + c, d x + e y + f).

export const IDENTITY = [1, 0, 0, 0, 1, 0];

export function applyAffine(m, x, y) {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

/** outer ∘ inner */
export function composeAffine(outer, inner) {
  const [a, b, c, d, e, f] = outer;
  const [p, q, r, s, t, u] = inner;
  return [a * p + b * s, a * q + b * t, a * r + b * u + c, d * p + e * s, d * q + e * t, d * r + e * u + f];
}

export function invertAffine(m) {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (Math.abs(det) < 1e-12) throw new Error("singular affine");
  return [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det];
}

/** Axis-aligned box [x0, y0, x1, y1] covered by a w x h grid placed by `m`. */
export function affineBox(m, width, height) {
  const pts = [[-0.5, -0.5], [width - 0.5, -0.5], [-0.5, height - 0.5], [width - 0.5, height - 0.5]].map(([x, y]) => applyAffine(m, x, y));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** Affine taking box `src` onto box `dst` (translation and per-axis scale). */
export function boxAffine(src, dst) {
  const sx = (dst[2] - dst[0]) / (src[2] - src[0]);
  const sy = (dst[3] - dst[1]) / (src[3] - src[1]);
  return [sx, 0, dst[0] - sx * src[0], 0, sy, dst[1] - sy * src[1]];
}

/** Box moved by (dx, dy). */
export function moveBox(box, dx, dy) {
  return [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy];
}

/** Box whose bottom-right corner moved by (dx, dy), never smaller than `minSize`. */
export function resizeBox(box, dx, dy, minSize = 4) {
  return [box[0], box[1], Math.max(box[0] + minSize, box[2] + dx), Math.max(box[1] + minSize, box[3] + dy)];
}

export function inBox(box, x, y) {
  return x >= box[0] && x <= box[2] && y >= box[1] && y <= box[3];
}

/** Barycentric coordinates [u, v, w] of p in triangle (a, b, c) (each [x, y]); null if degenerate. */
export function barycentric(p, a, b, c) {
  const v0x = b[0] - a[0], v0y = b[1] - a[1];
  const v1x = c[0] - a[0], v1y = c[1] - a[1];
  const v2x = p[0] - a[0], v2y = p[1] - a[1];
  const den = v0x * v1y - v1x * v0y;
  if (Math.abs(den) < 1e-12) return null;
  const v = (v2x * v1y - v1x * v2y) / den;
  const w = (v0x * v2y - v2x * v0y) / den;
  return [1 - v - w, v, w];
}

export function insideBary(bary, eps = 1e-9) {
  return bary !== null && bary[0] >= -eps && bary[1] >= -eps && bary[2] >= -eps;
}

/**
 * The mesh triangle under (x, y): points is a flat array with `stride` numbers per point
 * (x, y[, z]); triangles a flat index array. Where triangles overlap (a turned head), the one with
 * the smallest mean z wins (MediaPipe's z grows away from the camera). Returns {index, bary} or null.
 */
export function findTriangle(points, triangles, x, y, stride = 3) {
  let best = null;
  let bestZ = Infinity;
  const pt = (i) => [points[stride * i], points[stride * i + 1]];
  for (let t = 0; t < triangles.length / 3; t++) {
    const i = triangles[3 * t], j = triangles[3 * t + 1], k = triangles[3 * t + 2];
    const a = pt(i), b = pt(j), c = pt(k);
    if (x < Math.min(a[0], b[0], c[0]) || x > Math.max(a[0], b[0], c[0]) || y < Math.min(a[1], b[1], c[1]) || y > Math.max(a[1], b[1], c[1])) continue;
    const bary = barycentric([x, y], a, b, c);
    if (!insideBary(bary)) continue;
    const z = stride >= 3 ? (points[stride * i + 2] + points[stride * j + 2] + points[stride * k + 2]) / 3 : 0;
    if (z < bestZ) {
      bestZ = z;
      best = { index: t, bary };
    }
  }
  return best;
}

/** The point of mesh B corresponding to (x, y) on mesh A (same triangle, same barycentric coordinates). */
export function mapThroughMesh(pointsA, pointsB, triangles, x, y, stride = 3) {
  const hit = findTriangle(pointsA, triangles, x, y, stride);
  if (!hit) return null;
  const t = hit.index;
  let bx = 0, by = 0;
  for (let c = 0; c < 3; c++) {
    const v = triangles[3 * t + c];
    bx += hit.bary[c] * pointsB[stride * v];
    by += hit.bary[c] * pointsB[stride * v + 1];
  }
  return { x: bx, y: by, triangle: t, bary: hit.bary };
}

// --- the canonical face -----------------------------------------------------------------------

/** 3x3 rotation (row-major): yaw about y, then pitch about x, in degrees (as render.py). */
export function rotation(yawDeg, pitchDeg) {
  const y = (yawDeg * Math.PI) / 180, p = (pitchDeg * Math.PI) / 180;
  const cy = Math.cos(y), sy = Math.sin(y), cp = Math.cos(p), sp = Math.sin(p);
  // Rx(p) @ Ry(y)
  return [cy, 0, sy, sp * sy, cp, -sp * cy, -cp * sy, sp, cp * cy];
}

export const LIGHT = (() => {
  const l = [0.3, 0.5, 1.0];
  const n = Math.hypot(...l);
  return l.map((v) => v / n);
})();
export const AMBIENT = 0.35;

/** +1 or -1 so that sign * cross(v1 - v0, v2 - v0) points out of the face (towards +z). */
export function triangleOrientation(vertices, triangles) {
  let pos = 0, neg = 0;
  for (let t = 0; t < triangles.length / 3; t++) {
    const n = triNormal(vertices, triangles, t);
    if (n[2] > 0) pos++;
    else if (n[2] < 0) neg++;
  }
  return pos >= neg ? 1 : -1;
}

function triNormal(v, tris, t) {
  const i = 3 * tris[3 * t], j = 3 * tris[3 * t + 1], k = 3 * tris[3 * t + 2];
  const ax = v[j] - v[i], ay = v[j + 1] - v[i + 1], az = v[j + 2] - v[i + 2];
  const bx = v[k] - v[i], by = v[k + 1] - v[i + 1], bz = v[k + 2] - v[i + 2];
  return [ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx];
}

/**
 * One frame of the mesh: screen coordinates (y down), per-triangle Lambert shade, and the
 * visible triangles far → near (painter's order). vertices: flat xyz (cm, y up, z to the viewer).
 */
export function meshFrame(vertices, triangles, yaw, pitch, width, height, sign = 1) {
  const n = vertices.length / 3;
  let cx = 0, cy = 0, cz = 0;
  const mins = [Infinity, Infinity, Infinity], maxs = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) {
    mins[c] = Math.min(mins[c], vertices[3 * i + c]);
    maxs[c] = Math.max(maxs[c], vertices[3 * i + c]);
  }
  cx = (mins[0] + maxs[0]) / 2; cy = (mins[1] + maxs[1]) / 2; cz = (mins[2] + maxs[2]) / 2;
  let radius = 0;
  for (let i = 0; i < n; i++) radius = Math.max(radius, Math.hypot(vertices[3 * i] - cx, vertices[3 * i + 1] - cy));
  const s = (0.95 * Math.min(width, height)) / (2 * radius);
  const R = rotation(yaw, pitch);
  const rv = new Float32Array(3 * n);
  const sx = new Float32Array(n), sy = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = vertices[3 * i] - cx, y = vertices[3 * i + 1] - cy, z = vertices[3 * i + 2] - cz;
    for (let r = 0; r < 3; r++) rv[3 * i + r] = R[3 * r] * x + R[3 * r + 1] * y + R[3 * r + 2] * z;
    sx[i] = width / 2 + rv[3 * i] * s;
    sy[i] = height / 2 - rv[3 * i + 1] * s;
  }
  const nt = triangles.length / 3;
  const shade = new Float32Array(nt);
  const depth = new Float32Array(nt);
  const visible = [];
  for (let t = 0; t < nt; t++) {
    const nrm = triNormal(rv, triangles, t).map((c) => c * sign);
    const len = Math.hypot(...nrm) + 1e-12;
    const d = (nrm[0] * LIGHT[0] + nrm[1] * LIGHT[1] + nrm[2] * LIGHT[2]) / len;
    shade[t] = AMBIENT + (1 - AMBIENT) * Math.max(0, d);
    depth[t] = (rv[3 * triangles[3 * t] + 2] + rv[3 * triangles[3 * t + 1] + 2] + rv[3 * triangles[3 * t + 2] + 2]) / 3;
    if (nrm[2] > 0) visible.push(t);
  }
  visible.sort((a, b) => depth[a] - depth[b]);
  return { sx, sy, shade, depth, order: visible, scale: s };
}

/** Front-most visible triangle under screen point (x, y) of a frame, or -1. */
export function hitTriangle(frame, triangles, x, y) {
  for (let k = frame.order.length - 1; k >= 0; k--) {
    const t = frame.order[k];
    const i = triangles[3 * t], j = triangles[3 * t + 1], l = triangles[3 * t + 2];
    const bary = barycentric([x, y], [frame.sx[i], frame.sy[i]], [frame.sx[j], frame.sy[j]], [frame.sx[l], frame.sy[l]]);
    if (insideBary(bary)) return t;
  }
  return -1;
}

/** Per-triangle region index (-1 = none) from regions [{triangles: Uint16Array}]. */
export function triangleRegions(nTriangles, regions) {
  const out = new Int32Array(nTriangles).fill(-1);
  regions.forEach((r, k) => r.triangles.forEach((t) => { if (t < nTriangles) out[t] = k; }));
  return out;
}

export function clamp(x, lo, hi) {
  return Math.min(hi, Math.max(lo, x));
}
