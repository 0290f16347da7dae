// A stand-in for the anywidget model: the same get/set/on/off/save_changes/send surface, recording
// what the view does with it.
export function fakeModel(state) {
  const handlers = new Map();
  const model = {
    state: { ...state },
    sets: [],
    saves: 0,
    sent: [],
    get: (k) => model.state[k],
    set(k, v) {
      model.state[k] = v;
      model.sets.push(k);
      for (const fn of handlers.get(`change:${k}`) || []) fn();
    },
    on(ev, fn) {
      if (!handlers.has(ev)) handlers.set(ev, new Set());
      handlers.get(ev).add(fn);
    },
    off(ev, fn) {
      handlers.get(ev)?.delete(fn);
    },
    save_changes() { model.saves += 1; },
    send(msg) { model.sent.push(msg); },
    listenerCount: () => [...handlers.values()].reduce((n, s) => n + s.size, 0),
    /** a change that arrives from the kernel */
    remote(k, v) {
      model.state[k] = v;
      for (const fn of handlers.get(`change:${k}`) || []) fn();
    },
  };
  return model;
}

/** Little-endian float16 bytes (as numpy's '<f2') for test payloads. */
export function float16Bytes(values) {
  const dv = new DataView(new ArrayBuffer(2 * values.length));
  values.forEach((v, i) => dv.setUint16(2 * i, toHalf(v), true));
  return dv;
}

function toHalf(v) {
  const f32 = new Float32Array([v]);
  const u = new Uint32Array(f32.buffer)[0];
  const sign = (u >> 16) & 0x8000;
  let exp = ((u >> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values (fine for tests)
  if (exp >= 31) return sign | 0x7c00;
  mant = Math.round(mant / 8192);
  if (mant === 1024) { mant = 0; exp += 1; }
  return sign | (exp << 10) | mant;
}

export function float32Bytes(values) {
  const dv = new DataView(new ArrayBuffer(4 * values.length));
  values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  return dv;
}

export function uint16Bytes(values) {
  const dv = new DataView(new ArrayBuffer(2 * values.length));
  values.forEach((v, i) => dv.setUint16(2 * i, v, true));
  return dv;
}

export function pointer(target, type, x, y, extra = {}) {
  target.dispatchEvent(new PointerEvent(type, { clientX: x, clientY: y, button: 0, pointerId: 1, bubbles: true, ...extra }));
}

/** A small bumpy sheet facing +z: a grid of (n+1)^2 vertices, 2 n^2 triangles. */
export function gridMesh(n = 6, size = 10) {
  const v = [];
  for (let j = 0; j <= n; j++) for (let i = 0; i <= n; i++) {
    const x = (i / n - 0.5) * size, y = (0.5 - j / n) * size;
    v.push(x, y, 2 - (x * x + y * y) / (size * size));
  }
  const t = [];
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
    const a = j * (n + 1) + i, b = a + 1, c = a + n + 1, d = c + 1;
    t.push(a, c, b, b, c, d); // counter-clockwise seen from +z (y up)
  }
  return { vertices: v, triangles: t };
}
