"""``facewidget.export_html``: one self-contained, interactive HTML file from views or a notebook.

The page carries everything the views need, so it opens from a file with the network off:

* the widget manager state (every model the views depend on, binary buffers as raw bytes),
  gzip-compressed and base64-encoded — the browser inflates it natively (``DecompressionStream``);
  the front-end source that every anywidget repeats in its ``_esm``/``_css`` state is stored once
  (see :func:`pack_state`);
* a kernel-less widget manager with anywidget's model and view (``facewidget/static/export.js``,
  bundled from npm by ``npm run build``: ``@jupyter-widgets/base-manager``, ``base``,
  ``controls`` and ``anywidget``) and its CSS, inlined;
* one ``<script type="application/vnd.jupyter.widget-view+json">`` per view, where it is shown.

The views run their own front end in the page: dragging the overlay, rotating the canonical face,
hovering and switching maps all work; what needs Python (a live run, reading annotations back)
does not, as there is no kernel.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import FacewidgetError, ParameterError
from .base import STATIC, FrontEndMissingError

STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
#: the page's own state script type (gzip + base64 JSON, read by js/src/export/state.js)
PACKED_STATE_MIME = "application/vnd.facewidget.widget-state+gzip"
SOURCE_REF = "$fw_source"
#: state keys whose (long, repeated) text is stored once per page
_SHARED_SOURCE_KEYS = ("_esm", "_css")
_SHARED_MIN_CHARS = 512


class ExportError(FacewidgetError, RuntimeError):
    """A notebook or a set of views cannot be exported (e.g. the notebook has no widget state)."""


def export_html(source: Any, path: str | Path, *, title: str | None = None,
                photo_quality: int | None = 90) -> Path:
    """Write ``source`` as one self-contained HTML page at ``path``; returns the path.

    ``source`` is a view (any ipywidgets widget, e.g. :func:`facewidget.show`'s result), a list of
    views, or a notebook that was executed with its widget state saved: a path to an ``.ipynb``
    file or an ``nbformat`` notebook (JupyterLab saves the state with "Save Widget State
    Automatically"; ``jupyter execute`` / nbclient save it always). The page needs no kernel and
    no network: the widget manager, the front end and the state are inlined.

    Photos are stored once per page, as JPEG at ``photo_quality`` (default 90: a tour page stays
    a few MB; the maps stay exact). ``photo_quality=None`` keeps the photos' lossless PNG.
    """
    if photo_quality is not None and (isinstance(photo_quality, bool) or not isinstance(photo_quality, int)
                                      or not 1 <= photo_quality <= 95):
        raise ParameterError("photo_quality", photo_quality, "an int in [1, 95], or None for lossless PNG")
    path = Path(path)
    nb = _as_notebook(source)
    if nb is not None:
        page = _notebook_page(nb, title, photo_quality)
    else:
        page = _views_page(_as_widgets(source), title, photo_quality)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


# --- inputs ---------------------------------------------------------------------------------------
def _as_notebook(source: Any):
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.suffix != ".ipynb":
            raise ParameterError("source", source, "a view, a list of views, or a path to an executed .ipynb")
        if not p.is_file():
            raise ParameterError("source", source, "an existing .ipynb file", message=f"no notebook at {p}")
        text = p.read_text(encoding="utf-8")
    elif isinstance(source, Mapping) and "cells" in source and "metadata" in source:
        text = json.dumps(source)
    else:
        return None
    import nbformat

    try:
        return nbformat.reads(text, as_version=4)
    except Exception as e:  # not JSON, or not a notebook
        raise ParameterError("source", source, "a readable .ipynb notebook", message=f"cannot read the notebook: {e}") from e


def _as_widgets(source: Any) -> list:
    from ipywidgets import Widget

    views = [source] if isinstance(source, Widget) else (list(source) if isinstance(source, Iterable) else None)
    if not views or not all(isinstance(v, Widget) for v in views):
        raise ParameterError("source", source, "a view, a non-empty list of views, or a path to an executed .ipynb")
    closed = [v for v in views if v.comm is None]
    if closed:
        raise ExportError(f"{len(closed)} of the views were closed; a closed view has no state to export")
    return views


# --- the page's parts ---------------------------------------------------------------------------
def _runtime() -> tuple[str, str]:
    js, css = STATIC / "export.js", STATIC / "export.css"
    if not js.exists():
        raise FrontEndMissingError(
            f"{js} is missing: build the front end with `cd js && npm ci && npm run build`")
    return js.read_text(encoding="utf-8"), css.read_text(encoding="utf-8") if css.exists() else ""


def _script_text(text: str) -> str:
    """JavaScript safe inside a <script> element: no ``</script`` that would end it early."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


def _json_script_text(text: str) -> str:
    """JSON safe inside a <script> element (``<\\/`` is the same string in JSON)."""
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _smaller_photo(raw: bytes, quality: int | None) -> bytes:
    """An opaque PNG photo as JPEG at ``quality`` when that is smaller (the views draw any image
    format the browser decodes); other buffers unchanged."""
    if quality is None or not raw.startswith(_PNG_SIGNATURE) or len(raw) < 32_768:
        return raw
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(raw))
    if img.mode not in ("RGB", "L"):
        if "A" not in img.getbands() or img.getchannel("A").getextrema()[0] < 255:
            return raw  # transparency or an unusual mode: keep it lossless
        img = img.convert("RGB")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue() if out.tell() < len(raw) else raw


def pack_state(manager_state: Mapping, photo_quality: int | None = None) -> str:
    """The page's state script: base64 of gzip of ``uint32 n | n bytes of JSON | binary buffers``.

    The JSON is ``{"sources": [...], "state": manager_state}`` where shared front-end sources are
    stored once (``{"$fw_source": i}`` in a model's state) and each model's binary buffers are
    raw bytes after the JSON (``"fw_buffers": [{"path", "offset", "length"}]``), not base64
    inside it: PNGs and float16 maps then cost their own size, and a photo that several views
    show is stored once. ``photo_quality`` (1-95) re-encodes opaque PNG photos as JPEG.
    """
    sources: list[str] = []
    index: dict[str, int] = {}
    blob = bytearray()
    stored: dict[bytes, tuple[int, int]] = {}  # buffer bytes → (offset, length) in blob: each once
    packed_models = {}
    for model_id, entry in manager_state["state"].items():
        state = dict(entry.get("state", {}))
        for key in _SHARED_SOURCE_KEYS:
            value = state.get(key)
            if isinstance(value, str) and len(value) >= _SHARED_MIN_CHARS:
                if value not in index:
                    index[value] = len(sources)
                    sources.append(value)
                state[key] = {SOURCE_REF: index[value]}
        packed = {k: v for k, v in entry.items() if k not in ("state", "buffers")}
        refs = []
        for buf in entry.get("buffers", []):
            data = buf["data"]
            raw = (base64.b64decode(data) if buf.get("encoding", "base64") == "base64" else bytes.fromhex(data)) \
                if isinstance(data, str) else bytes(data)
            if raw not in stored:
                small = _smaller_photo(raw, photo_quality)
                stored[raw] = (len(blob), len(small))
                blob += small
            offset, length = stored[raw]
            refs.append({"path": buf["path"], "offset": offset, "length": length})
        packed_models[model_id] = {**packed, "state": state, **({"fw_buffers": refs} if refs else {})}
    doc = {"sources": sources, "state": {**manager_state, "state": packed_models}}
    head = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    payload = len(head).to_bytes(4, "little") + head + bytes(blob)
    return base64.b64encode(gzip.compress(payload, compresslevel=9, mtime=0)).decode("ascii")


def unpack_state(text: str) -> dict:
    """Inverse of :func:`pack_state` (what the page's runtime does): the manager state with
    base64 buffers, for tests and tools."""
    payload = gzip.decompress(base64.b64decode(text))
    n = int.from_bytes(payload[:4], "little")
    doc = json.loads(payload[4:4 + n])
    blob = payload[4 + n:]
    sources = doc["sources"]
    for entry in doc["state"]["state"].values():
        st = entry["state"]
        for key, value in list(st.items()):
            if isinstance(value, dict) and SOURCE_REF in value:
                st[key] = sources[value[SOURCE_REF]]
        refs = entry.pop("fw_buffers", [])
        if refs:
            entry["buffers"] = [{"path": r["path"], "encoding": "base64",
                                 "data": base64.b64encode(blob[r["offset"]:r["offset"] + r["length"]]).decode()}
                                for r in refs]
    return doc["state"]


def _without_plotly_messages(manager_state: Mapping) -> dict:
    """The state without plotly FigureWidgets' one-off message traits (``_py2js_*``, ``_js2py_*``):
    they mean nothing in a saved page, and plotly's front end cannot read some of them back once
    they were reset to null (``_py2js_restyle``)."""
    models = {}
    for model_id, entry in manager_state["state"].items():
        st = entry.get("state", {})
        if "_widget_layout" in st and "_widget_data" in st:
            st = {k: v for k, v in st.items() if not k.startswith(("_py2js_", "_js2py_"))}
            buffers = [b for b in entry.get("buffers", []) if b["path"][0] in st]
            entry = {**entry, "state": st, "buffers": buffers}
        models[model_id] = entry
    return {**manager_state, "state": models}


def _scripts(manager_state: Mapping, photo_quality: int | None) -> str:
    manager_state = _without_plotly_messages(manager_state)
    js, _css = _runtime()
    return (f'<script type="{PACKED_STATE_MIME}">{pack_state(manager_state, photo_quality)}</script>\n'
            f"<script>{_script_text(js)}</script>\n")


def _style() -> str:
    return f"<style>{_runtime()[1]}</style>"


def _view_tag(model_id: str) -> str:
    spec = {"version_major": 2, "version_minor": 0, "model_id": model_id}
    return f'<script type="{VIEW_MIME}">{_json_script_text(json.dumps(spec))}</script>'


_PAGE_CSS = """
body { margin: 0; padding: 16px 24px; font-family: var(--jp-ui-font-family, system-ui, sans-serif);
       background: var(--jp-layout-color0, #fff); color: var(--jp-ui-font-color1, #222); }
.fw-export-title { font-size: 20px; margin: 0 0 12px; }
.fw-export-cell { margin: 0 0 24px; }
"""


def _views_page(views: list, title: str | None, photo_quality: int | None) -> str:
    from ipywidgets.embed import dependency_state

    state = dependency_state(views, drop_defaults=False)  # anywidget needs _view_name
    _current_plotly_figures(state)
    manager_state = {"version_major": 2, "version_minor": 0, "state": state}
    title = title or "facewidget views"
    cells = "\n".join(f'<div class="fw-export-cell">{_view_tag(v.model_id)}</div>' for v in views)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{_style()}
<style>{_PAGE_CSS}</style>
</head>
<body class="jp-ThemedContainer">
<h1 class="fw-export-title">{html.escape(title)}</h1>
{cells}
{_scripts(manager_state, photo_quality)}
</body>
</html>
"""


def _current_plotly_figures(state: dict) -> None:
    """Write each plotly FigureWidget's current traces and layout into its exported state.

    A FigureWidget sends later changes (``add_trace``, restyles) as one-off messages; its synced
    ``_widget_data`` keeps the traces it was built with, so a page built from that state alone
    would draw an empty chart. (A notebook saved by JupyterLab carries the browser's complete
    state; one executed by nbclient has the same gap, which only the figure's owner can close.)
    """
    try:
        from ipywidgets.widgets.widget import _instances
        from plotly.basewidget import BaseFigureWidget
    except ImportError:
        return
    for model_id, entry in state.items():
        fig = _instances.get(model_id)
        if isinstance(fig, BaseFigureWidget):
            current = json.loads(fig.to_json())
            entry["state"]["_widget_data"] = current.get("data", [])
            entry["state"]["_widget_layout"] = current.get("layout", {})


# nbconvert's "lab" page without anything that loads from the network (RequireJS, the CDN widget
# renderer, MathJax, mermaid); our state and runtime go at the end of the body.
_NOTEBOOK_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}{{ resources.fw_style }}{%- endblock html_head_css -%}
{% block body_footer %}
</main>
{{ resources.fw_scripts }}
</body>
{% endblock body_footer %}
{% block footer %}
</html>
{% endblock footer %}
"""


def _notebook_page(nb: Mapping, title: str | None, photo_quality: int | None) -> str:
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    manager_state = (nb.get("metadata", {}).get("widgets") or {}).get(STATE_MIME)
    shown = [o for c in nb.get("cells", []) for o in c.get("outputs", []) if VIEW_MIME in o.get("data", {})]
    if shown and not manager_state:
        raise ExportError(
            "the notebook shows widgets but carries no widget state: execute it with `jupyter execute` "
            "(or nbclient), or save it from JupyterLab with Settings → Save Widget State Automatically")
    # nbconvert shows a widget output only when its model is in metadata.widgets; the template
    # (above) leaves out nbconvert's own state script: the state travels packed, in fw_scripts
    node = nbformat.from_dict(nb)
    if title:
        node.metadata["title"] = title
    exporter = HTMLExporter(template_name="lab", template_file="fw_offline.html.j2",
                            extra_loaders=[DictLoader({"fw_offline.html.j2": _NOTEBOOK_TEMPLATE})])
    resources = {"fw_style": _style(),
                 "fw_scripts": _scripts(manager_state, photo_quality) if manager_state else "",
                 "metadata": {"name": title or "notebook"}}
    page, _ = exporter.from_notebook_node(node, resources=resources)
    return page
