"""Repeat-factor sampling: rows whose value of one condition family is rare are seen more often.

A corpus of folk tunes is ~98% piano, so a model meets "instruments = Voice Oohs" a few hundred times
in a run and learns to ignore the instruments condition. Following LVIS' repeat-factor sampling, a
row whose family value (e.g. its instrument set) makes up a share f of the rows is repeated
r = clip(sqrt(threshold / f), 1, max_repeat) times per epoch; the fractional part of r is one more
copy with that probability, drawn from a hash of (id, chunk, seed, epoch), so an epoch is the same on
every machine. Each copy draws its own condition and family dropout (the copy number salts the hash).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from symcorpus.arrays import as_array, list_parts

if TYPE_CHECKING:
    from symcorpus.tokenizers.conditions import ConditionVocab

COPY_SHIFT = np.uint64(32)  # a copy's number goes above any chunk number in the dropout hash


@dataclass(frozen=True)
class RepeatFactors:
    """How often each value of one condition family is repeated. A value is the tuple of its slots'
    condition tokens; rows whose conditions do not have n_slots slots, and values not listed, get 1."""

    family: str
    slots: tuple[int, ...]  # positions of the family's slots among a row's condition tokens
    n_slots: int  # condition tokens per row in this tokenizer's layout
    values: tuple[tuple[int, ...], ...]
    repeats: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"family": self.family, "slots": list(self.slots), "n_slots": self.n_slots,
                "values": [list(v) for v in self.values], "repeats": list(self.repeats)}

    @classmethod
    def from_dict(cls, data: dict) -> RepeatFactors:
        return cls(data["family"], tuple(data["slots"]), int(data["n_slots"]),
                   tuple(tuple(v) for v in data["values"]), tuple(float(r) for r in data["repeats"]))

    def of_rows(self, conditions: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The repeat factor (float >= 1) of each row, from its condition tokens."""
        out = np.ones(len(conditions), dtype=np.float64)
        rows, keys = _family_keys(conditions, self.slots, self.n_slots)
        if len(rows) == 0:
            return out
        table = {v: r for v, r in zip(self.values, self.repeats)}
        out[rows] = [table.get(tuple(k), 1.0) for k in keys.tolist()]
        return out


def _family_keys(conditions: pa.Array | pa.ChunkedArray, slots: tuple[int, ...], n_slots: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(rows with the full slot layout, their family's slot tokens as a (rows, len(slots)) array)."""
    offsets, values = list_parts(conditions)
    rows = np.flatnonzero(np.diff(offsets) == n_slots)
    at = offsets[rows][:, None] + np.asarray(slots, dtype=np.int64)[None, :]
    return rows, values[at] if len(rows) else np.empty((0, len(slots)), dtype=values.dtype)


def repeat_factors(files: Iterable[Path], conditions: ConditionVocab, family: str, threshold: float,
                   max_repeat: float, ids: pa.Array | None = None) -> RepeatFactors:
    """Count the family's values over the token shards' rows (only `ids` when given) and turn each
    value's share f into its repeat factor clip(sqrt(threshold / f), 1, max_repeat)."""
    family_slots, n_slots = tuple(conditions.family_slots(family)), conditions.length
    counts: Counter[tuple[int, ...]] = Counter()
    total = 0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65536, columns=["id", "conditions"]):
            if ids is not None:
                batch = batch.filter(pc.is_in(batch.column("id"), value_set=ids))
            total += batch.num_rows
            _, keys = _family_keys(batch.column("conditions"), family_slots, n_slots)
            counts.update(map(tuple, keys.tolist()))
    values = sorted(counts)
    repeats = [min(float(max_repeat), max(1.0, math.sqrt(threshold * total / counts[v]))) for v in values]
    kept = [(v, r) for v, r in zip(values, repeats) if r > 1.0]
    return RepeatFactors(family, family_slots, n_slots, tuple(v for v, _ in kept), tuple(r for _, r in kept))


def copies(factors: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Whole copies per row: floor(r), plus one more when uniform < r - floor(r)."""
    whole = np.floor(factors)
    return (whole + (uniform < factors - whole)).astype(np.int64)


def repeat_rows(batch: pa.RecordBatch | pa.Table, n_copies: np.ndarray, chunks: pa.Array
                ) -> tuple[pa.RecordBatch | pa.Table, np.ndarray]:
    """The batch with row i repeated n_copies[i] times (copies adjacent), and per output row its
    dropout salt: the chunk number, plus the copy number shifted above it (copy 0 keeps the chunk
    number, so a row's first copy draws exactly what it would without balancing)."""
    rows = np.repeat(np.arange(len(n_copies)), n_copies)
    starts = np.concatenate([[0], np.cumsum(n_copies)[:-1]])
    copy = np.arange(len(rows)) - np.repeat(starts, n_copies)
    chunk = np.asarray(as_array(chunks), dtype=np.int64).astype(np.uint64)[rows]
    return batch.take(pa.array(rows)), chunk + (copy.astype(np.uint64) << COPY_SHIFT)
