// The offline page's state format (facewidget/widgets/export.py: pack_state): sources come back
// into each model, buffers become DataViews at their paths, base64 decodes to the same bytes.
import { describe, expect, it } from "vitest";
import { base64ToBytes, unpack } from "../src/export/state.js";

function payload(doc, blob) {
  const head = new TextEncoder().encode(JSON.stringify(doc));
  const out = new Uint8Array(4 + head.length + blob.length);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  out.set(blob, 4 + head.length);
  return out.buffer;
}

describe("export state", () => {
  it("expands shared sources and puts buffers at their paths", () => {
    const doc = {
      sources: ["export default {}", ".fw{}"],
      state: { version_major: 2, version_minor: 0, state: {
        m1: { model_name: "AnyModel", state: { _esm: { $fw_source: 0 }, _css: { $fw_source: 1 }, maps: { a: { shape: [1, 2] } } },
              fw_buffers: [{ path: ["photo"], offset: 0, length: 3 }, { path: ["maps", "a", "data"], offset: 3, length: 2 }] },
        m2: { model_name: "AnyModel", state: { _esm: { $fw_source: 0 }, title: "x" }, fw_buffers: [{ path: ["photo"], offset: 0, length: 3 }] },
      } },
    };
    const state = unpack(payload(doc, new Uint8Array([1, 2, 3, 9, 8])));
    const m1 = state.state.m1.state, m2 = state.state.m2.state;
    expect(m1._esm).toBe("export default {}");
    expect(m1._css).toBe(".fw{}");
    expect(m2._esm).toBe("export default {}");
    expect(m1.photo).toBeInstanceOf(DataView);
    expect([...new Uint8Array(m1.photo.buffer, m1.photo.byteOffset, m1.photo.byteLength)]).toEqual([1, 2, 3]);
    expect([...new Uint8Array(m1.maps.a.data.buffer, m1.maps.a.data.byteOffset, 2)]).toEqual([9, 8]);
    expect(m1.maps.a.shape).toEqual([1, 2]);
    expect(m2.photo.byteLength).toBe(3); // one stored photo, shared
    expect(m1.photo.byteOffset).toBe(0); // its own ArrayBuffer, as from a kernel
    expect(m1.photo.buffer.byteLength).toBe(3);
    expect(state.state.m1.fw_buffers).toBeUndefined();
  });

  it("decodes base64", () => {
    expect([...base64ToBytes(btoa(String.fromCharCode(0, 255, 7)))]).toEqual([0, 255, 7]);
  });
});
