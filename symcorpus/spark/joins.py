"""The join and caption reports of a build, from its pieces frame: a few group-bys whose small
results feed the pure report functions of sources/joins.py (what `run_local_sources` feeds them
from local rows)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from symcorpus import schema
from symcorpus.sources.joins import EXAMPLES, CaptionTallies, Join, JoinTallies, caption_report, join_report


def join_tallies(pieces) -> JoinTallies:
    """Records matched and not per (source, join), the distinct keys matched, and the first
    unmatched paths. Distinct matched keys come to the driver: one string per matched file."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    notes = pieces.where(F.col("joins").isNotNull()).select("source", "path", F.explode("joins").alias("j"))
    notes = notes.select("source", "path", F.col("j.name").alias("name"), F.col("j.key").alias("key"),
                         F.col("j.matched").alias("matched"))
    tallies = JoinTallies()
    for r in notes.groupBy("source", "name", "matched").count().collect():
        tallies.rows[(r["source"], r["name"], bool(r["matched"]))] += r["count"]
    for r in notes.where("matched").select("source", "name", "key").distinct().collect():
        tallies.matched_keys.setdefault((r["source"], r["name"]), set()).add(r["key"])
    first = Window.partitionBy("source", "name").orderBy("path")
    unmatched = (notes.where(~F.col("matched")).withColumn("n", F.row_number().over(first))
                 .where(F.col("n") <= EXAMPLES).collect())
    for r in sorted(unmatched, key=lambda r: (r["source"], r["name"], r["path"])):
        tallies.unmatched_paths.setdefault((r["source"], r["name"]), []).append(r["path"])
    return tallies


def caption_tallies(pieces) -> CaptionTallies:
    from pyspark.sql import functions as F

    captioned = pieces.where(F.col("source_caption").isNotNull() & (F.col("status") != schema.STATUS_SKIPPED))
    tallies = CaptionTallies()
    for r in captioned.groupBy("source").count().collect():
        tallies.pieces[r["source"]] = r["count"]
    if not tallies.pieces:
        return tallies
    tallies.distinct = captioned.select("source_caption").distinct().count()
    repeated = (captioned.groupBy("source_caption")
                .agg(F.count("*").alias("n"), F.countDistinct("id").alias("ids"),
                     F.collect_list("source").alias("sources"))
                .where(F.col("n") > 1).collect())
    tallies.repeated = {r["source_caption"]: (Counter(r["sources"]), r["ids"]) for r in repeated}
    return tallies


def reports(pieces, joins: dict[str, list[Join]], captioned: bool) -> dict[str, Any]:
    """What the manifest says of the metadata: `joins` (when a source has any) and `captions` (when
    a piece came with one)."""
    out: dict[str, Any] = {}
    if joins:
        out["joins"] = join_report(joins, join_tallies(pieces))
    if captioned:
        out["captions"] = caption_report(caption_tallies(pieces))
    return out
