// Progress bar, status and Run / Cancel buttons of a live run (state lives in the kernel).
import { button, h, onModel } from "./dom.js";

export function liveControls(model, root) {
  const bar = h("progress", { class: "fw-progress", attrs: { max: 1, value: 0 } });
  const status = h("span", { class: "fw-status" });
  const run = button("Run", () => model.send({ type: "run" }), "fw-button fw-run");
  const cancel = button("Cancel", () => model.send({ type: "cancel" }), "fw-button fw-cancel");
  const el = h("div", { class: "fw-live" }, [run, cancel, bar, status]);
  const update = () => {
    const [done, total] = model.get("progress") || [0, 0];
    bar.max = Math.max(total, 1);
    bar.value = Math.min(done, Math.max(total, 1));
    const running = model.get("running");
    const st = model.get("status") || "";
    const rel = model.get("reliability");
    const reliability = rel === null || rel === undefined ? "" : ` · reliability ${rel.toFixed(2)}`;
    status.textContent = (total > 0 ? `${st} ${done}/${total}` : st) + reliability;
    run.disabled = running || !model.get("can_run");
    cancel.disabled = !running;
    el.hidden = !model.get("can_run") && !running && total === 0;
    root.dataset.status = st;
    root.dataset.running = String(!!running);
    root.dataset.liveUpdates = String(model.get("live_updates") || 0);
    if (reliability) root.dataset.reliability = String(rel);
    else delete root.dataset.reliability;
  };
  const offs = ["progress", "status", "running", "can_run", "live_updates", "reliability"].map((k) => onModel(model, `change:${k}`, update));
  update();
  return { el, dispose: () => offs.forEach((f) => f()) };
}
