"""Spark-side plumbing shared by the drivers: schemas, unit frames, step lists in mapInArrow, and
writing a table as sorted shards."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from symcorpus import schema
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
    """One Spark partition per bin, exactly: parallelize with as many slices as elements."""
    rows = [[(u.source, u.kind, u.container, u.member, u.size) for u in b] for b in bins]
    rdd = spark.sparkContext.parallelize(rows, len(rows)).flatMap(lambda b: b)
    return spark.createDataFrame(rdd, spark_schema(schema.UNITS))


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


def with_steps(frame, steps: Sequence[Step], read: Read | None = None, running: Running = Running()):
    """The frame's rows through a step list in one mapInArrow: UNITS rows when the list starts with
    `read`, PIECES rows otherwise. PIECES rows out. `running`: batches isolated, kept for resuming."""
    run = functools.partial(steps_task, steps=list(steps), read=read, running=running)
    return frame.mapInArrow(run, spark_schema(schema.PIECES))


def tidy_spark_output(directory: Path) -> None:
    """Spark's part files get stable names (part-00000.parquet, ...); its markers and CRCs go."""
    parts = sorted(p for p in directory.glob("part-*") if p.name.endswith(".parquet"))
    for leftover in directory.iterdir():
        if leftover.name.startswith((".", "_")) and leftover.is_file():
            leftover.unlink()
    for i, part in enumerate(parts):
        part.rename(directory / f"part-{i:05d}.parquet")


def write_shard(batches: Iterator[pa.RecordBatch], directory: str, arrow_schema: pa.Schema
                ) -> Iterator[pa.RecordBatch]:
    """One sorted partition as `shard-<partition>.parquet` (written under a temporary name, so a
    retried task replaces it whole); yields (partition, rows)."""
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    partition = TaskContext.get().partitionId()
    batches = list(batches)
    rows = sum(b.num_rows for b in batches)
    if rows:
        table = pa.Table.from_batches(batches).select(arrow_schema.names).cast(arrow_schema)
        final = os.path.join(directory, f"shard-{partition:05d}.parquet")
        temporary = f"{final}.tmp-{os.getpid()}"
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, final)
    yield pa.RecordBatch.from_pydict({"partition": [partition], "rows": [rows]},
                                     schema=pa.schema([("partition", pa.int32()), ("rows", pa.int64())]))


def write_table(frame, directory: Path, n_shards: int, arrow_schema: pa.Schema) -> None:
    """`frame` as n_shards zstd Parquet shards (part-00000.parquet, ...) with `arrow_schema`, each
    sorted by id, path and source: same rows, same bytes, from one run to the next.

    pyarrow writes the shards, in the executors. Spark's own writer (parquet-mr) lists each column
    chunk's encodings from a hash set of enums whose order changes with every JVM: two runs of the
    same build wrote every non-empty shard with a different footer (seen here between two CLI runs).
    """
    directory.mkdir(parents=True, exist_ok=True)
    write = functools.partial(write_shard, directory=str(directory), arrow_schema=arrow_schema)
    shards = (frame.coalesce(max(1, n_shards)).sortWithinPartitions("id", "path", "source")
              .mapInArrow(write, "partition int, rows long").collect())
    for leftover in directory.glob("*.tmp-*"):  # from task attempts that died mid-write
        leftover.unlink()
    for i, partition in enumerate(sorted(r["partition"] for r in shards if r["rows"])):
        (directory / f"shard-{partition:05d}.parquet").rename(directory / f"part-{i:05d}.parquet")
