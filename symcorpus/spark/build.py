"""`symcorpus build`, `dedup`, `filter` and `annotate`: thin Spark drivers around the step lists.

    build     sources --list--> units --[Read + build steps]--> pieces
    restage   a published version's rows --[restage steps]--> pieces
    then      pieces --deduplicate--> clusters --with_splits--> splits --publish_version--> OUT

The per-record work is in steps/ (plain functions over Arrow batches, run by mapInArrow); this
module only moves frames between the named driver functions and keeps the counts.

Builds survive what kills processes: each batch of records runs in an isolated child (a crashing
file is one error row, steps/guard.py), failed tasks are retried (spark/session.py), and finished
batches are kept next to OUT as they complete (steps/resume.py), so a build killed at any point and
started again with the same arguments reuses them and publishes the same shards. The folder is
removed once the version is published; the manifest's `resumed` says how many records came from it.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symcorpus import schema
from symcorpus.config import FilterSettings, Settings
from symcorpus.music.quality import RULE_CODES
from symcorpus.errors import UsageError
from symcorpus.sources import Source, Unit, pack_partitions, partition_count
from symcorpus.sources.storage import is_remote
from symcorpus.sources.listing import ListedSources
from symcorpus.sources.listing import list_sources as list_all_sources
from symcorpus.sources.listing import resolve_sources
from symcorpus.spark import cache as parse_cache
from symcorpus.spark.dedup import LIGHT_COLUMNS, SIGNATURE_COLUMNS, clustered, dedup_rows, deduplicate
from symcorpus.spark.frames import conform, spark_schema, units_frame, with_steps
from symcorpus.spark.joins import reports as metadata_reports
from symcorpus.spark.publish import (SPLITS, BuildResult, VersionTables, code_version, corpus_manifest,
                                     prepare_out, publish_version, work_dir)
from symcorpus.spark.progress import StepProgress
from symcorpus.spark.remote import build_into_store
from symcorpus.spark.session import NoProgress, spark_session, stage_progress
from symcorpus.spark.split import split_of, with_splits
from symcorpus.spark.staging import LIGHT, pieces_dir
from symcorpus.steps import PENDING, Read, Step, build_steps, restage_steps
from symcorpus.steps.batches import Running
from symcorpus.steps.counts import step_counts
from symcorpus.steps.resume import Finished, build_key


@dataclass
class Outcomes:
    """What the per-record steps did: records by format and status, and every step's counters."""

    by_format: dict[str, Counter] = field(default_factory=dict)  # format -> status -> records
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    reused: int = 0  # records whose parse came from the cache
    captioned: int = 0  # records that came with a caption from their source
    resumed: int = 0  # records taken from finished batches of an interrupted run
    clustered: int = 0  # pieces dedup sees (dedup.clustered)

    @property
    def records(self) -> int:
        return sum(n for c in self.by_format.values() for s, n in c.items() if s != schema.STATUS_SKIPPED)


def ingest_only(settings: Settings) -> Settings:
    """DVC's first stage: exact duplicates only and no quality rules (`dedup` and `filter` follow)."""
    return settings.replace(dedup=settings.dedup.replace(levels=["exact"]),
                            filter=FilterSettings(rules={code: False for code in RULE_CODES}))


def list_sources(specs: list[str | Source], settings: Settings, progress) -> ListedSources:
    """The sources named (or a recipe's Sources), their units of work and metadata joins (on the
    driver: names, sizes, indexes and metadata files only)."""
    sources = resolve_sources(specs, settings.ingest)  # a mistake in a SOURCE is one line, before any bar
    listing = progress.add_task("list sources", total=len(sources))
    return list_all_sources(sources, settings.ingest, lambda source: progress.update(listing, advance=1))


def running_for(settings: Settings, steps: list[Step], out: Path) -> Running:
    """Batches isolated as params say, and kept next to OUT for a rerun when ingest.resume is on."""
    finished = None
    if settings.ingest.resume:
        key = build_key(settings, [s.name for s in steps], code_version())
        finished = Finished(str(work_dir(out)), key)
    return Running.from_settings(settings, finished)


def kept_split(settings: Settings) -> Callable[[str], str]:
    """The split of a piece kept as its cluster's representative, from its id (spark/split.py)."""
    return functools.partial(split_of, ratios=settings.split.ratios(), seed=settings.split.seed)


def pieces_frame(spark, units: list[Unit], settings: Settings, cached=None, read: Read | None = None,
                 running: Running = Running(), stage: Path | None = None,
                 counter: StepProgress | None = None):
    """Every unit read and taken through the build steps: a lazy frame of PIECES rows (with
    `stage`: staging.LIGHT rows, the ok pieces' wide columns staged there).

    Files and zip members are read and parsed in one pass. Whole tar archives are read in their own
    tasks, then their records are spread over partitions by id before the costly parse; with a parse
    cache every record takes that second road, where cached parses join in as `parsed` pieces.
    Spread records are sorted within their partition, so a rerun cuts them into the same batches.
    """
    n = partition_count(len(units), spark.sparkContext.defaultParallelism, settings.ingest.max_units_per_partition,
                        settings.ingest.min_partitions_per_core)
    read = read or Read(settings.ingest.max_bytes)
    steps = build_steps(settings, cached=cached is not None)
    one_pass = [u for u in units if u.member] if cached is None else []
    two_pass = [u for u in units if not u.member] if cached is None else units
    split_for = kept_split(settings)
    frames = []
    if one_pass:
        frames.append(with_steps(units_frame(spark, pack_partitions(one_pass, n)), steps, read, running, stage,
                                 counter, split_for))
    if two_pass:
        records = with_steps(units_frame(spark, pack_partitions(two_pass, len(two_pass) if cached is None else n)),
                             [], read, counter=counter)
        if cached is not None:
            records = with_cached_parses(records, cached)
        spread = records.repartition(n, "id").sortWithinPartitions("id", "source", "path")
        frames.append(with_steps(spread, steps, running=running, stage=stage, counter=counter, split_for=split_for))
    if not frames:
        return spark.createDataFrame([], spark_schema(schema.PIECES if stage is None else LIGHT))
    pieces = frames[0]
    for frame in frames[1:]:
        pieces = pieces.unionByName(frame)
    return pieces


def with_cached_parses(records, cached):
    """Read records whose content hash is in the cache take the cached parse (status `parsed`, or
    the cached parse error) and are marked `reused`; the others stay `pending`."""
    from pyspark.sql import functions as F

    pending = records.where(F.col("status") == PENDING)
    carried = ["id", "source", "path", "content", *schema.SOURCE_COLUMNS, "joins"]  # what the cache does not hold
    hits = conform(pending.select(*carried).join(cached, "id"), schema.PIECES)
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
        rows = (pieces.groupBy("status", "format", "stage", code.alias("code"),
                               F.coalesce("reused", F.lit(False)).alias("reused"),
                               F.coalesce("resumed", F.lit(False)).alias("resumed"),
                               F.col("source_caption").isNotNull().alias("captioned"))
                .count().collect())
    outcomes = Outcomes()
    by_step: Counter = Counter()
    for r in rows:
        outcomes.by_format.setdefault(r["format"] or "unknown", Counter())[r["status"]] += r["count"]
        stage = None if r["status"] == schema.STATUS_OK else r["stage"]
        by_step[(r["status"], stage, r["code"])] += r["count"]
        outcomes.reused += r["count"] if r["reused"] else 0
        outcomes.captioned += r["count"] if r["captioned"] and r["status"] != schema.STATUS_SKIPPED else 0
        outcomes.resumed += r["count"] if r["resumed"] and r["status"] != schema.STATUS_SKIPPED else 0
        outcomes.clustered += r["count"] if clustered(r["status"], r["stage"]) else 0
    outcomes.steps = step_counts(step_names, by_step)
    return outcomes


@dataclass
class Clusters:
    """The dedup result with splits: one row per piece dedup saw (persisted while the version is written)."""

    assignment: Any  # node, id, ..., cluster_id, representative_id, is_representative, kind, similarity, passes, split
    stats: dict[str, Any]
    kinds: Counter  # duplicates by kind
    by_format: dict[str, Counter]  # format -> kept | duplicate | rejected (a change to the steps' count) -> pieces


def deduplicate_pieces(pieces, settings: Settings, progress, n_rows: int | None = None) -> Clusters:
    """Cluster the pieces dedup sees (dedup.dedup_rows; `n_rows` of them, when counted), pick
    representatives, and draw each cluster's split."""
    from pyspark import StorageLevel

    rows = dedup_rows(pieces)
    with stage_progress(progress, "deduplicate"):
        dedup = deduplicate(rows.select(*LIGHT_COLUMNS), rows.select(*SIGNATURE_COLUMNS), settings.dedup, n_rows)
        assignment = with_splits(dedup.assignment, settings.split.ratios(), settings.split.seed)
        assignment = assignment.persist(StorageLevel.MEMORY_AND_DISK)
        counted = assignment.groupBy("format", "kind", "passes").count().collect()
    kinds: Counter = Counter()
    by_format: dict[str, Counter] = {}
    for row in counted:
        counts = by_format.setdefault(row["format"], Counter())
        if row["kind"] is None:  # a representative: kept, or rejected if it fails the filter (counted so)
            counts["kept"] += row["count"] if row["passes"] else 0
            continue
        counts["duplicate"] += row["count"]
        kinds[row["kind"]] += row["count"]
        if not row["passes"]:  # counted as rejected by the steps, a duplicate after all
            counts[schema.STATUS_REJECTED] -= row["count"]
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


def version_tables(pieces, clusters: Clusters, progress, staged: Path, carried: dict[str, Any] | None = None,
                   expected_input: int | None = None) -> VersionTables:
    """The frames a version publishes: kept pieces (references to their staged rows) with their
    split, duplicates, errors and rejects (with an earlier version's, when a stage reruns on it)."""
    from pyspark.sql import functions as F

    status = F.col("status")
    representatives = clusters.assignment.where("is_representative AND passes")
    kept = (pieces.where(status == schema.STATUS_OK).select("node", "staged", "row")
            .join(representatives.select("node", "split"), "node"))
    members = clusters.assignment.where(~F.col("is_representative"))
    duplicates = members.select(*[f.name for f in schema.DUPLICATES])
    errors = pieces.where(status == schema.STATUS_ERROR).select(*[f.name for f in schema.ERRORS])
    # A piece the filter rejected that duplicates another is in `duplicates`, not here.
    rejects = (pieces.where(status == schema.STATUS_REJECTED).join(members.select("node"), "node", "left_anti")
               .select(*[f.name for f in schema.REJECTS]))
    if carried:
        duplicates = duplicates.unionByName(_remap_carried(carried["duplicates"], clusters.assignment))
        errors = carried["errors"].unionByName(errors)
        rejects = carried["rejects"].unionByName(rejects)
    with stage_progress(progress, "split"):
        stats = representatives.groupBy("split").agg(F.count("*").alias("n"), F.sum("size_bytes").alias("bytes")).collect()
    return VersionTables(kept, duplicates, errors, rejects, Counter({r["split"]: r["n"] for r in stats}),
                         Counter({r["split"]: r["bytes"] for r in stats}), expected_input, staged)


def publish_pieces(pieces, outcomes: Outcomes, out: Path, settings: Settings, *, overwrite: bool,
                   sources: list[dict], started: float, progress, stage_seconds: dict[str, float],
                   staged: Path, carried: dict[str, Any] | None = None, expected_input: int | None = None,
                   extra: dict[str, Any] | None = None) -> BuildResult:
    """Deduplicate, split and publish the pieces the steps made (light rows; their wide columns
    staged in `staged`)."""
    dedup_started = time.time()
    clusters = deduplicate_pieces(pieces, settings, progress, outcomes.clustered)
    stage_seconds = {**stage_seconds, "dedup": round(time.time() - dedup_started, 2)}
    try:
        tables = version_tables(pieces, clusters, progress, staged, carried, expected_input)
        by_format = {f: Counter(c) for f, c in outcomes.by_format.items()}
        for fmt, counts in clusters.by_format.items():
            by_format.setdefault(fmt, Counter()).update(counts)
        for fmt, counts in by_format.items():
            counts.pop(schema.STATUS_OK, None)
            by_format[fmt] = Counter({outcome: n for outcome, n in counts.items() if n})
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


def build(source_specs: list[str | Source], out: str | Path, settings: Settings, *, spark_master: str | None = None,
          overwrite: bool = False, progress=None, cache_root: str | Path | None = None,
          use_cache: bool = True, exact_only: bool = False) -> BuildResult:
    """Build and publish a corpus version from `source_specs` into `out`.

    With a parse cache (`cache_root`, else params' ingest.cache_dir; `use_cache=False`: none),
    records parsed by an earlier build with the same params are only annotated again, and this
    build's new parses are added to it. `exact_only`: DVC's first stage (see `ingest_only`).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if is_remote(str(out)):  # no rename there: assembled locally, published behind a pointer
        return build_into_store(build, str(out), settings, overwrite, source_specs=source_specs,
                                spark_master=spark_master, progress=progress, cache_root=cache_root,
                                use_cache=use_cache, exact_only=exact_only)
    started, progress = time.time(), progress or NoProgress()
    out = prepare_out(out, overwrite)
    settings = ingest_only(settings) if exact_only else settings
    listed = list_sources(source_specs, settings, progress)
    units = listed.all_units()
    spark = spark_session(settings.spark, spark_master)
    # Storage options and metadata tables go to each worker once, not with every task.
    read = Read(settings.ingest.max_bytes, spark.sparkContext.broadcast(listed.contexts))
    cache_root = (cache_root or settings.ingest.cache_dir) if use_cache else None
    cache = parse_cache.cache_dir(cache_root, settings) if cache_root else None
    cached = parse_cache.read(spark, cache) if cache is not None and parse_cache.has_entries(cache) else None
    steps = build_steps(settings, cached=cached is not None)
    running = running_for(settings, steps, out)
    found = running.finished.count() if running.finished else 0  # what an interrupted run finished
    staged = pieces_dir(out)
    counter = StepProgress(spark, units)
    pieces = (pieces_frame(spark, units, settings, cached, read, running, staged, counter)
              .withColumn("node", F.xxhash64("source", "path")).persist(StorageLevel.MEMORY_AND_DISK))
    try:
        parse_started = time.time()
        outcomes = count_outcomes(pieces, ["ingest"] + [s.name for s in steps], progress,
                                  "ingest + parse + annotate", counter)
        stage_seconds = {"ingest_parse_annotate": round(time.time() - parse_started, 2)}
        incremental = {"records": outcomes.records, "reused": outcomes.reused,
                       "parsed": outcomes.records - outcomes.reused, "cache": str(cache) if cache else None}
        metadata = {}
        if listed.joins() or outcomes.captioned:  # a plain folder build runs no job for it
            with stage_progress(progress, "join report"):
                metadata = metadata_reports(pieces, listed.joins(), outcomes.captioned > 0)
        result = publish_pieces(
            pieces, outcomes, out, settings, overwrite=overwrite, started=started, progress=progress,
            sources=listed.manifest_entries(), stage_seconds=stage_seconds, staged=staged,
            expected_input=outcomes.records,
            extra={"incremental": incremental, **metadata,
                   "resumed": {"records": outcomes.resumed, "batches_found": found}})
        if cache is not None:  # after publishing: the version never waits on, or depends on, the cache
            with stage_progress(progress, "update parse cache"):
                parse_cache.append(pieces.where(~F.coalesce("reused", F.lit(False))), cache)
        clear_work(running)
        return result
    finally:
        pieces.unpersist()
        shutil.rmtree(staged, ignore_errors=True)


def clear_work(running: Running) -> None:
    """The finished batches are published: a rerun would start a new build, so they go."""
    if running.finished is not None:
        shutil.rmtree(running.finished.directory, ignore_errors=True)


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
    running = running_for(settings, steps, out)
    found = running.finished.count() if running.finished else 0
    # Published rows come back as ok pieces without fingerprints, so the dedup params in force apply.
    rows = conform(spark.read.parquet(str(corpus / "corpus" / "*")).drop("notes_hash"), schema.PIECES)
    staged = pieces_dir(out)
    pieces = (with_steps(rows.withColumn("status", F.lit(schema.STATUS_OK)), steps, running=running, stage=staged,
                         split_for=kept_split(settings))
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
        result = publish_pieces(pieces, outcomes, out, settings, overwrite=overwrite, sources=previous["sources"],
                                started=started, progress=progress, stage_seconds={}, staged=staged,
                                carried=carried, expected_input=previous["counts"]["input"],
                                extra={"resumed": {"records": outcomes.resumed, "batches_found": found}})
        clear_work(running)
        return result
    finally:
        pieces.unpersist()
        shutil.rmtree(staged, ignore_errors=True)
