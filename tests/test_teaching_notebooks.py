"""The teaching notebooks (one per method) run top to bottom in a real kernel, show live views,
print the numbers they teach, and export to an offline HTML page with every view's state."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


def _runner():
    spec = importlib.util.spec_from_file_location("run_headless", REPO / "notebooks" / "run_headless.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# what each notebook must print: the numbers it is there to teach
EXPECTED = {
    "pairs.ipynb": [r"genuine\s+score=\S+ same=True", r"impostor score=\S+ same=False",
                    r"seed 0 vs seed 1: rank correlation -?\d\.\d\d", r"deletion\s+AUC accuracy: corrrise",
                    r"beats random: \{"],
    "canonical.ipynb": [r"group '\w+': \d+ images", r"p=\d\.\d{3}"],
    "quality.ipynb": [r"high set: \d+ images \| low set: \d+ images", r"mean deviation \d\.\d{3}"],
}


def test_every_teaching_notebook_is_generated_from_the_script():
    import nbformat

    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "notebooks" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the __main__ guard keeps it from writing
    assert set(module.NOTEBOOKS) == set(EXPECTED)
    for name, cells in module.NOTEBOOKS.items():
        saved = nbformat.read(REPO / "notebooks" / name, as_version=4)
        assert [c.source for c in saved.cells] == [c.source for c in cells], f"regenerate {name}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_teaching_notebook_executes_and_exports(name, tmp_path):
    import facewidget as fw
    from facewidget.widgets.export import PACKED_STATE_MIME, unpack_state

    nb = _runner().execute(REPO / "notebooks" / name, timeout=600)
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    assert all(c.execution_count for c in code)
    text = "".join(o.get("text", "") for o in outputs)
    for pattern in EXPECTED[name]:
        assert re.search(pattern, text), (pattern, text[-2000:])
    shown = {o["data"][WIDGET_VIEW]["model_id"] for o in outputs if WIDGET_VIEW in o.get("data", {})}
    assert shown, "no live view"
    state = nb.metadata["widgets"][STATE]["state"]
    assert shown <= set(state)  # every view's state is saved with the notebook

    import nbformat

    executed = tmp_path / name
    nbformat.write(nb, executed)
    page = fw.export_html(executed, tmp_path / "page.html").read_text()
    packed = re.search(rf'<script type="{re.escape(PACKED_STATE_MIME)}">([^<]+)</script>', page).group(1)
    assert shown <= set(unpack_state(packed)["state"])
    assert page.count(f'<script type="{WIDGET_VIEW}">') == len(
        [o for o in outputs if WIDGET_VIEW in o.get("data", {})])
    # nothing to fetch: no external script, stylesheet or image
    assert not re.search(r'<(script|img)[^>]+src="(https?:)?//', page)
    assert not re.search(r'<link[^>]+href="(https?:)?//', page)
