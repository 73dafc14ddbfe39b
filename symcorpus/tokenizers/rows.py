"""Token rows as Arrow list arrays (a shard's `tokens` and `conditions` columns), viewed as numpy:
one flat values array and offsets that start at 0, the form the vectorised packing and shifting
code works on."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (a Table's column comes as a ChunkedArray)."""
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def list_parts(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from 0 as int64, flat values) of a list column; row i is values[offsets[i]:offsets[i+1]]."""
    array = as_array(column)
    offsets = array.offsets.to_numpy().astype(np.int64)
    return offsets - offsets[0], array.flatten().to_numpy(zero_copy_only=False)


def list_array(offsets: np.ndarray, values: np.ndarray) -> pa.ListArray:
    """The list<int32> column of (offsets, values), as token shards store it."""
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values.astype(np.int32)))
