"""`symcorpus build`: sources in, a published corpus version out. A thin Spark driver.

    list units (driver, metadata only)
      -> mapInArrow(ingest_and_parse)            one pass: read, hash, parse, summarize
      -> persist, count by status / format / split
      -> write corpus/{train,valid,test}, errors, empty duplicates/ and rejects/
      -> manifest.json, _SUCCESS, rename into place

All musical work happens in `parse_stage` functions; this module only moves batches around.
"""

from __future__ import annotations

import functools
import math
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symcorpus import schema
from symcorpus.pipeline import parse_stage, publish
from symcorpus.pipeline.sources import Source, Unit, list_units, pack_partitions, resolve_source
from symcorpus.pipeline.spark import spark_session, stage_progress
from symcorpus.pipeline.split import SPLITS
from symcorpus.settings import Settings


class AccountingError(RuntimeError):
    """The published tables do not add up to the input: a bug, never published."""


@dataclass
class BuildResult:
    out: Path
    counts: dict[str, int]
    by_format: dict[str, dict[str, int]]  # format -> outcome -> records
    skipped_files: int
    seconds: float
    manifest: dict[str, Any] = field(repr=False)

    @property
    def pieces_per_second(self) -> float:
        return self.counts["input"] / self.seconds if self.seconds else 0.0


class _NoProgress:
    """Stands in for a rich Progress when the caller wants none (library use, tests)."""

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass


def _spark_schema(arrow_schema):
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


def _units_frame(spark, bins: list[list[Unit]]):
    """One Spark partition per bin, exactly: parallelize with as many slices as elements."""
    rows = [[(u.source, u.kind, u.container, u.member, u.size) for u in b] for b in bins]
    rdd = spark.sparkContext.parallelize(rows, len(rows)).flatMap(lambda b: b)
    return spark.createDataFrame(rdd, _spark_schema(schema.UNITS))


def _pieces_frame(spark, units: list[Unit], settings: Settings):
    """The PIECES rows of every unit: a lazy DataFrame."""
    pieces_schema = _spark_schema(schema.PIECES)
    cores = spark.sparkContext.defaultParallelism
    n_partitions = max(
        cores * settings.ingest.min_partitions_per_core,
        math.ceil(len(units) / settings.ingest.max_units_per_partition),
    )
    # Whole archives read front to back (tar, or a zip whose index is unreadable) are ingested in
    # their own tasks, then spread over partitions by id before the costly parse.
    whole = [u for u in units if not u.member]
    direct = [u for u in units if u.member]
    frames = []
    if direct:
        run = functools.partial(parse_stage.ingest_and_parse, settings=settings)
        frames.append(_units_frame(spark, pack_partitions(direct, n_partitions)).mapInArrow(run, pieces_schema))
    if whole:
        read = functools.partial(parse_stage.ingest_only, settings=settings)
        parse = functools.partial(parse_stage.parse_records, settings=settings)
        records = _units_frame(spark, pack_partitions(whole, len(whole))).mapInArrow(read, pieces_schema)
        frames.append(records.repartition(n_partitions, "id").mapInArrow(parse, pieces_schema))
    if not frames:
        return spark.createDataFrame([], pieces_schema)
    pieces = frames[0]
    for frame in frames[1:]:
        pieces = pieces.unionByName(frame)
    return pieces


def _write_table(frame, directory: Path, n_shards: int) -> None:
    (
        frame.coalesce(max(1, n_shards))
        .sortWithinPartitions("id", "path")  # same inputs, same shard bytes
        .write.mode("overwrite")
        .option("compression", "zstd")
        .parquet(str(directory))
    )
    publish.tidy_spark_output(directory)


def build(
    source_specs: list[str],
    out: str | Path,
    settings: Settings,
    *,
    spark_master: str | None = None,
    overwrite: bool = False,
    progress=None,
) -> BuildResult:
    """Build and publish a corpus version from `source_specs` into `out`."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.time()
    progress = progress or _NoProgress()
    out = Path(out).expanduser().resolve()
    if out.exists() and not overwrite:
        raise publish.OutputExistsError(f"output exists: {out} (use --overwrite)")
    sources: list[Source] = []
    for spec in source_specs:
        sources.append(resolve_source(spec, {s.name for s in sources}))

    listing = progress.add_task("list sources", total=len(sources))
    units_by_source = {}
    for source in sources:
        units_by_source[source.name] = list_units(source, settings.ingest)
        progress.update(listing, advance=1)
    units = [u for us in units_by_source.values() for u in us]

    spark = spark_session(settings.spark, spark_master)
    pieces = _pieces_frame(spark, units, settings).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with stage_progress(spark, progress, f"ingest + parse {len(units):,} files"):
            stats = (
                pieces.groupBy("status", "format", "split")
                .agg(F.count("*").alias("n"), F.sum(F.length("content")).alias("bytes"))
                .collect()
            )
        outcomes: Counter = Counter()
        by_format: dict[str, Counter] = {}
        split_rows: Counter = Counter()
        split_bytes: Counter = Counter()
        for row in stats:
            outcomes[row["status"]] += row["n"]
            by_format.setdefault(row["format"] or "unknown", Counter())[row["status"]] += row["n"]
            if row["status"] == schema.STATUS_OK:
                split_rows[row["split"]] += row["n"]
                split_bytes[row["split"]] += row["bytes"] or 0

        staging = publish.staging_dir(out)
        staging.mkdir(parents=True)
        try:
            corpus_columns = [f.name for f in schema.CORPUS]
            error_columns = [f.name for f in schema.ERRORS]
            with stage_progress(spark, progress, "write shards"):
                for split in SPLITS:
                    target = staging / "corpus" / split
                    if split_rows[split] == 0:
                        publish.write_empty_table(target, schema.CORPUS)
                        continue
                    n_shards = math.ceil(split_bytes[split] / settings.publish.shard_bytes)
                    kept = pieces.filter((F.col("status") == schema.STATUS_OK) & (F.col("split") == split))
                    _write_table(kept.select(*corpus_columns), target, n_shards)
                if outcomes[schema.STATUS_ERROR]:
                    failed = pieces.filter(F.col("status") == schema.STATUS_ERROR).select(*error_columns)
                    _write_table(failed, staging / "errors", math.ceil(outcomes[schema.STATUS_ERROR] / 1_000_000))
                else:
                    publish.write_empty_table(staging / "errors", schema.ERRORS)
                publish.write_empty_table(staging / "duplicates", schema.DUPLICATES)
                publish.write_empty_table(staging / "rejects", schema.REJECTS)

            counts = {
                "input": outcomes[schema.STATUS_OK] + outcomes[schema.STATUS_ERROR],
                "kept": outcomes[schema.STATUS_OK],
                "duplicates": 0,
                "rejected": 0,
                "errors": outcomes[schema.STATUS_ERROR],
                "by_split": {s: split_rows[s] for s in SPLITS},
            }
            seconds = time.time() - started
            manifest = publish.write_manifest(
                staging,
                params=settings.to_dict(),
                sources=[
                    {"name": s.name, "uri": s.uri, "kind": s.kind, "units": len(units_by_source[s.name])}
                    for s in sources
                ],
                counts=counts,
                extra={
                    "by_format": {f: dict(c) for f, c in sorted(by_format.items())},
                    "skipped_files": outcomes[schema.STATUS_SKIPPED],
                    "build_seconds": round(seconds, 2),
                },
            )
            check_accounting(manifest)
            publish.finish(staging, out, overwrite)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        pieces.unpersist()

    formats = {f: dict(c) for f, c in sorted(by_format.items()) if f != "unknown" or c.keys() - {"skipped"}}
    return BuildResult(out, counts, formats, outcomes[schema.STATUS_SKIPPED], time.time() - started, manifest)


def check_accounting(manifest: dict[str, Any]) -> None:
    """input == kept + duplicates + rejected + errors, and the shards hold exactly those rows."""
    counts = manifest["counts"]
    parts = counts["kept"] + counts["duplicates"] + counts["rejected"] + counts["errors"]
    if counts["input"] != parts:
        raise AccountingError(f"input {counts['input']} != kept + duplicates + rejected + errors = {parts}")
    rows: Counter = Counter()
    for shard in manifest["shards"]:
        rows[shard["path"].split("/")[0]] += shard["rows"]
    table_counts = {"corpus": "kept", "duplicates": "duplicates", "rejects": "rejected", "errors": "errors"}
    for table, key in table_counts.items():
        if rows[table] != counts[key]:
            raise AccountingError(f"{table}/ holds {rows[table]} rows, counts say {key}={counts[key]}")
