// A photo on a canvas with maps drawn over it through their affines (photo pixels, centres at integers).
import { pngUrl } from "./buffers.js";
import { colorize } from "./colormap.js";
import { canvas, loadImage } from "./dom.js";

/** Canvas transform for a w x h bitmap placed by affine `m` (map pixel → photo pixel) at scale s. */
export function bitmapTransform(m, s) {
  const [a, b, c, d, e, f] = m;
  return [s * a, s * d, s * b, s * e, s * (c - 0.5 * a - 0.5 * b + 0.5), s * (f - 0.5 * d - 0.5 * e + 0.5)];
}

/** Offscreen canvas holding the coloured map (null without canvas support). */
export function mapBitmap(decoded, opts) {
  if (!decoded) return null;
  const rgba = colorize(decoded.values, opts);
  const c = document.createElement("canvas");
  c.width = decoded.width;
  c.height = decoded.height;
  const ctx = c.getContext ? c.getContext("2d") : null;
  if (!ctx || typeof ImageData === "undefined") return null;
  ctx.putImageData(new ImageData(rgba, decoded.width, decoded.height), 0, 0);
  return c;
}

export function photoPanel(maxWidth = 480) {
  const { canvas: cv, ctx } = canvas(maxWidth, maxWidth * 0.75);
  let img = null;
  let url = null;
  let size = [1, 1];
  let scale = 1;
  const panel = {
    canvas: cv,
    ctx,
    get scale() { return scale; },
    get size() { return size; },
    get ready() { return img !== null; },
    /** Replace the photo: PNG bytes and the original size [W, H]. Resolves when decoded. */
    setPhoto(bytes, photoSize) {
      size = photoSize && photoSize[0] > 0 ? photoSize : [1, 1];
      scale = Math.min(1, maxWidth / size[0]);
      cv.width = Math.max(1, Math.round(size[0] * scale));
      cv.height = Math.max(1, Math.round(size[1] * scale));
      if (url) URL.revokeObjectURL(url);
      if (!bytes || bytes.byteLength === 0) { img = null; return Promise.resolve(null); }
      url = pngUrl(bytes);
      const { img: im, promise } = loadImage(url);
      return promise.then(() => { img = im; return im; });
    },
    toCanvas: (x, y) => [(x + 0.5) * scale, (y + 0.5) * scale],
    toPhoto: (cx, cy) => [cx / scale - 0.5, cy / scale - 0.5],
    /** Draw the photo, then each {bitmap, affine} layer. */
    draw(layers = []) {
      if (!ctx) return false;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, cv.width, cv.height);
      if (img) ctx.drawImage(img, 0, 0, cv.width, cv.height);
      ctx.imageSmoothingEnabled = true;
      for (const layer of layers) {
        if (!layer || !layer.bitmap) continue;
        ctx.setTransform(...bitmapTransform(layer.affine, scale));
        ctx.drawImage(layer.bitmap, 0, 0);
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      return img !== null;
    },
    dispose() {
      if (url) URL.revokeObjectURL(url);
      url = null;
    },
  };
  return panel;
}
