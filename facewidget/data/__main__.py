"""``python -m facewidget.data fetch``: fetch and verify every asset (set-up step)."""

import sys

from . import fetch_all
from .assets import cache_dir

if __name__ == "__main__":
    if sys.argv[1:] not in ([], ["fetch"]):
        sys.exit("usage: python -m facewidget.data [fetch]")
    for path in fetch_all():
        print(f"ok  {path}")
    print(f"cache: {cache_dir()}")
