"""``fw.show(x)`` displays its view once, however the cell ends (executed in a real kernel)."""

from __future__ import annotations

import pytest

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

CELLS = [
    "import numpy as np, facewidget as fw\nfrom IPython.display import display\nimg = fw.data.sample('obama')",
    "view = fw.show(img)",                      # 1: shown by show()
    "view = fw.show(img); view",                # 2: show() + the cell's result: still once
    "fw.show(img)",                             # 3: show() as the cell's result: once
    "view",                                     # 4: a later cell shows the view again
    "display(view)",                            # 5: an explicit display shows it
    "v2 = fw.show(img, display=False)",         # 6: build only
    "v2",                                       # 7: ...then the cell's result shows it
    "fw.show(img); fw.show(img)",               # 8: two views, two outputs
]


@pytest.fixture(scope="module")
def executed():
    from .notebook_run import execute_cells

    nb = execute_cells(CELLS)
    return nb


def _views(cell) -> list[str]:
    return [o["data"][WIDGET_VIEW]["model_id"] for o in cell.outputs if WIDGET_VIEW in o.get("data", {})]


@pytest.mark.parametrize("index, expected", [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 0), (7, 1), (8, 2)])
def test_each_cell_shows_the_expected_number_of_views(executed, index, expected):
    cell = executed.cells[index]
    assert not [o for o in cell.outputs if o.get("output_type") == "error"]
    assert len(_views(cell)) == expected, (cell.source, cell.outputs)


def test_the_returned_view_is_the_displayed_one(executed):
    # the output of cell 2 shows the very widget that `view` names in cell 4
    assert _views(executed.cells[2]) == _views(executed.cells[4]) == _views(executed.cells[5])
    a, b = _views(executed.cells[8])
    assert a != b
