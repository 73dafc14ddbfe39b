"""Arrow batches in and out of a step list: what Spark's mapInArrow runs in the executors, and what
runs in one process for tests and small jobs (`steps.run_local`).

Records go through the steps in batches of `Running.batch_rows`. Each batch is the unit of crash
isolation (a record that kills the forked child running the steps costs its batch a second try,
steps/guard.py) and of resuming (kept once finished, reused by a rerun, steps/resume.py); `Running`
says which of the two are on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from symcorpus import schema
from symcorpus.steps import guard
from symcorpus.steps.base import Piece, Step, chain
from symcorpus.steps.read import Read
from symcorpus.steps.resume import Finished
from symcorpus.steps.rows import to_batch

__all__ = ["OUTPUT_BATCH_ROWS", "Running", "rows_of", "run_batch", "run_pieces", "run_steps", "to_batch", "to_batches"]

OUTPUT_BATCH_ROWS = 256


@dataclass(frozen=True)
class Running:
    """How a step list runs: records per batch, each batch isolated or not, finished batches kept or not."""

    batch_rows: int = OUTPUT_BATCH_ROWS
    bounds: guard.Bounds | None = None  # isolate each batch in a forked child under these bounds
    finished: Finished | None = None  # keep finished batches here and reuse them

    @classmethod
    def from_settings(cls, settings: Any, finished: Finished | None = None) -> Running:
        ingest = settings.ingest
        bounds = (guard.Bounds(ingest.max_record_memory, ingest.hard_timeout_s)
                  if ingest.isolate_records and guard.available() else None)
        return cls(settings.spark.arrow_batch_size, bounds, finished)


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


def run_steps(batches: Iterable[pa.RecordBatch], steps: Sequence[Step], read: Read | None = None,
              running: Running = Running()) -> Iterator[pa.RecordBatch]:
    """Batches through a step list: UNITS batches when `read` is given (the list starts by reading),
    else PIECES batches (records read earlier, cached parses, published rows). PIECES batches out.
    Reading alone (no steps) is neither isolated nor kept: it is cheap, and pure Python."""
    rows = rows_of(batches)
    pieces = read.run(rows) if read is not None else (Piece(row) for row in rows)
    if not steps:
        return to_batches(pieces)
    return run_pieces(pieces, steps, running)


def run_pieces(pieces: Iterable[Piece], steps: Sequence[Step], running: Running) -> Iterator[pa.RecordBatch]:
    """Pieces through a step list, a batch at a time: PIECES batches out. Isolated, the batches
    share one forked child while it lives (steps/guard.py)."""
    isolated = guard.Isolated(steps, running.bounds) if running.bounds is not None else None
    with isolated or contextlib.nullcontext():
        for chunk in _chunks(pieces, running.batch_rows):
            yield from run_batch(chunk, steps, running, isolated).to_batches()


def run_batch(pieces: list[Piece], steps: Sequence[Step], running: Running,
              isolated: guard.Isolated | None = None) -> pa.Table:
    """One batch's rows: taken from a finished run when there is one, else computed (and kept);
    computed by `isolated`'s child when given."""
    finished = running.finished
    key = finished.key(pieces) if finished is not None else None
    if key is not None and (done := finished.load(key)) is not None:
        return done
    if isolated is not None:
        table = isolated.run(pieces)
    else:
        table = pa.Table.from_batches([to_batch(_in_process(pieces, steps), schema.PIECES)])
    if key is not None:
        finished.save(key, table)
    return table


def _in_process(pieces: list[Piece], steps: Sequence[Step]) -> list[dict[str, Any]]:
    rows = []
    for piece in chain(pieces, steps):
        rows.append(piece.row)
        piece.release()
    return rows


def _chunks(pieces: Iterable[Piece], size: int) -> Iterator[list[Piece]]:
    chunk: list[Piece] = []
    for piece in pieces:
        chunk.append(piece)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
