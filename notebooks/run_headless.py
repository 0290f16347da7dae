"""Execute the tour and the teaching notebooks without a browser and export each one as an
interactive, offline HTML page (what `make demo HEADLESS=1` runs).

    python notebooks/run_headless.py [OUTPUT_DIR]      # default: demo-output/

Writes OUTPUT_DIR/<name>.ipynb (executed, widget state saved) and OUTPUT_DIR/<name>.html
(facewidget.export_html: opens from the file, no kernel, no network), then prints the folder.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["tour.ipynb", "pairs.ipynb", "canonical.ipynb", "quality.ipynb"]

# Run last, then removed: a plotly FigureWidget sends later changes (added traces, restyles) as
# one-off messages, so the widget state a kernel-side client (nbclient) saves keeps only the
# traces it was built with. Re-sending each figure's current data and layout puts them in the
# saved state (JupyterLab saves the browser's state and has no such gap).
SYNC_FIGURES = """
try:
    import copy as _copy
    from ipywidgets.widgets.widget import _instances as _fw_instances
    from plotly.basewidget import BaseFigureWidget as _FwFigure
except ImportError:
    pass
else:
    for _fw_fig in list(_fw_instances.values()):
        if isinstance(_fw_fig, _FwFigure):
            _fw_fig._widget_data = _copy.deepcopy(_fw_fig._data)
            _fw_fig._widget_layout = _copy.deepcopy(_fw_fig._layout)
"""


def execute(path: Path, timeout: int = 1200):
    """The notebook at ``path`` executed in a fresh python3 kernel (widget state saved)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SYNC_FIGURES))
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env_path) if p)
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    nb.cells.pop()
    return nb


def main(argv: list[str]) -> int:
    import nbformat

    sys.path.insert(0, str(REPO))
    import facewidget as fw

    out = Path(argv[1] if len(argv) > 1 else REPO / "demo-output").resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        t0 = time.perf_counter()
        nb = execute(REPO / "notebooks" / name)
        executed = out / name
        nbformat.write(nb, executed)
        page = fw.export_html(executed, executed.with_suffix(".html"), title=Path(name).stem)
        print(f"{name}: executed in {time.perf_counter() - t0:.0f} s, "
              f"{page.name} {page.stat().st_size / 1e6:.1f} MB", flush=True)
    print(f"\nexecuted notebooks and their interactive HTML pages: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
