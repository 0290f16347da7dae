// The exported page stores the widget manager state as base64 of gzip of
//   uint32 (little endian) n | n bytes of UTF-8 JSON | binary buffers
// (facewidget/widgets/export.py: pack_state). The browser inflates it natively
// (DecompressionStream). Repeated front-end sources (every anywidget carries its `_esm`/`_css`
// text) are stored once under `sources` and referenced as {"$fw_source": i}; a model's binary
// buffers are {path, offset, length} slices of the bytes after the JSON.
const SOURCE_REF = "$fw_source";

export function base64ToBytes(text) {
  if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

export async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

function putAt(state, path, value) {
  let obj = state;
  for (let i = 0; i < path.length - 1; i += 1) obj = obj[path[i]];
  obj[path[path.length - 1]] = value;
}

/** The manager state from the unpacked payload; buffers become DataViews in each model's state. */
export function unpack(payload) {
  const view = new DataView(payload);
  const n = view.getUint32(0, true);
  const doc = JSON.parse(new TextDecoder().decode(new Uint8Array(payload, 4, n)));
  const base = 4 + n;
  const { sources = [], state } = doc;
  for (const entry of Object.values(state.state)) {
    const s = entry.state;
    for (const [key, value] of Object.entries(s)) {
      if (value && typeof value === "object" && SOURCE_REF in value) s[key] = sources[value[SOURCE_REF]];
    }
    // each buffer gets its own ArrayBuffer, as from a kernel: readers may view `.buffer` whole
    // or as Float64Array (8-byte alignment)
    for (const ref of entry.fw_buffers || []) {
      const start = base + ref.offset;
      putAt(s, ref.path, new DataView(payload.slice(start, start + ref.length)));
    }
    delete entry.fw_buffers;
  }
  return state;
}

export async function inflateState(b64) {
  return unpack(await gunzip(base64ToBytes(b64)));
}
