import { canvasPoint } from "./dom.js";

// Pointer gestures. A gesture updates the model locally on every move (model.set, no traffic) and
// the view commits once at the end (one model.save_changes per gesture).

/**
 * Track drags on `target`. onStart(point, event) returns a gesture object
 * {move(point, dx, dy), end(point, moved)} or null to ignore the press. Points are in the target's
 * own pixels (canvas pixels, whatever CSS scaling) from its top-left corner. Returns a dispose function.
 */
export function trackDrags(target, onStart, { clickSlop = 4 } = {}) {
  let active = null;
  const local = (e) => canvasPoint(target, e);
  const down = (e) => {
    if (e.button !== undefined && e.button !== 0) return;
    const p = local(e);
    const g = onStart(p, e);
    if (!g) return;
    active = { g, start: p, last: p, moved: false, id: e.pointerId };
    if (target.setPointerCapture && e.pointerId !== undefined) {
      try { target.setPointerCapture(e.pointerId); } catch (err) { /* not capturable */ }
    }
    e.preventDefault();
  };
  const move = (e) => {
    if (!active) return;
    const p = local(e);
    if (Math.hypot(p[0] - active.start[0], p[1] - active.start[1]) > clickSlop) active.moved = true;
    if (active.moved) active.g.move(p, p[0] - active.start[0], p[1] - active.start[1]);
    active.last = p;
  };
  const up = (e) => {
    if (!active) return;
    const a = active;
    active = null;
    a.g.end(local(e), a.moved);
  };
  target.addEventListener("pointerdown", down);
  target.addEventListener("pointermove", move);
  target.addEventListener("pointerup", up);
  target.addEventListener("pointercancel", up);
  return () => {
    target.removeEventListener("pointerdown", down);
    target.removeEventListener("pointermove", move);
    target.removeEventListener("pointerup", up);
    target.removeEventListener("pointercancel", up);
  };
}
