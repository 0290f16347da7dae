"""The tour notebook runs top to bottom in a real kernel (what `make demo HEADLESS=1` does)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tour_notebook_executes():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "tour.ipynb", as_version=4)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env_path) if p)
    try:
        NotebookClient(nb, timeout=1200, kernel_name="python3",
                       resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    executed = [c for c in nb.cells if c.cell_type == "code"]
    assert executed and all(c.execution_count for c in executed)
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) >= 4
    assert all("image/png" in o["data"] for o in views if "text/plain" in o["data"]
               and "facewidget" in o["data"]["text/plain"])
    text = "".join(o.get("text", "") for o in outputs)
    assert '"label": "mouth"' in text
