// anywidget's npm build is an AMD module (`define(["@jupyter-widgets/base"], factory)`). This
// module runs before it (see index.js) and captures the factory instead of loading it with
// RequireJS; it has no `define.amd`, so UMD modules in the bundle take their CommonJS path.
export const captured = { factory: null };
globalThis.define = (_deps, factory) => {
  captured.factory = factory;
};
