// Undo / redo of the edits a reader makes in a view (annotations, overlay moves, region selection).
// An edit is {label, undo(), redo()}: `redo` re-applies it, `undo` reverts it; both sync the model.

export class UndoStack {
  constructor(limit = 200) {
    this.limit = limit;
    this.done = [];
    this.undone = [];
  }

  /** Record an edit that has just been applied. A new edit clears the redo history. */
  push(edit) {
    if (!edit || typeof edit.undo !== "function" || typeof edit.redo !== "function") throw new TypeError("an edit needs undo() and redo()");
    this.done.push(edit);
    if (this.done.length > this.limit) this.done.shift();
    this.undone = [];
  }

  get canUndo() { return this.done.length > 0; }
  get canRedo() { return this.undone.length > 0; }

  /** Revert the last edit; returns it (or null when there is nothing to undo). */
  undo() {
    const e = this.done.pop();
    if (!e) return null;
    e.undo();
    this.undone.push(e);
    return e;
  }

  /** Re-apply the last undone edit; returns it (or null). */
  redo() {
    const e = this.undone.pop();
    if (!e) return null;
    e.redo();
    this.done.push(e);
    return e;
  }

  clear() { this.done = []; this.undone = []; }
}

/**
 * An edit that sets model trait `key` from `before` to `after` (values are copied), with one
 * save_changes per step.
 */
export function traitEdit(model, key, before, after, label = key) {
  const copy = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
  const b = copy(before), a = copy(after);
  const apply = (v) => { model.set(key, copy(v)); model.save_changes(); };
  return { label, undo: () => apply(b), redo: () => apply(a) };
}

/**
 * What a keydown means inside a view: "undo", "redo", "finish", "cancel", "delete", or null.
 * Ctrl on Linux/Windows and Cmd (metaKey) on macOS; Ctrl+Y also redoes.
 */
export function keyAction(e) {
  const mod = e.ctrlKey || e.metaKey;
  const k = (e.key || "").toLowerCase();
  if (mod && k === "z") return e.shiftKey ? "redo" : "undo";
  if (mod && k === "y") return "redo";
  if (mod || e.altKey) return null;
  if (e.key === "Enter") return "finish";
  if (e.key === "Escape") return "cancel";
  if (e.key === "Delete" || e.key === "Backspace") return "delete";
  return null;
}

const TEXT_FIELDS = new Set(["INPUT", "TEXTAREA", "SELECT"]);

/**
 * Keyboard inside a view: Jupyter's shortcuts never see it (`data-lm-suppress-shortcuts` stops
 * Lumino's key bindings, stopPropagation stops the notebook's own handlers), Ctrl/Cmd+Z and
 * Shift+Ctrl/Cmd+Z undo and redo through `undo`, the rest goes to `onKey(event, action)`, which
 * returns true when it used the key. Text fields keep their own editing keys. Returns a dispose.
 */
export function bindViewKeys(root, undo, onKey = () => false) {
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const down = (e) => {
    e.stopPropagation();
    const tag = e.target && e.target.tagName;
    if (TEXT_FIELDS.has(tag)) return; // typing a label: native editing, native text undo
    const action = keyAction(e);
    if (tag === "BUTTON" && (e.key === "Enter" || e.key === " ")) return; // activates the button
    let used = false;
    if (action === "undo") { undo.undo(); used = true; }
    else if (action === "redo") { undo.redo(); used = true; }
    else used = !!onKey(e, action);
    if (used) e.preventDefault();
    root.dataset.undo = String(undo.done.length);
    root.dataset.redo = String(undo.undone.length);
  };
  root.addEventListener("keydown", down);
  return () => root.removeEventListener("keydown", down);
}
