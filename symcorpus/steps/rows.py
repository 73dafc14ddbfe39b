"""Rows (dicts of column values) to Arrow batches, column by column: shared by the step runners
(steps/batches.py) and the isolated child that runs them (steps/guard.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from symcorpus.arrays import list_column


def to_batch(rows: Sequence[dict[str, Any]], arrow_schema: pa.Schema) -> pa.RecordBatch:
    """Rows (dicts) to one Arrow batch, column by column; numpy-valued list columns stay numpy."""
    columns = []
    for field in arrow_schema:
        values = [row.get(field.name) for row in rows]
        if pa.types.is_list(field.type) and any(isinstance(v, np.ndarray) for v in values):
            columns.append(list_column(values, field.type))
        else:
            columns.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(columns, schema=arrow_schema)
