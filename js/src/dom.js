// DOM helpers. User strings only ever go through textContent or attribute values, never innerHTML.

/** h("div", {class: "x", text: "label", attrs: {title: "t"}}, [children]) */
export function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = String(props.text);
  for (const [k, v] of Object.entries(props.attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

/** Listen and return the matching remove function. */
export function listen(target, type, fn, opts) {
  target.addEventListener(type, fn, opts);
  return () => target.removeEventListener(type, fn, opts);
}

/** model.on with a disposer. */
export function onModel(model, event, fn) {
  model.on(event, fn);
  return () => model.off(event, fn);
}

export function button(text, onClick, cls = "fw-button") {
  const b = h("button", { class: cls, text, attrs: { type: "button" } });
  b.addEventListener("click", onClick);
  return b;
}

/** A labelled range input; onInput while sliding, onCommit once at the end (change event). */
export function slider(label, { min, max, step, value, onInput, onCommit }) {
  const input = h("input", { attrs: { type: "range", min, max, step, value } });
  input.value = String(value);
  const wrap = h("label", { class: "fw-slider" }, [h("span", { text: label }), input]);
  input.addEventListener("input", () => onInput && onInput(parseFloat(input.value)));
  input.addEventListener("change", () => onCommit && onCommit(parseFloat(input.value)));
  return { el: wrap, input };
}

export function select(label, options, value, onChange) {
  const sel = h("select");
  for (const o of options) {
    const opt = h("option", { text: o, attrs: { value: o } });
    sel.appendChild(opt);
  }
  sel.value = value;
  sel.addEventListener("change", () => onChange(sel.value));
  return { el: h("label", { class: "fw-select" }, [h("span", { text: label }), sel]), input: sel };
}

/** Load PNG bytes into an <img>; resolves when decoded. Returns {img, promise, dispose}. */
export function loadImage(url) {
  const img = new Image();
  const promise = new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("image failed to load"));
  });
  img.src = url;
  return { img, promise };
}

/** A canvas and its 2-D context (null where the environment has no canvas). */
export function canvas(width, height, cls = "fw-canvas") {
  const c = h("canvas", { class: cls });
  c.width = Math.max(1, Math.round(width));
  c.height = Math.max(1, Math.round(height));
  let ctx = null;
  try {
    ctx = c.getContext ? c.getContext("2d") : null;
  } catch (e) {
    ctx = null;
  }
  return { canvas: c, ctx };
}

/**
 * Pointer position in the canvas's own pixels (the canvas may be scaled by CSS, e.g. max-width).
 */
export function canvasPoint(cv, e) {
  const r = cv.getBoundingClientRect();
  const left = r.left + (cv.clientLeft || 0);
  const top = r.top + (cv.clientTop || 0);
  const fx = cv.clientWidth ? cv.width / cv.clientWidth : 1;
  const fy = cv.clientHeight ? cv.height / cv.clientHeight : 1;
  return [(e.clientX - left) * fx, (e.clientY - top) * fy];
}
