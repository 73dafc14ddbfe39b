"""Rows (dicts of column values) to Arrow batches, column by column: shared by the step runners
(steps/batches.py) and the isolated child that runs them (steps/guard.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa


def _numpy_list_column(values: list, arrow_type: pa.ListType) -> pa.Array:
    """A list column from numpy arrays (or None) per row, without a Python object per element."""
    lengths = np.array([0 if v is None else len(v) for v in values], dtype=np.int32)
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    present = [v for v in values if v is not None]
    flat = np.concatenate(present) if present else np.empty(0)
    mask = pa.array([v is None for v in values]) if len(present) < len(values) else None
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=arrow_type.value_type), mask=mask)


def to_batch(rows: Sequence[dict[str, Any]], arrow_schema: pa.Schema) -> pa.RecordBatch:
    """Rows (dicts) to one Arrow batch, column by column; numpy-valued list columns stay numpy."""
    columns = []
    for field in arrow_schema:
        values = [row.get(field.name) for row in rows]
        if pa.types.is_list(field.type) and any(isinstance(v, np.ndarray) for v in values):
            columns.append(_numpy_list_column(values, field.type))
        else:
            columns.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(columns, schema=arrow_schema)
