"""Spark-side plumbing shared by the drivers: schemas, unit frames, step lists in mapInArrow, and
writing a table as sorted shards."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from symcorpus import schema
from symcorpus.sources import Unit
from symcorpus.steps import Read, Step
from symcorpus.steps.batches import Running, run_steps


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


def with_steps(frame, steps: Sequence[Step], read: Read | None = None, running: Running = Running()):
    """The frame's rows through a step list in one mapInArrow: UNITS rows when the list starts with
    `read`, PIECES rows otherwise. PIECES rows out. `running`: batches isolated, kept for resuming."""
    run = functools.partial(run_steps, steps=list(steps), read=read, running=running)
    return frame.mapInArrow(run, spark_schema(schema.PIECES))


def tidy_spark_output(directory: Path) -> None:
    """Spark's part files get stable names (part-00000.parquet, ...); its markers and CRCs go."""
    parts = sorted(p for p in directory.glob("part-*") if p.name.endswith(".parquet"))
    for leftover in directory.iterdir():
        if leftover.name.startswith((".", "_")) and leftover.is_file():
            leftover.unlink()
    for i, part in enumerate(parts):
        part.rename(directory / f"part-{i:05d}.parquet")


def write_table(frame, directory: Path, n_shards: int) -> None:
    """`frame` as n_shards zstd Parquet shards, sorted by id and path: same rows, same bytes."""
    (
        frame.coalesce(max(1, n_shards))
        .sortWithinPartitions("id", "path")
        .write.mode("overwrite")
        .option("compression", "zstd")
        .parquet(str(directory))
    )
    tidy_spark_output(directory)
