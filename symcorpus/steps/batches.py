"""Arrow batches in and out of a step list: what Spark's mapInArrow runs in the executors, and what
runs in one process for tests and small jobs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from symcorpus import schema
from symcorpus.arrays import list_column
from symcorpus.steps.base import Piece, Step, chain
from symcorpus.steps.read import Read

OUTPUT_BATCH_ROWS = 256


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


def to_batches(pieces: Iterable[Piece], arrow_schema: pa.Schema = schema.PIECES) -> Iterator[pa.RecordBatch]:
    buffer: list[dict[str, Any]] = []
    for piece in pieces:
        buffer.append(piece.row)
        if len(buffer) >= OUTPUT_BATCH_ROWS:
            yield to_batch(buffer, arrow_schema)
            buffer = []
    if buffer:
        yield to_batch(buffer, arrow_schema)


def rows_of(batches: Iterable[pa.RecordBatch]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.to_pylist()


def run_steps(batches: Iterable[pa.RecordBatch], steps: Sequence[Step], read: Read | None = None
              ) -> Iterator[pa.RecordBatch]:
    """Batches through a step list: UNITS batches when `read` is given (the list starts by reading),
    else PIECES batches (records read earlier, cached parses, published rows). PIECES batches out."""
    rows = rows_of(batches)
    pieces = read.run(rows) if read is not None else (Piece(row) for row in rows)
    return to_batches(chain(pieces, steps))
