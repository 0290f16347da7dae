// Responsive, sharp canvases. Layout happens in the browser only: a resize never talks to the kernel.
//
// Every canvas has a CSS size (what the reader sees, following the cell width) and a backing
// store of CSS size × devicePixelRatio pixels (sharp on HiDPI screens). Views draw in backing
// pixels; `canvasPoint` (dom.js) turns pointer positions into backing pixels.

/** The current device pixel ratio (1 where the environment has none), clamped to [1, 4]. */
export function pixelRatio() {
  const r = typeof window !== "undefined" && window.devicePixelRatio > 0 ? window.devicePixelRatio : 1;
  return Math.min(4, Math.max(1, r));
}

/**
 * CSS size of a `boxWidth` × `boxHeight` picture shown in `available` CSS pixels of width.
 * The picture is scaled up or down to `preferred` CSS pixels wide (small photos grow, large
 * ones shrink), never wider than `available`, never taller than `maxHeight`, and never blown up
 * more than `maxUpscale` times. Returns {width, height, scale} (scale = CSS px per picture px).
 */
export function fitSize(boxWidth, boxHeight, { available = Infinity, preferred = 480, maxHeight = Infinity, maxUpscale = 8, minWidth = 48 } = {}) {
  const bw = Math.max(boxWidth, 1e-6), bh = Math.max(boxHeight, 1e-6);
  let width = Math.min(preferred, available > 0 ? available : preferred);
  width = Math.min(width, bw * maxUpscale);
  if ((width * bh) / bw > maxHeight) width = (maxHeight * bw) / bh;
  width = Math.max(Math.min(minWidth, available > 0 ? available : minWidth), width);
  const scale = width / bw;
  return { width: Math.round(width), height: Math.max(1, Math.round(bh * scale)), scale };
}

/** Give `cv` a CSS size and a backing store of that size × `ratio`. Returns the backing size. */
export function sizeCanvas(cv, cssWidth, cssHeight, ratio = pixelRatio()) {
  const w = Math.max(1, Math.round(cssWidth * ratio));
  const h = Math.max(1, Math.round(cssHeight * ratio));
  if (cv.width !== w) cv.width = w;
  if (cv.height !== h) cv.height = h;
  cv.style.width = `${Math.round(cssWidth)}px`;
  cv.style.height = `${Math.round(cssHeight)}px`;
  cv.dataset.ratio = String(ratio);
  return [w, h];
}

/** Usable content width of `el` in CSS pixels (0 when not laid out, e.g. before display). */
export function contentWidth(el) {
  if (!el || !el.getBoundingClientRect) return 0;
  const w = el.clientWidth || el.getBoundingClientRect().width || 0;
  return Math.floor(w);
}

/**
 * Call `onChange()` whenever `el` changes width or the device pixel ratio changes (window zoom,
 * moving to another screen). Returns a dispose function. Nothing here sends anything to the kernel.
 */
export function watchSize(el, onChange) {
  let lastWidth = -1;
  let lastRatio = pixelRatio();
  let frame = 0;
  const check = () => {
    frame = 0;
    const w = contentWidth(el);
    const r = pixelRatio();
    if (w === lastWidth && r === lastRatio) return;
    lastWidth = w;
    lastRatio = r;
    onChange();
  };
  const schedule = () => {
    if (frame) return;
    frame = typeof requestAnimationFrame === "function" ? requestAnimationFrame(check) : setTimeout(check, 0);
  };
  const offs = [];
  if (typeof ResizeObserver === "function") {
    const ro = new ResizeObserver(schedule);
    try {
      // the device-pixel box also changes with the pixel ratio (zoom, another screen), where
      // Chromium fires neither `resize` nor a resolution media query
      ro.observe(el, { box: "device-pixel-content-box" });
    } catch (e) {
      ro.observe(el);
    }
    offs.push(() => ro.disconnect());
  }
  if (typeof window !== "undefined" && window.matchMedia) {
    // a media query on the current resolution fires once when the ratio changes; then watch the new one
    let mq = null;
    const arm = () => {
      if (mq) mq.removeEventListener?.("change", onRatio);
      mq = window.matchMedia(`(resolution: ${pixelRatio()}dppx)`);
      mq.addEventListener?.("change", onRatio);
    };
    const onRatio = () => { arm(); schedule(); };
    arm();
    offs.push(() => mq && mq.removeEventListener?.("change", onRatio));
  }
  if (typeof window !== "undefined") {
    window.addEventListener("resize", schedule);
    offs.push(() => window.removeEventListener("resize", schedule));
  }
  return () => {
    if (frame) (typeof cancelAnimationFrame === "function" ? cancelAnimationFrame : clearTimeout)(frame);
    offs.forEach((f) => f());
  };
}
