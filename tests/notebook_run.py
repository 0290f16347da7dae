"""Execute code cells as a notebook with nbclient (a real kernel), the way `make demo HEADLESS=1` does."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def execute_cells(cells: list[str], timeout: int = 120):
    """A new notebook of ``cells``, executed in a python3 kernel started in the repository root
    (so ``tests.*`` helpers import); returns the executed ``nbformat`` notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env_path) if p)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    return nb
