"""Data-set runs: one engine for every data-set-level computation.

``run(items, work, accumulator, client=None, partition_size=..., checkpoint=None, progress=None,
cancel=None)``: items → partitions → per-item work → mergeable accumulators → one result, the same
in-process or on a Dask cluster. See :mod:`.core` and :mod:`.accumulators`.
"""

from .accumulators import (Accumulator, Composite, Histogram, Keyed, MapStats, MeanVar, Table, arrays_equal,
                           from_arrays)
from .core import (DEFAULT_PARTITION_SIZE, CheckpointError, MissingExtraError, RunResult, Skip, SkipItem,
                   fingerprint, local_client, require_distributed, run)
from .models import ModelHandle, load_from_spec, model_spec
from .progress import progress_callback

__all__ = ["Accumulator", "CheckpointError", "Composite", "DEFAULT_PARTITION_SIZE", "Histogram", "Keyed",
           "MapStats", "MeanVar", "MissingExtraError", "ModelHandle", "RunResult", "Skip", "SkipItem", "Table",
           "arrays_equal", "fingerprint", "from_arrays", "load_from_spec", "local_client", "model_spec",
           "progress_callback", "require_distributed", "run"]
