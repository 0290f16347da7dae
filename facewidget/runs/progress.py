"""``progress=`` as data-set functions accept it: a callable getting the explain engine's
:class:`~facewidget.explainers.engine.ProgressUpdate`, ``True`` for a tqdm bar, or None / False."""

from __future__ import annotations

from typing import Any

from ..errors import ParameterError


class TqdmProgress:
    """A ProgressUpdate callback drawing a tqdm bar, opened at the first update (a run with
    nothing to compute shows no bar)."""

    def __init__(self, desc: str, unit: str = "img"):
        self.desc, self.unit = desc, unit
        self.bar: Any = None

    def __call__(self, update) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=self.desc, unit=self.unit, total=update.total)
            self.bar.start_t -= update.elapsed_s  # the run started before its first update: a true rate
        self.bar.total = update.total
        self.bar.n = update.done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_callback(progress, desc: str):
    """(callback, bar): the ProgressUpdate callback for ``progress`` (a callable, True for a tqdm
    bar, None or False for none) and the bar to ``close()`` after the run (None unless True)."""
    if progress is None or progress is False:
        return None, None
    if progress is True:
        bar = TqdmProgress(desc)
        return bar, bar
    if not callable(progress):
        raise ParameterError("progress", progress, "a callable getting ProgressUpdate, True (a tqdm bar) or None")
    return progress, None
