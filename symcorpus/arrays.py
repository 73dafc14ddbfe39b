"""numpy and Arrow helpers shared by the pipeline, tokenizers and training.

- `mix64` / `splitmix64`: SplitMix64's integer hash, vectorised (bar hashes, MinHash, dropout draws).
- `as_array`, `list_parts`, `list_array`: list columns (a token shard's `tokens` and `conditions`)
  as one flat numpy values array and offsets from 0, the form vectorised packing works on, and back.
- `list_column`: a list column from one numpy array (or None) per row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's state increment
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S1, _S2, _S3 = np.uint64(30), np.uint64(27), np.uint64(31)


def _finalise(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on a uint64 array the caller owns (changed in place)."""
    with np.errstate(over="ignore"):  # wrapping is the point; 0-d arrays would warn
        z ^= z >> _S1
        z *= _M1
        z ^= z >> _S2
        z *= _M2
        z ^= z >> _S3
    return z


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: spreads structured integers (packed note fields, shingle codes) over
    all 64 bits, so sums and minima of hashes rarely collide. Any integer array; negative values are
    taken as their two's complement. Returns a new uint64 array."""
    return _finalise(np.asarray(x).astype(np.uint64))


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output for state `x`: the state advanced by the golden gamma, then `mix64`.
    Unlike `mix64`, 0 does not hash to 0. Returns a new uint64 array."""
    z = np.asarray(x).astype(np.uint64)
    with np.errstate(over="ignore"):
        z += GOLDEN_GAMMA
    return _finalise(z)


# --------------------------------------------------------------------------------------------------
# Arrow list columns


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


def list_column(values: Sequence[np.ndarray | None], arrow_type: pa.ListType) -> pa.Array:
    """A list column from one numpy array (or None, a null row) per row, without a Python object
    per element."""
    lengths = np.array([0 if v is None else len(v) for v in values], dtype=np.int32)
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    present = [v for v in values if v is not None]
    flat = np.concatenate(present) if present else np.empty(0)
    mask = pa.array([v is None for v in values]) if len(present) < len(values) else None
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=arrow_type.value_type), mask=mask)
