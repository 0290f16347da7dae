// Binary buffers from the kernel: anywidget delivers Python `bytes` as DataView.
// Map payload contract: see facewidget/widgets/encode.py.

/** A DataView over bytes given as DataView, ArrayBuffer or a typed array. */
export function asDataView(x) {
  if (x instanceof DataView) return x;
  if (x instanceof ArrayBuffer) return new DataView(x);
  if (ArrayBuffer.isView(x)) return new DataView(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError("expected binary data (DataView, ArrayBuffer or typed array)");
}

let HALF_TABLE = null;

/** IEEE 754 half (uint16 bits) → float. */
export function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function halfTable() {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) HALF_TABLE[i] = halfToFloat(i);
  }
  return HALF_TABLE;
}

/** Little-endian float32 values of a buffer. */
export function float32Array(x) {
  const dv = asDataView(x);
  const n = dv.byteLength >> 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

/** Little-endian uint16 values of a buffer. */
export function uint16Array(x) {
  const dv = asDataView(x);
  const n = dv.byteLength >> 1;
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true);
  return out;
}

/**
 * Decode a map payload {data, shape, dtype, lo, hi, scale, signed, affine}.
 * Returns {values: Float32Array, width, height, lo, hi, signed, affine}.
 */
export function decodeMap(p) {
  if (!p || !p.data) return null;
  const dv = asDataView(p.data);
  const shape = p.shape;
  const height = shape.length === 2 ? shape[0] : 1;
  const width = shape.length === 2 ? shape[1] : shape[0];
  const n = width * height;
  const values = new Float32Array(n);
  if (p.dtype === "float16") {
    if (dv.byteLength !== 2 * n) throw new Error(`float16 map: ${dv.byteLength} bytes for ${n} values`);
    const table = halfTable();
    const k = p.scale > 0 ? p.scale : 1;
    for (let i = 0; i < n; i++) values[i] = table[dv.getUint16(2 * i, true)] * k;
  } else if (p.dtype === "uint8") {
    if (dv.byteLength !== n) throw new Error(`uint8 map: ${dv.byteLength} bytes for ${n} values`);
    const span = p.hi - p.lo;
    for (let i = 0; i < n; i++) values[i] = p.lo + (dv.getUint8(i) / 255) * span;
  } else {
    throw new Error(`unknown map dtype ${p.dtype}`);
  }
  return { values, width, height, lo: p.lo, hi: p.hi, signed: !!p.signed, affine: p.affine || [1, 0, 0, 0, 1, 0] };
}

/** An object URL for PNG bytes (revoke it when done). */
export function pngUrl(x) {
  const dv = asDataView(x);
  const bytes = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
  return URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
}
