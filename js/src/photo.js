// A photo on a canvas with maps drawn over it through their affines (photo pixels, centres at integers).
import { pngUrl } from "./buffers.js";
import { colorize } from "./colormap.js";
import { canvas, loadImage } from "./dom.js";
import { fitSize, pixelRatio, sizeCanvas } from "./layout.js";

/**
 * Canvas transform for a w x h bitmap placed by affine `m` (map pixel → photo pixel), shown at
 * scale s with photo point (ox, oy) at the canvas origin (the whole photo: ox = oy = -0.5).
 */
export function bitmapTransform(m, s, ox = -0.5, oy = -0.5) {
  const [a, b, c, d, e, f] = m;
  return [s * a, s * d, s * b, s * e, s * (c - 0.5 * a - 0.5 * b - ox), s * (f - 0.5 * d - 0.5 * e - oy)];
}

/** The shown part of a photo: `box` [x0, y0, x1, y1] when valid, else the whole photo. */
export function viewBox(box, size) {
  if (box && box.length === 4 && box[2] > box[0] && box[3] > box[1]) return box;
  return [-0.5, -0.5, size[0] - 0.5, size[1] - 0.5];
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

/**
 * A photo panel that follows the width it is given (see layout.js): `preferred` CSS pixels wide
 * when there is room (small photos are scaled up, large ones down), narrower in a narrow cell,
 * drawn at devicePixelRatio. `scale` is backing pixels per photo pixel.
 */
export function photoPanel(preferred = 480, { maxHeight = 640, maxUpscale = 8 } = {}) {
  const { canvas: cv, ctx } = canvas(preferred, preferred * 0.75);
  let img = null;
  let url = null;
  let size = [1, 1];
  let scale = 1;
  let ratio = 1;
  let available = 0;
  let box = [-0.5, -0.5, 0.5, 0.5];
  let requested = null;
  const layout = () => {
    box = viewBox(requested, size);
    ratio = pixelRatio();
    const fit = fitSize(box[2] - box[0], box[3] - box[1], { available, preferred, maxHeight, maxUpscale });
    const [w] = sizeCanvas(cv, fit.width, fit.height, ratio);
    scale = w / (box[2] - box[0]);
    cv.dataset.cssScale = String(fit.width / (box[2] - box[0]));
  };
  const panel = {
    canvas: cv,
    ctx,
    get scale() { return scale; },
    /** backing pixels per CSS pixel (devicePixelRatio) */
    get ratio() { return ratio; },
    get size() { return size; },
    get box() { return box; },
    /** Show only `b` = [x0, y0, x1, y1] of the photo (photo pixels); null: the whole photo. */
    setView(b) { requested = b; layout(); },
    /** Re-layout for `width` CSS pixels of room (0: unknown, use the preferred width). */
    fit(width) { available = width > 0 ? width : 0; layout(); },
    get ready() { return img !== null; },
    /** Replace the photo: PNG bytes and the original size [W, H]. Resolves when decoded. */
    setPhoto(bytes, photoSize) {
      size = photoSize && photoSize[0] > 0 ? photoSize : [1, 1];
      layout();
      if (url) URL.revokeObjectURL(url);
      if (!bytes || bytes.byteLength === 0) { img = null; return Promise.resolve(null); }
      url = pngUrl(bytes);
      const { img: im, promise } = loadImage(url);
      return promise.then(() => { img = im; return im; });
    },
    toCanvas: (x, y) => [(x - box[0]) * scale, (y - box[1]) * scale],
    toPhoto: (cx, cy) => [cx / scale + box[0], cy / scale + box[1]],
    /** Draw the photo, then each {bitmap, affine} layer. */
    draw(layers = []) {
      if (!ctx) return false;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, cv.width, cv.height);
      if (img) {
        // the PNG may be smaller than the photo: source pixels = photo edge coordinates * k
        const kx = (img.naturalWidth || size[0]) / size[0], ky = (img.naturalHeight || size[1]) / size[1];
        ctx.imageSmoothingQuality = "high";
        ctx.drawImage(img, (box[0] + 0.5) * kx, (box[1] + 0.5) * ky, (box[2] - box[0]) * kx, (box[3] - box[1]) * ky, 0, 0, cv.width, cv.height);
      }
      ctx.imageSmoothingEnabled = true;
      for (const layer of layers) {
        if (!layer || !layer.bitmap) continue;
        ctx.setTransform(...bitmapTransform(layer.affine, scale, box[0], box[1]));
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
