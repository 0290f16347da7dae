// Offline page runtime for `facewidget.export_html`: a widget manager (ManagerBase, see manager.js)
// with anywidget's model and view, bundled so that an exported page needs no CDN and no kernel.
// The page carries the manager state (gzip + base64, see facewidget/widgets/export.py) and one
// <script type="application/vnd.jupyter.widget-view+json"> per view.
import { captured } from "./capture-amd.js";
import "anywidget";
import * as base from "@jupyter-widgets/base";
import "@jupyter-widgets/controls/css/widgets-base.css";
import "@lumino/widgets/style/index.css";
import { OfflineManager } from "./manager.js";
import { inflateState } from "./state.js";

delete globalThis.define;
const anywidget = captured.factory(base);

export function makeManager() {
  return new OfflineManager({ anywidget });
}

/** Render every widget view of ``root`` from the state script; returns the views rendered. */
export async function renderPage(root = document) {
  const stateTag = root.querySelector('script[type="application/vnd.facewidget.widget-state+gzip"]');
  if (!stateTag) return 0;
  performance.mark("fw-export-start");
  const state = await inflateState(stateTag.textContent.trim());
  performance.mark("fw-export-state");
  const manager = makeManager();
  const models = await manager.set_state(state);
  performance.mark("fw-export-models");
  const byId = new Map(models.map((m) => [m.model_id, m]));
  const tags = [...root.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  // all views at once: a slow module (e.g. plotly's, for a chart) does not hold back the others
  const shown = await Promise.all(tags.map(async (tag) => {
    const { model_id } = JSON.parse(tag.textContent);
    const model = byId.get(model_id);
    if (!model || !tag.parentElement) return 0;
    const host = document.createElement("div");
    host.className = "widget-subarea fw-export-view";
    tag.parentElement.insertBefore(host, tag);
    const view = await manager.create_view(model);
    await manager.display_view(view, host);
    return 1;
  }));
  performance.mark("fw-export-views");
  const rendered = shown.reduce((a, b) => a + b, 0);
  // the page's models, for tools and tests (there is no kernel to ask)
  globalThis.__fwExport = { manager, models };
  document.documentElement.dataset.fwViews = String(rendered);
  return rendered;
}

if (typeof window !== "undefined" && !globalThis.__FW_EXPORT_NO_AUTORUN__) {
  const run = () => renderPage().catch((e) => {
    document.documentElement.dataset.fwError = String(e && e.message ? e.message : e);
    console.error("facewidget export:", e);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
}
