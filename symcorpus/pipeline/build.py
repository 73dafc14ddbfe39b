"""`symcorpus build`: sources in, a published corpus version out. A thin Spark driver.

    list units (driver, metadata only)
      -> mapInArrow(ingest_and_parse)            one pass: read, hash, parse, summarize, fingerprint,
                                                 annotate, filter (quality rules)
      -> persist, count by status / format       ok | rejected | error
      -> deduplicate (dedup.py) on light columns; split by hash of the duplicate cluster
      -> write corpus/{train,valid,test}, duplicates/, errors/, rejects/
      -> manifest.json, _SUCCESS, rename into place

All musical work happens in `parse_stage` functions; this module only moves batches around.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symcorpus import schema
from symcorpus.pipeline import cache as parse_cache
from symcorpus.pipeline import parse_stage, publish
from symcorpus.pipeline.dedup import LIGHT_COLUMNS, SIGNATURE_COLUMNS, deduplicate, has_metadata_column
from symcorpus.pipeline.sources import Source, Unit, list_units, pack_partitions, resolve_source
from symcorpus.pipeline.spark import spark_session, stage_progress
from symcorpus.pipeline.split import SPLITS, split_column
from symcorpus.config import Settings


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


def _conform(frame, arrow_schema):
    """`frame` with exactly the columns of `arrow_schema`, in order; missing ones null."""
    from pyspark.sql import functions as F

    spark_schema = _spark_schema(arrow_schema)
    for f in spark_schema.fields:
        if f.name not in frame.columns:
            frame = frame.withColumn(f.name, F.lit(None).cast(f.dataType))
    return frame.select(*spark_schema.fieldNames())


def _n_partitions(spark, units: list[Unit], settings: Settings) -> int:
    cores = spark.sparkContext.defaultParallelism
    return max(cores * settings.ingest.min_partitions_per_core,
               math.ceil(len(units) / settings.ingest.max_units_per_partition))


def _pieces_frame(spark, units: list[Unit], settings: Settings):
    """The PIECES rows of every unit: a lazy DataFrame (column `reused` false throughout)."""
    from pyspark.sql import functions as F

    pieces_schema = _spark_schema(schema.PIECES)
    n_partitions = _n_partitions(spark, units, settings)
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
        return spark.createDataFrame([], pieces_schema).withColumn("reused", F.lit(False))
    pieces = frames[0]
    for frame in frames[1:]:
        pieces = pieces.unionByName(frame)
    return pieces.withColumn("reused", F.lit(False))


def _pieces_frame_cached(spark, units: list[Unit], settings: Settings, cached):
    """Like `_pieces_frame`, reusing cached parses: every record is read and hashed; records whose
    content hash is in `cached` are only annotated and filtered again, the others parsed."""
    from pyspark.sql import functions as F

    pieces_schema = _spark_schema(schema.PIECES)
    n_partitions = _n_partitions(spark, units, settings)
    read = functools.partial(parse_stage.ingest_only, settings=settings)
    records = _units_frame(spark, pack_partitions(units, n_partitions)).mapInArrow(read, pieces_schema)
    pending = records.where(F.col("status") == "pending").select("id", "source", "path", "format", "size_bytes", "content")
    finished = records.where(F.col("status") != "pending").withColumn("reused", F.lit(False))
    reuse = functools.partial(parse_stage.reuse_parsed, settings=settings)
    hits = (
        _conform(pending.select("id", "source", "path", "content").join(cached, "id"), schema.PIECES)
        .repartition(n_partitions, "id")
        .mapInArrow(reuse, pieces_schema)
        .withColumn("reused", F.lit(True))
    )
    parse = functools.partial(parse_stage.parse_records, settings=settings)
    misses = (
        _conform(pending.join(cached.select("id"), "id", "left_anti").withColumn("status", F.lit("pending")),
                 schema.PIECES)
        .repartition(n_partitions, "id")
        .mapInArrow(parse, pieces_schema)
        .withColumn("reused", F.lit(False))
    )
    return finished.unionByName(hits).unionByName(misses)


def _prepare_out(out: str | Path, overwrite: bool) -> Path:
    out = Path(out).expanduser().resolve()
    if out.exists() and not overwrite:
        raise publish.OutputExistsError(f"output exists: {out} (use --overwrite)")
    return out


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
    cache_root: str | Path | None = None,
) -> BuildResult:
    """Build and publish a corpus version from `source_specs` into `out`.

    With `cache_root`, parses are reused by content hash from earlier builds that used the same
    cache (and params), and this build's new parses are added to it.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.time()
    progress = progress or _NoProgress()
    out = _prepare_out(out, overwrite)
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
    cache_root = cache_root or settings.ingest.cache_dir
    cache = parse_cache.cache_dir(cache_root, settings) if cache_root else None
    if cache is not None and parse_cache.has_entries(cache):
        frame = _pieces_frame_cached(spark, units, settings, parse_cache.read(spark, cache))
    else:
        frame = _pieces_frame(spark, units, settings)
    pieces = (
        frame.withColumn("node", F.xxhash64("source", "path"))  # a compact unique key for joins
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        parse_started = time.time()
        with stage_progress(spark, progress, f"ingest + parse + annotate {len(units):,} files"):
            stats = pieces.groupBy("status", "format", "reused").count().collect()
        stage_seconds = {"ingest_parse_annotate": round(time.time() - parse_started, 2)}
        parsed: dict[str, Counter] = {}
        reused = sum(r["count"] for r in stats if r["reused"])
        for row in stats:
            parsed.setdefault(row["format"] or "unknown", Counter())[row["status"]] += row["count"]
        records = sum(r["count"] for r in stats if r["status"] != schema.STATUS_SKIPPED)
        incremental = {"records": records, "reused": reused, "parsed": records - reused,
                       "cache": str(cache) if cache else None}
        ok = pieces.where(F.col("status") == schema.STATUS_OK)
        errors = pieces.where(F.col("status") == schema.STATUS_ERROR).select(*[f.name for f in schema.ERRORS])
        rejects = pieces.where(F.col("status") == schema.STATUS_REJECTED).select(*[f.name for f in schema.REJECTS])
        result = publish_version(
            spark, ok, errors, out, settings, rejects=rejects,
            sources=[{"name": s.name, "uri": s.uri, "kind": s.kind, "units": len(units_by_source[s.name])}
                     for s in sources],
            parsed=parsed, started=started, overwrite=overwrite, progress=progress,
            stage_seconds=stage_seconds, incremental=incremental,
            expected_input=sum(c[schema.STATUS_OK] + c[schema.STATUS_ERROR] + c[schema.STATUS_REJECTED]
                               for c in parsed.values()),
        )
        if cache is not None:  # after publishing: the version never waits on, or depends on, the cache
            with stage_progress(spark, progress, "update parse cache"):
                parse_cache.append(pieces.where(~F.col("reused")), cache)
        return result
    finally:
        pieces.unpersist()


def publish_version(
    spark,
    ok,
    errors,
    out: Path,
    settings: Settings,
    *,
    sources: list[dict],
    parsed: dict[str, Counter],
    started: float,
    overwrite: bool,
    progress,
    rejects=None,
    carried_duplicates=None,
    stage_seconds: dict[str, float] | None = None,
    expected_input: int | None = None,
    incremental: dict[str, Any] | None = None,
) -> BuildResult:
    """Deduplicate the parsed pieces `ok` and publish them with `errors` as a version in `out`.

    `parsed` counts records by format and status ('ok', 'rejected', 'error'); `rejects` is the
    rejects table; carried duplicates come from an earlier version when a stage reruns alone. `expected_input` is how many records came in: the
    published tables must account for every one of them.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    stage_seconds = dict(stage_seconds or {})
    light = ok.withColumn("has_metadata", has_metadata_column()).select(*LIGHT_COLUMNS)
    dedup_started = time.time()
    with stage_progress(spark, progress, "deduplicate"):
        dedup = deduplicate(light, ok.select(*SIGNATURE_COLUMNS), settings.dedup)
        assignment = dedup.assignment.withColumn(
            "split", split_column(F.col("cluster_id"), settings.split.ratios(), settings.split.seed)
        ).persist(StorageLevel.MEMORY_AND_DISK)
        outcome_rows = assignment.groupBy("format", "kind").count().collect()
    stage_seconds["dedup"] = round(time.time() - dedup_started, 2)
    try:
        by_format: dict[str, Counter] = {f: Counter(c) for f, c in parsed.items()}
        kinds: Counter = Counter()
        for row in outcome_rows:
            outcome = "kept" if row["kind"] is None else "duplicate"
            by_format.setdefault(row["format"], Counter())[outcome] += row["count"]
            if row["kind"] is not None:
                kinds[row["kind"]] += row["count"]
        for counts in by_format.values():
            counts.pop(schema.STATUS_OK, None)

        representatives = assignment.where("is_representative")
        kept = ok.join(
            representatives.select("node", F.col("cluster_id").alias("dedup_cluster"), "split"), "node"
        )
        duplicates = assignment.where(~F.col("is_representative")).select(*[f.name for f in schema.DUPLICATES])
        if carried_duplicates is not None:
            duplicates = duplicates.unionByName(_remap_carried(carried_duplicates, assignment))
        with stage_progress(spark, progress, "split"):
            split_stats = representatives.groupBy("split").agg(
                F.count("*").alias("n"), F.sum("size_bytes").alias("bytes")).collect()
        split_rows = Counter({r["split"]: r["n"] for r in split_stats})
        split_bytes = Counter({r["split"]: r["bytes"] for r in split_stats})

        staging = publish.staging_dir(out)
        staging.mkdir(parents=True)
        write_started = time.time()
        try:
            corpus_columns = [f.name for f in schema.CORPUS]
            with stage_progress(spark, progress, "write shards"):
                for split in SPLITS:
                    target = staging / "corpus" / split
                    if split_rows[split] == 0:
                        publish.write_empty_table(target, schema.CORPUS)
                        continue
                    n_shards = math.ceil(split_bytes[split] / settings.publish.shard_bytes)
                    _write_table(kept.where(F.col("split") == split).select(*corpus_columns), target, n_shards)
                table_counts = {}
                for name, frame, arrow_schema in [
                    ("duplicates", duplicates, schema.DUPLICATES),
                    ("errors", errors, schema.ERRORS),
                    ("rejects", rejects, schema.REJECTS),
                ]:
                    n = frame.count() if frame is not None else 0
                    table_counts[name] = n
                    if n:
                        _write_table(frame, staging / name, math.ceil(n / 1_000_000))
                    else:
                        publish.write_empty_table(staging / name, arrow_schema)

            stage_seconds["write"] = round(time.time() - write_started, 2)
            kept_n = sum(split_rows.values())
            counts = {
                "input": kept_n + table_counts["duplicates"] + table_counts["rejects"] + table_counts["errors"],
                "kept": kept_n,
                "duplicates": table_counts["duplicates"],
                "rejected": table_counts["rejects"],
                "errors": table_counts["errors"],
                "by_split": {s: split_rows[s] for s in SPLITS},
            }
            seconds = time.time() - started
            manifest = publish.write_manifest(
                staging,
                params=settings.to_dict(),
                sources=sources,
                counts=counts,
                extra={
                    "by_format": {f: dict(c) for f, c in sorted(by_format.items())},
                    "dedup": {**dedup.stats, "duplicates_by_kind": dict(sorted(kinds.items()))},
                    "skipped_files": by_format.get("unknown", Counter()).get(schema.STATUS_SKIPPED, 0),
                    "build_seconds": round(seconds, 2),
                    "stage_seconds": stage_seconds,
                    **({"incremental": incremental} if incremental else {}),
                },
            )
            check_accounting(manifest, expected_input)
            publish.finish(staging, out, overwrite)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        assignment.unpersist()

    formats = {f: dict(c) for f, c in sorted(by_format.items()) if f != "unknown" or c.keys() - {"skipped"}}
    skipped = manifest["skipped_files"]
    return BuildResult(out, counts, formats, skipped, time.time() - started, manifest)


def _remap_carried(carried, assignment):
    """Duplicates from an earlier version point at their old representative; if that one is now a
    duplicate itself, point them at its new representative."""
    from pyspark.sql import functions as F

    new = assignment.select(
        F.col("id").alias("old_rep"), F.col("representative_id").alias("new_rep"), F.col("cluster_id").alias("new_cluster"))
    return (
        carried.join(new, carried.representative_id == new.old_rep, "left")
        .withColumn("representative_id", F.coalesce("new_rep", "representative_id"))
        .withColumn("cluster_id", F.coalesce("new_cluster", "cluster_id"))
        .select(*[f.name for f in schema.DUPLICATES])
    )


def check_accounting(manifest: dict[str, Any], expected_input: int | None = None) -> None:
    """input == kept + duplicates + rejected + errors, the shards hold exactly those rows, and
    input is every record that came in (no row lost in a join on the way)."""
    counts = manifest["counts"]
    if expected_input is not None and counts["input"] != expected_input:
        raise AccountingError(f"{expected_input} records came in, the tables account for {counts['input']}")
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


def restage_version(
    corpus: str | Path,
    out: str | Path,
    settings: Settings,
    *,
    stages: tuple[str, ...] = (),
    spark_master: str | None = None,
    overwrite: bool = False,
    progress=None,
) -> BuildResult:
    """Run stages again on a published version (with these params) and publish the result in `out`.

    Always deduplicates again (`symcorpus dedup`); `stages` may add "filter" (`symcorpus filter`:
    the quality rules over the stored features) or "annotate" (`symcorpus annotate`: features,
    key, labels and captions computed again, then the rules). Kept pieces are read from their stored
    notes (MIDI content, or `score_midi` for other formats), so nothing is rendered again. The
    earlier version's errors, rejects and duplicates are carried (duplicates re-pointed at their new
    representatives), so the counts still add up.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.time()
    progress = progress or _NoProgress()
    out = _prepare_out(out, overwrite)
    corpus = Path(corpus).expanduser().resolve()
    manifest_path = corpus / "manifest.json"
    if not manifest_path.is_file():
        raise publish.NotACorpusError(f"not a published corpus version (no manifest.json): {corpus}")
    previous = json.loads(manifest_path.read_text())
    spark = spark_session(settings.spark, spark_master)
    run = functools.partial(parse_stage.restage, settings=settings, stages=tuple(stages))
    pieces_schema = _spark_schema(schema.PIECES)
    corpus_schema = _spark_schema(schema.CORPUS)
    rows = spark.read.parquet(str(corpus / "corpus" / "*"))
    for column in schema.PIECES:  # columns an older version lacks start out null
        if column.name not in rows.columns:
            rows = rows.withColumn(column.name, F.lit(None).cast(pieces_schema[column.name].dataType))
        elif column.name in corpus_schema.fieldNames():
            rows = rows.withColumn(column.name, F.col(column.name).cast(pieces_schema[column.name].dataType))
    pieces = (
        rows.withColumn("status", F.lit(schema.STATUS_OK))
        .select(*[f.name for f in schema.PIECES])
        .mapInArrow(run, pieces_schema)
        .withColumn("node", F.xxhash64("source", "path"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        with stage_progress(spark, progress, " + ".join(["fingerprint", *stages])):
            per_format = pieces.groupBy("format", "status").count().collect()
        parsed: dict[str, Counter] = {}
        for r in per_format:
            parsed.setdefault(r["format"], Counter())[r["status"]] += r["count"]
        for fmt, outcomes in previous.get("by_format", {}).items():
            for outcome in (schema.STATUS_ERROR, schema.STATUS_REJECTED):
                if outcomes.get(outcome):
                    parsed.setdefault(fmt, Counter())[outcome] += outcomes[outcome]

        def table(name: str, arrow_schema):
            return spark.read.schema(_spark_schema(arrow_schema)).parquet(str(corpus / name))

        ok = pieces.where(F.col("status") == schema.STATUS_OK)
        failed = pieces.where(F.col("status") == schema.STATUS_ERROR).select(*[f.name for f in schema.ERRORS])
        rejected = pieces.where(F.col("status") == schema.STATUS_REJECTED).select(*[f.name for f in schema.REJECTS])
        return publish_version(
            spark, ok, table("errors", schema.ERRORS).unionByName(failed), out, settings,
            rejects=table("rejects", schema.REJECTS).unionByName(rejected),
            sources=previous["sources"], parsed=parsed, started=started, overwrite=overwrite,
            progress=progress, carried_duplicates=table("duplicates", schema.DUPLICATES),
            expected_input=previous["counts"]["input"],
        )
    finally:
        pieces.unpersist()


def dedup_version(corpus: str | Path, out: str | Path, settings: Settings, **kwargs) -> BuildResult:
    """`symcorpus dedup`: deduplicate a published version again (with these params) into `out`."""
    return restage_version(corpus, out, settings, stages=(), **kwargs)
