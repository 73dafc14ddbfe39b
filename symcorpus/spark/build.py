"""`symcorpus build`, `dedup`, `filter` and `annotate`: thin Spark drivers around the step lists.

    build     sources --list--> units --[Read + build steps]--> pieces
    restage   a published version's rows --[restage steps]--> pieces
    then      pieces --deduplicate--> clusters --with_splits--> splits --publish_version--> OUT

The per-record work is in steps/ (plain functions over Arrow batches, run by mapInArrow); this
module only moves frames between the named driver functions and keeps the counts.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symcorpus import schema
from symcorpus.config import FilterSettings, Settings
from symcorpus.music.quality import RULE_CODES
from symcorpus.sources import Source, Unit, list_units, pack_partitions, resolve_source
from symcorpus.spark import cache as parse_cache
from symcorpus.spark.dedup import LIGHT_COLUMNS, SIGNATURE_COLUMNS, deduplicate, has_metadata_column
from symcorpus.spark.frames import conform, spark_schema, units_frame, with_steps
from symcorpus.spark.publish import (SPLITS, BuildResult, VersionTables, corpus_manifest, prepare_out,
                                     publish_version)
from symcorpus.spark.progress import StepProgress
from symcorpus.spark.session import NoProgress, spark_session, stage_progress
from symcorpus.spark.split import with_splits
from symcorpus.steps import PENDING, Read, build_steps, restage_steps
from symcorpus.steps.counts import step_counts


@dataclass
class Outcomes:
    """What the per-record steps did: records by format and status, and every step's counters."""

    by_format: dict[str, Counter] = field(default_factory=dict)  # format -> status -> records
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    reused: int = 0  # records whose parse came from the cache

    @property
    def records(self) -> int:
        return sum(n for c in self.by_format.values() for s, n in c.items() if s != schema.STATUS_SKIPPED)


def ingest_only(settings: Settings) -> Settings:
    """DVC's first stage: exact duplicates only and no quality rules (`dedup` and `filter` follow)."""
    return settings.replace(dedup=settings.dedup.replace(levels=["exact"]),
                            filter=FilterSettings(rules={code: False for code in RULE_CODES}))


def list_sources(specs: list[str], settings: Settings, progress) -> tuple[list[Source], dict[str, list[Unit]]]:
    """The sources named, and their units of work (on the driver: metadata only)."""
    sources: list[Source] = []
    for spec in specs:
        sources.append(resolve_source(spec, {s.name for s in sources}))
    listing = progress.add_task("list sources", total=len(sources))
    units: dict[str, list[Unit]] = {}
    for source in sources:
        units[source.name] = list_units(source, settings.ingest)
        progress.update(listing, advance=1)
    return sources, units


def pieces_frame(spark, units: list[Unit], settings: Settings, cached=None, counter: StepProgress | None = None):
    """Every unit read and taken through the build steps: a lazy frame of PIECES rows.

    Files and zip members are read and parsed in one pass. Whole tar archives are read in their own
    tasks, then their records are spread over partitions by id before the costly parse; with a parse
    cache every record takes that second road, where cached parses join in as `parsed` pieces.
    """
    cores = spark.sparkContext.defaultParallelism
    n = max(cores * settings.ingest.min_partitions_per_core,
            math.ceil(len(units) / settings.ingest.max_units_per_partition))
    read, steps = Read(settings.ingest.max_bytes), build_steps(settings, cached=cached is not None)
    one_pass = [u for u in units if u.member] if cached is None else []
    two_pass = [u for u in units if not u.member] if cached is None else units
    frames = []
    if one_pass:
        frames.append(with_steps(units_frame(spark, pack_partitions(one_pass, n)), steps, read, counter))
    if two_pass:
        records = with_steps(units_frame(spark, pack_partitions(two_pass, len(two_pass) if cached is None else n)),
                             [], read, counter)
        if cached is not None:
            records = with_cached_parses(records, cached)
        frames.append(with_steps(records.repartition(n, "id"), steps, counter=counter))
    if not frames:
        return spark.createDataFrame([], spark_schema(schema.PIECES))
    pieces = frames[0]
    for frame in frames[1:]:
        pieces = pieces.unionByName(frame)
    return pieces


def with_cached_parses(records, cached):
    """Read records whose content hash is in the cache take the cached parse (status `parsed`, or
    the cached parse error) and are marked `reused`; the others stay `pending`."""
    from pyspark.sql import functions as F

    pending = records.where(F.col("status") == PENDING)
    hits = conform(pending.select("id", "source", "path", "content").join(cached, "id"), schema.PIECES)
    misses = pending.join(cached.select("id"), "id", "left_anti")
    return (records.where(F.col("status") != PENDING)
            .unionByName(hits.withColumn("reused", F.lit(True)))
            .unionByName(conform(misses, schema.PIECES)))


def count_outcomes(pieces, step_names: list[str], progress, description: str,
                   counter: StepProgress | None = None) -> Outcomes:
    """Run the per-record steps (the first action on `pieces`) and count what they did; `counter`
    shows pieces done with rate and time left (else the bar counts Spark tasks)."""
    from pyspark.sql import functions as F

    code = (F.when(F.col("status") == schema.STATUS_ERROR, F.substring_index("error", ":", 1))
            .when(F.col("status") == schema.STATUS_REJECTED, F.col("reason")))
    with counter.shown(progress, description) if counter is not None else stage_progress(progress, description):
        rows = (pieces.groupBy("status", "format", "stage", code.alias("code"), F.coalesce("reused", F.lit(False))
                               .alias("reused")).count().collect())
    outcomes = Outcomes()
    by_step: Counter = Counter()
    for r in rows:
        outcomes.by_format.setdefault(r["format"] or "unknown", Counter())[r["status"]] += r["count"]
        stage = None if r["status"] == schema.STATUS_OK else r["stage"]
        by_step[(r["status"], stage, r["code"])] += r["count"]
        outcomes.reused += r["count"] if r["reused"] else 0
    outcomes.steps = step_counts(step_names, by_step)
    return outcomes


@dataclass
class Clusters:
    """The dedup result with splits: one row per ok piece (persisted while the version is written)."""

    assignment: Any  # node, id, ..., cluster_id, representative_id, is_representative, kind, similarity, split
    stats: dict[str, Any]
    kinds: Counter  # duplicates by kind
    by_format: dict[str, Counter]  # format -> kept | duplicate -> pieces


def deduplicate_pieces(ok, settings: Settings, progress) -> Clusters:
    """Cluster the ok pieces (dedup.py), pick representatives, and draw each cluster's split."""
    from pyspark import StorageLevel

    light = ok.withColumn("has_metadata", has_metadata_column()).select(*LIGHT_COLUMNS)
    with stage_progress(progress, "deduplicate"):
        dedup = deduplicate(light, ok.select(*SIGNATURE_COLUMNS), settings.dedup)
        assignment = with_splits(dedup.assignment, settings.split.ratios(), settings.split.seed)
        assignment = assignment.persist(StorageLevel.MEMORY_AND_DISK)
        rows = assignment.groupBy("format", "kind").count().collect()
    kinds: Counter = Counter()
    by_format: dict[str, Counter] = {}
    for row in rows:
        by_format.setdefault(row["format"], Counter())["kept" if row["kind"] is None else "duplicate"] += row["count"]
        if row["kind"] is not None:
            kinds[row["kind"]] += row["count"]
    return Clusters(assignment, dedup.stats, kinds, by_format)


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


def version_tables(pieces, clusters: Clusters, progress, carried: dict[str, Any] | None = None,
                   expected_input: int | None = None) -> VersionTables:
    """The frames a version publishes: kept pieces with their cluster and split, duplicates, errors
    and rejects (with an earlier version's, when a stage reruns on it)."""
    from pyspark.sql import functions as F

    status = F.col("status")
    representatives = clusters.assignment.where("is_representative")
    kept = pieces.where(status == schema.STATUS_OK).join(
        representatives.select("node", F.col("cluster_id").alias("dedup_cluster"), "split"), "node")
    duplicates = clusters.assignment.where(~F.col("is_representative")).select(*[f.name for f in schema.DUPLICATES])
    errors = pieces.where(status == schema.STATUS_ERROR).select(*[f.name for f in schema.ERRORS])
    rejects = pieces.where(status == schema.STATUS_REJECTED).select(*[f.name for f in schema.REJECTS])
    if carried:
        duplicates = duplicates.unionByName(_remap_carried(carried["duplicates"], clusters.assignment))
        errors = carried["errors"].unionByName(errors)
        rejects = carried["rejects"].unionByName(rejects)
    with stage_progress(progress, "split"):
        stats = representatives.groupBy("split").agg(F.count("*").alias("n"), F.sum("size_bytes").alias("bytes")).collect()
    return VersionTables(kept, duplicates, errors, rejects, Counter({r["split"]: r["n"] for r in stats}),
                         Counter({r["split"]: r["bytes"] for r in stats}), expected_input)


def publish_pieces(pieces, outcomes: Outcomes, out: Path, settings: Settings, *, overwrite: bool,
                   sources: list[dict], started: float, progress, stage_seconds: dict[str, float],
                   carried: dict[str, Any] | None = None, expected_input: int | None = None,
                   extra: dict[str, Any] | None = None) -> BuildResult:
    """Deduplicate, split and publish the pieces the steps made."""
    from pyspark.sql import functions as F

    dedup_started = time.time()
    clusters = deduplicate_pieces(pieces.where(F.col("status") == schema.STATUS_OK), settings, progress)
    stage_seconds = {**stage_seconds, "dedup": round(time.time() - dedup_started, 2)}
    try:
        tables = version_tables(pieces, clusters, progress, carried, expected_input)
        by_format = {f: Counter(c) for f, c in outcomes.by_format.items()}
        for fmt, counts in clusters.by_format.items():
            by_format.setdefault(fmt, Counter()).update(counts)
        for counts in by_format.values():
            counts.pop(schema.STATUS_OK, None)
        manifest = publish_version(tables, out, settings, overwrite=overwrite, sources=sources, started=started,
                                   progress=progress, extra={
                                       "by_format": {f: dict(c) for f, c in sorted(by_format.items())},
                                       "dedup": {**clusters.stats, "duplicates_by_kind": dict(sorted(clusters.kinds.items()))},
                                       "skipped_files": by_format.get("unknown", Counter()).get(schema.STATUS_SKIPPED, 0),
                                       "steps": outcomes.steps, "stage_seconds": stage_seconds, **(extra or {})})
    finally:
        clusters.assignment.unpersist()
    formats = {f: dict(c) for f, c in sorted(by_format.items()) if f != "unknown" or c.keys() - {"skipped"}}
    return BuildResult(out, manifest["counts"], formats, manifest["skipped_files"], time.time() - started, manifest)


def build(source_specs: list[str], out: str | Path, settings: Settings, *, spark_master: str | None = None,
          overwrite: bool = False, progress=None, cache_root: str | Path | None = None,
          use_cache: bool = True, exact_only: bool = False) -> BuildResult:
    """Build and publish a corpus version from `source_specs` into `out`.

    With a parse cache (`cache_root`, else params' ingest.cache_dir; `use_cache=False`: none),
    records parsed by an earlier build with the same params are only annotated again, and this
    build's new parses are added to it. `exact_only`: DVC's first stage (see `ingest_only`).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started, progress = time.time(), progress or NoProgress()
    out = prepare_out(out, overwrite)
    settings = ingest_only(settings) if exact_only else settings
    sources, units_by_source = list_sources(source_specs, settings, progress)
    units = [u for us in units_by_source.values() for u in us]
    spark = spark_session(settings.spark, spark_master)
    cache_root = (cache_root or settings.ingest.cache_dir) if use_cache else None
    cache = parse_cache.cache_dir(cache_root, settings) if cache_root else None
    cached = parse_cache.read(spark, cache) if cache is not None and parse_cache.has_entries(cache) else None
    counter = StepProgress(spark, units)
    frame = pieces_frame(spark, units, settings, cached, counter)
    pieces = frame.withColumn("node", F.xxhash64("source", "path")).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        parse_started = time.time()
        step_names = ["ingest"] + [s.name for s in build_steps(settings, cached=cached is not None)]
        outcomes = count_outcomes(pieces, step_names, progress, "ingest + parse + annotate", counter)
        stage_seconds = {"ingest_parse_annotate": round(time.time() - parse_started, 2)}
        incremental = {"records": outcomes.records, "reused": outcomes.reused,
                       "parsed": outcomes.records - outcomes.reused, "cache": str(cache) if cache else None}
        result = publish_pieces(
            pieces, outcomes, out, settings, overwrite=overwrite, started=started, progress=progress,
            sources=[{"name": s.name, "uri": s.uri, "kind": s.kind, "units": len(units_by_source[s.name])}
                     for s in sources],
            stage_seconds=stage_seconds, expected_input=outcomes.records, extra={"incremental": incremental})
        if cache is not None:  # after publishing: the version never waits on, or depends on, the cache
            with stage_progress(progress, "update parse cache"):
                parse_cache.append(pieces.where(~F.coalesce("reused", F.lit(False))), cache)
        return result
    finally:
        pieces.unpersist()


def restage(corpus: str | Path, out: str | Path, settings: Settings, *, stages: tuple[str, ...] = (),
            spark_master: str | None = None, overwrite: bool = False, progress=None) -> BuildResult:
    """Run steps again on a published version (with these params) and publish the result in `out`.

    Always deduplicates again (`symcorpus dedup`); `stages` may add "filter" (`symcorpus filter`:
    the rules over the stored features) or "annotate" (`symcorpus annotate`: features, key, labels
    and captions again, then the rules). Kept pieces are read from their stored notes, so nothing is
    rendered again. The earlier version's errors, rejects and duplicates are carried (duplicates
    re-pointed at their new representatives), so the counts still add up.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started, progress = time.time(), progress or NoProgress()
    out = prepare_out(out, overwrite)
    corpus = Path(corpus).expanduser().resolve()
    previous = corpus_manifest(corpus)
    spark = spark_session(settings.spark, spark_master)
    steps = restage_steps(settings, stages)
    # Published rows come back as ok pieces without fingerprints, so the dedup params in force apply.
    rows = conform(spark.read.parquet(str(corpus / "corpus" / "*")).drop("notes_hash"), schema.PIECES)
    pieces = (with_steps(rows.withColumn("status", F.lit(schema.STATUS_OK)), steps)
              .withColumn("node", F.xxhash64("source", "path")).persist(StorageLevel.MEMORY_AND_DISK))
    try:
        outcomes = count_outcomes(pieces, [s.name for s in steps], progress, " + ".join(s.name for s in steps))
        for fmt, counts in previous.get("by_format", {}).items():  # what earlier stages stopped
            for outcome in (schema.STATUS_ERROR, schema.STATUS_REJECTED):
                if counts.get(outcome):
                    outcomes.by_format.setdefault(fmt, Counter())[outcome] += counts[outcome]
        carried = {name: spark.read.schema(spark_schema(arrow)).parquet(str(corpus / name))
                   for name, arrow in [("errors", schema.ERRORS), ("rejects", schema.REJECTS),
                                       ("duplicates", schema.DUPLICATES)]}
        return publish_pieces(pieces, outcomes, out, settings, overwrite=overwrite, sources=previous["sources"],
                              started=started, progress=progress, stage_seconds={}, carried=carried,
                              expected_input=previous["counts"]["input"])
    finally:
        pieces.unpersist()
