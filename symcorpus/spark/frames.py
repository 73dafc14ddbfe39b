"""Spark-side plumbing shared by the drivers: schemas, unit frames, step lists in mapInArrow, and
writing a table as sorted shards."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from symcorpus import schema
from symcorpus.shards import number_shards, shard_name, write_shard
from symcorpus.spark.hash_partitions import partition_keys
from symcorpus.spark.staging import LIGHT, stage_batches
from symcorpus.sources import Unit
from symcorpus.steps import Read, Step
from symcorpus.steps.batches import Running, run_steps
from symcorpus.steps.guard import die_with_parent


def spark_schema(arrow_schema: pa.Schema):
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


def conform(frame, arrow_schema: pa.Schema):
    """`frame` with exactly the columns of `arrow_schema`, in order, cast to its types; missing
    columns are null."""
    from pyspark.sql import functions as F

    target = spark_schema(arrow_schema)
    for f in target.fields:
        if f.name not in frame.columns:
            frame = frame.withColumn(f.name, F.lit(None).cast(f.dataType))
        elif frame.schema[f.name].dataType != f.dataType:
            frame = frame.withColumn(f.name, F.col(f.name).cast(f.dataType))
    return frame.select(*target.fieldNames())


def units_frame(spark, bins: list[list[Unit]]):
    """One Spark partition per bin, exactly, in bin order, each bin's units in their order.

    Made in the JVM, from an Arrow table, spread by a key that Spark's hash partitioning sends to
    partition b for bin b (spark/hash_partitions.py). Not an RDD of the bins flattened by a Python
    function: that runs a Python worker beside every task's own, under a second daemon (PySpark keys
    its daemons by the workers' environment, which differs between RDD and DataFrame jobs), and the
    daemon's start (~1 s) came before the build's first task.
    """
    keys = partition_keys(len(bins))
    table = pa.table({
        "key": pa.array([keys[b] for b, units in enumerate(bins) for _ in units], pa.int64()),
        "order": pa.array(range(sum(len(units) for units in bins)), pa.int64()),
        **{f.name: pa.array([getattr(u, f.name) for units in bins for u in units], f.type) for f in schema.UNITS},
    })
    frame = spark.createDataFrame(table).repartition(max(1, len(bins)), "key").sortWithinPartitions("order")
    return conform(frame, schema.UNITS)


def tie_to_daemon() -> None:
    """End this worker when PySpark's daemon, its parent, ends. A daemon killed outright sends its
    workers no SIGHUP, and a worker busy in a long batch went on for nobody (seen here: one outlived
    a kill -9 of the CLI by more than 5 s). Only under a forking daemon (the parent runs this same
    Python): PR_SET_PDEATHSIG follows the parent *thread*, and a JVM parent's launching thread can
    end long before the worker."""
    try:
        forked = os.readlink("/proc/self/exe") == os.readlink(f"/proc/{os.getppid()}/exe")
    except OSError:
        return
    if forked:
        die_with_parent(signal.SIGKILL)


def steps_task(batches: Iterator[pa.RecordBatch], steps: list[Step], read: Read | None,
               running: Running) -> Iterator[pa.RecordBatch]:
    """What a Spark task runs: the step list over its batches, in a worker tied to its daemon."""
    tie_to_daemon()
    return run_steps(batches, steps, read, running)


def with_steps(frame, steps: Sequence[Step], read: Read | None = None, running: Running = Running(),
               stage: Path | None = None, counter=None, split_for: Callable[[str], str] | None = None):
    """The frame's rows through a step list in one mapInArrow: UNITS rows when the list starts with
    `read`, PIECES rows otherwise. PIECES rows out; with `stage`, the ok pieces' wide columns go to
    staged files there and staging.LIGHT rows come out (spark/staging.py). `running`: batches
    isolated, kept for resuming. `counter` (spark/progress.py StepProgress) counts what each task
    did, for the progress bar. `split_for`: a kept piece's split from its id, to stage each split's
    rows in files of their own."""
    run = functools.partial(steps_task, steps=list(steps), read=read, running=running)
    if counter is not None:
        run = counter.wrap(run, reads=read is not None, finishes=bool(steps))
    if stage is None:
        return frame.mapInArrow(run, spark_schema(schema.PIECES))
    staged = functools.partial(_run_and_stage, run=run, directory=str(stage), split_for=split_for)
    return frame.mapInArrow(staged, spark_schema(LIGHT))


def _run_and_stage(batches, run, directory: str, split_for: Callable[[str], str] | None):
    return stage_batches(run(batches), directory, split_for)


def write_table(frame, directory: Path, n_shards: int, arrow_schema: pa.Schema,
                sort_by: Sequence[str] = ("id", "path", "source")) -> None:
    """`frame` as n_shards Parquet shards in `directory` (shards.py: same rows, same bytes), rows
    sorted by `sort_by` within each shard. Each task writes its own shard; no data passes the driver."""
    target = str(directory)
    Path(target).mkdir(parents=True, exist_ok=True)
    run = functools.partial(_write_partition, directory=target, arrow_schema=arrow_schema)
    (frame.coalesce(max(1, n_shards)).sortWithinPartitions(*sort_by)
     .mapInArrow(run, "path string, rows long").collect())
    number_shards(target)


def _write_partition(batches, directory: str, arrow_schema: pa.Schema):
    from pyspark import TaskContext

    part = TaskContext.get().partitionId()
    written = write_shard(batches, Path(directory) / shard_name(part), arrow_schema)
    if written is not None:
        yield pa.RecordBatch.from_pylist([{"path": written["path"], "rows": written["rows"]}])
