// A kernel-less widget manager for exported pages: the same ManagerBase that
// @jupyter-widgets/html-manager extends, with the three modules our views use (base, controls for
// the HBox/VBox panels, anywidget). html-manager itself also bundles JupyterLab's rendermime stack
// for Output widgets (several MB), which no facewidget view uses.
import * as base from "@jupyter-widgets/base";
import { ManagerBase } from "@jupyter-widgets/base-manager";
import * as controls from "@jupyter-widgets/controls";
import { MessageLoop } from "@lumino/messaging";
import { Widget } from "@lumino/widgets";

const INERT_COMM = { on_close() {}, on_msg() {}, close() {}, send() {} };

export class OfflineManager extends ManagerBase {
  constructor(modules) {
    super();
    this.modules = { "@jupyter-widgets/base": base, "@jupyter-widgets/controls": controls, ...modules };
    this.views = new Set();
    window.addEventListener("resize", () => {
      for (const v of this.views) MessageLoop.postMessage(v.luminoWidget, Widget.ResizeMessage.UnknownSize);
    });
  }

  async loadClass(className, moduleName, moduleVersion) {
    const module = this.modules[moduleName];
    if (!module) throw new Error(`facewidget export: no offline copy of ${moduleName}@${moduleVersion}`);
    if (!module[className]) throw new Error(`facewidget export: ${className} is not in ${moduleName}`);
    return module[className];
  }

  async display_view(view, el) {
    const v = await view;
    Widget.attach(v.luminoWidget, el);
    this.views.add(v);
    v.once("remove", () => this.views.delete(v));
    return v;
  }

  // no kernel: models keep their state in the page, messages to Python go nowhere
  _get_comm_info() {
    return Promise.resolve({});
  }

  _create_comm() {
    return Promise.resolve(INERT_COMM);
  }
}
