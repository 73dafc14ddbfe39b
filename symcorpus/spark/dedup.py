"""Deduplication in Spark: exact, same-notes and near-duplicate edges, clusters, representatives.

    exact   same sha256 of the bytes (the `id`)
    notes   same `notes_hash` (music/fingerprint.py): tempo, resolution, programs, layout ignored
    near    MinHash LSH: pieces sharing a band are candidates; a candidate pair is an edge when its
            estimated Jaccard similarity reaches the threshold (in the driver when the band hashes
            fit, spark/lsh.py; else in Spark, `near_edges`)
    -> connected components over the near edges (components.py): in the driver when they fit;
       a group where every member fails the filter joins its most similar cluster (a leaf)
    -> one representative per cluster, the most complete piece that passes the quality filter;
       every other member is a duplicate

Dedup comes before the filter (DESIGN.md's data flow): the pieces grouped are the ok ones and those
only the quality filter rejected (`dedup_rows`), so a byte or same-notes copy of a rejected piece is
its duplicate, and a piece that fails a rule represents only a group where every member fails (it
is rejected, the rest are its duplicates). The near level's edges join only groups with a member that
passes: a rejected fragment similar to two kept pieces would otherwise join them into one cluster
(12-note tunes did, in bench/dedup_scale.py's corpus). A group where every member fails is a leaf
instead: it joins the cluster of the passing group it is most similar to (`leaf_edges`), so a
rejected original of a kept near copy is that copy's duplicate, and never a bridge between two.

Exact and same-notes duplicates are groups, not graph edges: only one head per group goes through
LSH and connected components. Only light columns (ids, hashes, band hashes, counts) are shuffled;
signatures are fetched for the few nodes that need one, and content stays where it is.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from symcorpus import schema
from symcorpus.config import DedupSettings
from symcorpus.music.fingerprint import packed_similarities
from symcorpus.spark import dedup_driver, lsh
from symcorpus.spark.components import connected_components, labels_frame, smallest_node_labels
from symcorpus.spark.dedup_driver import EXACT, NEAR, NOTES, REPRESENTATIVE_ORDER
from symcorpus.spark.lsh import signatures_of
from symcorpus.steps.filter import Quality

LIGHT_COLUMNS = ["node", "id", "source", "path", "format", "size_bytes", "notes_hash", "lsh_bands",
                 "n_tracks", "n_notes", "duration_quarters", "has_metadata", "passes"]
SIGNATURE_COLUMNS = ["node", "minhash"]


@dataclass
class DedupResult:
    assignment: DataFrame  # node, id, source, path, format, size_bytes, cluster_id, representative_id,
    #                        is_representative, kind, similarity, passes
    stats: dict


def clustered(status, stage):
    """Whether dedup sees a piece: ok, or rejected by the quality filter alone. Pieces stopped earlier
    (errors, excluded records) have no notes to compare. Takes a row's values or Spark columns
    (`==`, `&` and `|` mean the same on both)."""
    return (status == schema.STATUS_OK) | ((status == schema.STATUS_REJECTED) & (stage == Quality.name))


def dedup_rows(pieces: DataFrame) -> DataFrame:
    """The pieces dedup clusters (`clustered`), with `has_metadata` and `passes` (the filter kept it)."""
    return (pieces.where(clustered(F.col("status"), F.col("stage")))
            .withColumn("has_metadata", has_metadata_column())
            .withColumn("passes", F.col("status") == schema.STATUS_OK))


def has_metadata_column() -> Column:
    """True when a piece names its title or composer, or came with its source's metadata (a caption,
    a metadata entry): a better representative than an anonymous copy of the same notes."""
    return (F.col("abc.title").isNotNull() | F.col("abc.composer").isNotNull() | F.col("source_caption").isNotNull()
            | F.col("source_meta").isNotNull())


def pair_similarities(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Batches of (a, b, sig_a, sig_b) in, (a, b, similarity) out: the LSH candidate check."""
    for batch in batches:
        similarity = packed_similarities(batch.column("sig_a").to_pylist(), batch.column("sig_b").to_pylist())
        yield pa.RecordBatch.from_arrays(
            [batch.column("a"), batch.column("b"), pa.array(similarity, type=pa.float64())],
            names=["a", "b", "similarity"],
        )


def with_similarity(pairs: DataFrame, signatures: DataFrame) -> DataFrame:
    """(a, b) pairs with the estimated similarity of their signatures: (a, b, similarity).

    Signatures are packed bytes; numpy compares a whole batch of pairs at once.
    """
    joined = (
        pairs.join(signatures.select(F.col("node").alias("a"), F.col("minhash").alias("sig_a")), "a")
        .join(signatures.select(F.col("node").alias("b"), F.col("minhash").alias("sig_b")), "b")
        .select("a", "b", "sig_a", "sig_b")
    )
    return joined.mapInArrow(pair_similarities, "a long, b long, similarity double")


def near_edges(light: DataFrame, signatures: DataFrame, settings: DedupSettings) -> tuple[DataFrame, DataFrame]:
    """(verified edges, candidate pairs) from LSH buckets."""
    buckets = (
        light.select("node", F.posexplode("lsh_bands").alias("band", "bucket"))
        .groupBy("band", "bucket")
        .agg(F.collect_set("node").alias("nodes"))
        .where(F.size("nodes") > 1)
    )
    # Small buckets: every pair, by exploding the member list against itself. Huge buckets (a motif
    # shared by thousands): a star to the bucket's smallest node, which bounds the work at the price
    # of checking fewer pairs.
    small = buckets.where(F.size("nodes") <= settings.max_bucket_size)
    pairs = small.select(F.explode("nodes").alias("a"), "nodes").select(
        "a", F.explode(F.filter("nodes", lambda x: x > F.col("a"))).alias("b")
    )
    stars = (
        buckets.where(F.size("nodes") > settings.max_bucket_size)
        .select(F.array_min("nodes").alias("b"), F.explode("nodes").alias("a"))
        .where(F.col("a") != F.col("b"))
        .select("a", "b")
    )
    candidates = pairs.union(stars).distinct().localCheckpoint()
    nodes = candidates.select(F.col("a").alias("node")).union(candidates.select(F.col("b").alias("node")))
    signatures = signatures_of(nodes, signatures).localCheckpoint()
    verified = with_similarity(candidates, signatures).where(F.col("similarity") >= settings.threshold).select("a", "b")
    return verified, candidates


def _clusters(light: DataFrame, signatures: DataFrame, settings: DedupSettings, stats: dict) -> tuple[DataFrame, str]:
    """(group key -> cluster label, the group key). Exact and same-notes duplicates need no graph:
    grouping by `notes_hash` (or by `id` when the notes level is off) joins them, and each group gets
    a head, its smallest node. Only the heads of groups with a member that passes the filter take
    part in LSH and connected components (the members of a group have the same notes, so the same
    band hashes and signature)."""
    group_key = "notes_hash" if NOTES in settings.levels else "id"
    groups = (light.groupBy(group_key).agg(F.min("node").alias("head"), F.max("passes").alias("passes"))
              .localCheckpoint())
    if NEAR not in settings.levels:
        return groups.select(group_key, F.col("head").alias("label")), group_key
    compared = groups.where("passes").select(F.col("head").alias("node"))
    heads = light.join(compared, "node")
    in_driver = None
    if compared.count() * settings.bands <= lsh.DRIVER_MAX_BAND_VALUES:
        in_driver = lsh.near_edges_in_driver(heads, signatures, settings)
    if in_driver is not None:
        a, b, stats["near_candidate_pairs"] = in_driver
        stats["near_verified_pairs"] = len(a)
        labels = labels_frame(light.sparkSession, *smallest_node_labels(a, b))
    else:
        verified, candidates = near_edges(heads, signatures, settings)
        stats["near_candidate_pairs"] = candidates.count()
        verified = verified.localCheckpoint()
        stats["near_verified_pairs"] = verified.count()
        labels = connected_components(verified, settings.max_iterations, n_edges=stats["near_verified_pairs"])
    groups = (groups.join(labels.withColumnRenamed("node", "head"), "head", "left")
              .withColumn("label", F.coalesce("label", "head")).localCheckpoint())
    leaves = light.join(groups.where(~F.col("passes")).select(F.col("head").alias("node")), "node")
    attached = leaf_edges(leaves, heads, signatures, settings).localCheckpoint()
    stats["near_attached_rejects"] = attached.count()
    partner_label = groups.select(F.col("head").alias("b"), F.col("label").alias("partner_label"))
    joins = attached.join(partner_label, "b").select(F.col("a").alias("head"), "partner_label")
    groups = (groups.join(joins, "head", "left")
              .withColumn("label", F.coalesce("partner_label", "label")))
    return groups.select(group_key, "label"), group_key


def leaf_edges(leaves: DataFrame, heads: DataFrame, signatures: DataFrame, settings: DedupSettings) -> DataFrame:
    """(a, b): each leaf `a` (the head of a group where every member fails the filter) with the head
    `b` it is most similar to (ties: the smallest b), among the heads that share a band bucket with
    it (only a bucket's smallest head when it holds more than max_bucket_size) and whose estimated
    similarity reaches the threshold: the rule of lsh.leaf_candidates and lsh.best_partners."""
    leaf_bands = leaves.select(F.col("node").alias("a"), F.posexplode("lsh_bands").alias("band", "bucket"))
    buckets = (
        heads.select("node", F.posexplode("lsh_bands").alias("band", "bucket"))
        .join(leaf_bands.select("band", "bucket").distinct(), ["band", "bucket"], "left_semi")
        .groupBy("band", "bucket")
        .agg(F.collect_set("node").alias("nodes"), F.min("node").alias("smallest"))
    )
    bounded = F.when(F.size("nodes") <= settings.max_bucket_size, F.col("nodes")).otherwise(F.array("smallest"))
    pairs = leaf_bands.join(buckets, ["band", "bucket"]).select("a", F.explode(bounded).alias("b")).distinct()
    pairs = pairs.localCheckpoint()
    nodes = pairs.select(F.col("a").alias("node")).union(pairs.select(F.col("b").alias("node")))
    verified = (with_similarity(pairs, signatures_of(nodes, signatures).localCheckpoint())
                .where(F.col("similarity") >= settings.threshold))
    best_first = Window.partitionBy("a").orderBy(F.desc("similarity"), F.asc("b"))
    return verified.withColumn("rank", F.row_number().over(best_first)).where("rank = 1").select("a", "b")


def _members(clustered: DataFrame) -> DataFrame:
    """Every piece with its cluster's representative (its first by REPRESENTATIVE_ORDER) and its kind."""
    best_first = Window.partitionBy("label").orderBy(
        *[F.desc(key) if way == "descending" else F.asc(key) for key, way in REPRESENTATIVE_ORDER])
    ranked = clustered.withColumn("rank", F.row_number().over(best_first))
    representatives = ranked.where("rank = 1").select(
        "label", F.col("node").alias("rep_node"), F.col("id").alias("representative_id"),
        F.col("notes_hash").alias("rep_notes_hash"),
    )
    kind = (
        F.when(F.col("id") == F.col("representative_id"), F.lit(EXACT))
        .when(F.col("notes_hash") == F.col("rep_notes_hash"), F.lit(NOTES))
        .otherwise(F.lit(NEAR))
    )
    return (
        ranked.join(representatives, "label")
        .withColumn("is_representative", F.col("rank") == 1)
        .withColumn("cluster_id", F.col("representative_id"))
        .withColumn("kind", F.when(F.col("is_representative"), F.lit(None)).otherwise(kind))
        .localCheckpoint()
    )


def _near_similarity(members: DataFrame, signatures: DataFrame, settings: DedupSettings) -> DataFrame:
    """(node, near_similarity): near duplicates' estimated similarity to their representative."""
    if NEAR not in settings.levels:
        return members.select("node", F.lit(None).cast("double").alias("near_similarity")).limit(0)
    near = members.where(F.col("kind") == NEAR).select("node", "rep_node")
    near_nodes = near.select("node").union(near.select(F.col("rep_node").alias("node")))
    sigs = signatures_of(near_nodes, signatures).localCheckpoint()
    return with_similarity(near.select(F.col("node").alias("a"), F.col("rep_node").alias("b")), sigs).select(
        F.col("a").alias("node"), F.col("similarity").alias("near_similarity"))


def deduplicate(light: DataFrame, signatures: DataFrame, settings: DedupSettings,
                rows: int | None = None) -> DedupResult:
    """Cluster the pieces of `light` (LIGHT_COLUMNS) and pick a representative per cluster.

    `signatures` (SIGNATURE_COLUMNS) is read only for the few nodes that need one. `rows`, when
    the caller knows how many pieces `light` holds: in the driver (dedup_driver.py) when their band
    hashes fit it (lsh.DRIVER_MAX_BAND_VALUES), with the same result as the Spark jobs below.
    """
    stats: dict = {"levels": [EXACT] + [lvl for lvl in settings.levels if lvl != EXACT]}
    if rows is not None and rows * settings.bands <= lsh.DRIVER_MAX_BAND_VALUES:
        spark = light.sparkSession
        fetch = functools.partial(lsh.fetch_signatures, spark, signatures)
        found = dedup_driver.assign(light.select(*LIGHT_COLUMNS).toArrow(), fetch, settings)
        if found is not None:
            table, more = found
            return DedupResult(spark.createDataFrame(table), {**stats, **more})
    # Read the wide parsed table once; every later step works on this narrow copy.
    light = light.localCheckpoint()
    groups, group_key = _clusters(light, signatures, settings, stats)
    members = _members(light.join(groups, group_key))
    assignment = (
        members.join(_near_similarity(members, signatures, settings), "node", "left")
        .withColumn(
            "similarity",
            F.when(F.col("is_representative"), F.lit(None))
            .when(F.col("kind") == NEAR, F.col("near_similarity"))
            .otherwise(F.lit(1.0)),
        )
        .select("node", "id", "source", "path", "format", "size_bytes", "cluster_id", "representative_id",
                "is_representative", "kind", "similarity", "passes")
    )
    return DedupResult(assignment, stats)
