"""Progress of the per-record steps in pieces: how many are done, how fast, and how long is left.

Each mapInArrow task that reads units or runs the steps adds its counts to a Spark accumulator when
it ends (files read, their estimated parse cost, pieces read, pieces through the steps); a thread on
the driver turns them into a bar. Tasks are many and small (the parse stage has several partitions
per core), so the bar moves every few seconds. The total is estimated until reading ends: pieces
read so far over the share of the estimated cost read (an ABC file holds many tunes).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from symcorpus import schema
from symcorpus.sources import Unit, estimated_cost
from symcorpus.spark.session import polling

POLL_S = 0.5


@dataclass(frozen=True)
class Counts:
    units: int = 0
    cost: float = 0.0  # estimated parse cost of the units read (sources.partitions)
    read: int = 0  # pieces the units gave
    done: int = 0  # pieces through the steps

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.units + other.units, self.cost + other.cost, self.read + other.read,
                      self.done + other.done)


def _accumulator_param():
    from pyspark.accumulators import AccumulatorParam

    class CountsParam(AccumulatorParam):
        def zero(self, value: Counts) -> Counts:
            return Counts()

        def addInPlace(self, a: Counts, b: Counts) -> Counts:
            return a + b

    return CountsParam()


def units_cost(batch: pa.RecordBatch) -> float:
    return sum(estimated_cost(Unit(r["source"], r["kind"], r["container"], r["member"], r["size"]))
               for r in batch.to_pylist())


def counted(batches: Iterable[pa.RecordBatch], run: Callable, accumulator, reads: bool, finishes: bool
            ) -> Iterator[pa.RecordBatch]:
    """`run` (a mapInArrow function) over `batches`, adding what it did to `accumulator` at the end:
    the units it read (when `reads`: its input is UNITS rows) and the pieces it put out, as read
    and, when `finishes` (the steps ran), as done."""
    units, cost = 0, 0.0

    def tally(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        nonlocal units, cost
        for batch in batches:
            units += batch.num_rows
            cost += units_cost(batch)
            yield batch

    pieces = 0
    for out in run(tally(batches) if reads else batches):
        # records only: files that are not music are counted as skipped, never as pieces
        pieces += out.num_rows - (pc.sum(pc.equal(out.column("status"), schema.STATUS_SKIPPED)).as_py() or 0)
        yield out
    accumulator.add(Counts(units if reads else 0, cost, pieces if reads else 0, pieces if finishes else 0))


class StepProgress:
    """The accumulator of one build's per-record work and the units it was given."""

    def __init__(self, spark, units: list[Unit]):
        self.accumulator = spark.sparkContext.accumulator(Counts(), _accumulator_param())
        self.n_units = len(units)
        self.total_cost = sum(estimated_cost(u) for u in units) or 1.0

    def wrap(self, run: Callable, *, reads: bool, finishes: bool) -> Callable:
        return functools.partial(counted, run=run, accumulator=self.accumulator, reads=reads, finishes=finishes)

    def estimate(self, counts: Counts) -> tuple[int, int | None]:
        """(pieces done, estimated pieces in all; None before anything was read)."""
        if counts.units >= self.n_units:
            return counts.done, max(counts.read, counts.done)
        if counts.cost <= 0:
            return counts.done, None
        return counts.done, max(round(counts.read * self.total_cost / counts.cost), counts.read, 1)

    @contextlib.contextmanager
    def shown(self, progress, description: str) -> Iterator[None]:
        """A bar of pieces done, with rate and time left, while the block runs the steps."""
        task = progress.add_task(description, total=None, unit="pieces", files=f"0/{self.n_units:,} files")
        started = time.monotonic()

        def update() -> None:
            counts = self.accumulator.value
            done, total = self.estimate(counts)
            elapsed = time.monotonic() - started
            progress.update(task, completed=done, total=total, files=f"{counts.units:,}/{self.n_units:,} files",
                            rate=done / elapsed if elapsed > 0 and done else None)

        with polling(update, POLL_S):
            yield
