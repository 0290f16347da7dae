// anywidget entry: one bundle, the Python class picks the view through the `_view` trait.
import { renderCanonical } from "./canonical.js";
import { renderOverlay } from "./overlay.js";
import { renderPair } from "./pair.js";

const VIEWS = { overlay: renderOverlay, pair: renderPair, canonical: renderCanonical };

export function render({ model, el }) {
  const name = model.get("_view");
  const view = VIEWS[name];
  if (!view) {
    el.textContent = `facewidget: unknown view ${String(name)}`;
    return () => { el.textContent = ""; };
  }
  return view({ model, el });
}

export default { render };
