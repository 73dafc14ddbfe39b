"""Deduplication in Spark: exact, same-notes and near-duplicate edges, clusters, representatives.

    exact   same sha256 of the bytes (the `id`)
    notes   same `notes_hash` (music/fingerprint.py): tempo, resolution, programs, layout ignored
    near    MinHash LSH: pieces sharing a band are candidates; a candidate pair is an edge when its
            estimated Jaccard similarity reaches the threshold
    -> connected components over all edges (components.py), in Spark
    -> one representative per cluster, the most complete piece; every other member is a duplicate

Edges inside a group are stars around its smallest node, so a group of n gives n-1 edges, never n².
Only light columns (ids, hashes, signatures, counts) take part; content stays where it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from symcorpus.pipeline.components import connected_components
from symcorpus.settings import DedupSettings

EXACT, NOTES, NEAR = "exact", "notes", "near"

LIGHT_COLUMNS = ["node", "id", "source", "path", "format", "notes_hash", "minhash", "lsh_bands",
                 "n_tracks", "n_notes", "duration_seconds", "has_metadata"]


@dataclass
class DedupResult:
    assignment: DataFrame  # node, id, source, path, format, cluster_id, representative_id, is_representative, kind, similarity
    stats: dict


def has_metadata_column() -> Column:
    """True when a piece names its title or composer (a better representative than an anonymous copy)."""
    return F.col("abc.title").isNotNull() | F.col("abc.composer").isNotNull()


def _star_edges(light: DataFrame, key: str) -> DataFrame:
    roots = light.groupBy(key).agg(F.min("node").alias("root"), F.count("*").alias("size")).where("size > 1")
    return (
        light.join(roots, key)
        .where(F.col("node") != F.col("root"))
        .select(F.col("node").alias("a"), F.col("root").alias("b"))
    )


def similarity_of(sig_a: str, sig_b: str, num_perm: int) -> Column:
    """Share of equal MinHash values: the estimate of the two pieces' Jaccard similarity."""
    equal = F.zip_with(F.col(sig_a), F.col(sig_b), lambda x, y: x == y)
    return F.size(F.filter(equal, lambda z: z)) / F.lit(float(num_perm))


def near_edges(light: DataFrame, settings: DedupSettings) -> tuple[DataFrame, DataFrame]:
    """(verified edges, candidate pairs) from LSH buckets."""
    bands = light.select("node", F.posexplode("lsh_bands").alias("band", "bucket"))
    buckets = (
        bands.groupBy("band", "bucket")
        .agg(F.count("*").alias("size"), F.min("node").alias("root"))
        .where("size > 1")
    )
    members = bands.join(buckets, ["band", "bucket"])
    # Small buckets: every pair. Huge buckets (a motif shared by thousands): a star to the bucket's
    # smallest node, which bounds the work at the price of checking fewer pairs.
    small = members.where(F.col("size") <= settings.max_bucket_size).select("band", "bucket", "node")
    pairs = (
        small.alias("x")
        .join(small.alias("y"), ["band", "bucket"])
        .where(F.col("x.node") < F.col("y.node"))
        .select(F.col("x.node").alias("a"), F.col("y.node").alias("b"))
    )
    stars = (
        members.where((F.col("size") > settings.max_bucket_size) & (F.col("node") != F.col("root")))
        .select(F.col("node").alias("a"), F.col("root").alias("b"))
    )
    candidates = pairs.union(stars).distinct()
    signatures = light.select("node", "minhash")
    verified = (
        candidates.join(signatures.withColumnRenamed("node", "a").withColumnRenamed("minhash", "sig_a"), "a")
        .join(signatures.withColumnRenamed("node", "b").withColumnRenamed("minhash", "sig_b"), "b")
        .withColumn("similarity", similarity_of("sig_a", "sig_b", settings.num_perm))
        .where(F.col("similarity") >= settings.threshold)
        .select("a", "b")
    )
    return verified, candidates


def deduplicate(light: DataFrame, settings: DedupSettings) -> DedupResult:
    """Cluster the pieces of `light` (LIGHT_COLUMNS) and pick a representative per cluster."""
    edges = [_star_edges(light, "id")]  # exact duplicates are always merged: ids must be unique
    stats: dict = {"levels": [EXACT] + [lvl for lvl in settings.levels if lvl != EXACT]}
    if NOTES in settings.levels:
        edges.append(_star_edges(light, "notes_hash"))
    if NEAR in settings.levels:
        verified, candidates = near_edges(light, settings)
        candidates = candidates.localCheckpoint()
        stats["near_candidate_pairs"] = candidates.count()
        verified = verified.localCheckpoint()
        stats["near_verified_pairs"] = verified.count()
        edges.append(verified)
    all_edges = edges[0]
    for more in edges[1:]:
        all_edges = all_edges.union(more)
    labels = connected_components(all_edges.distinct(), settings.max_iterations)

    clustered = light.join(labels, "node", "left").withColumn("label", F.coalesce("label", "node"))
    best_first = Window.partitionBy("label").orderBy(
        F.desc("n_tracks"), F.desc("n_notes"), F.desc("has_metadata"), F.desc("duration_seconds"),
        F.asc("id"), F.asc("source"), F.asc("path"),
    )
    ranked = clustered.withColumn("rank", F.row_number().over(best_first))
    representatives = ranked.where("rank = 1").select(
        "label",
        F.col("id").alias("representative_id"),
        F.col("notes_hash").alias("rep_notes_hash"),
        F.col("minhash").alias("rep_minhash"),
    )
    kind = (
        F.when(F.col("id") == F.col("representative_id"), F.lit(EXACT))
        .when(F.col("notes_hash") == F.col("rep_notes_hash"), F.lit(NOTES))
        .otherwise(F.lit(NEAR))
    )
    assignment = (
        ranked.join(representatives, "label")
        .withColumn("is_representative", F.col("rank") == 1)
        .withColumn("cluster_id", F.col("representative_id"))
        .withColumn("kind", F.when(F.col("is_representative"), F.lit(None)).otherwise(kind))
        .withColumn(
            "similarity",
            F.when(F.col("is_representative"), F.lit(None))
            .when(F.col("kind") == NEAR, similarity_of("minhash", "rep_minhash", settings.num_perm))
            .otherwise(F.lit(1.0)),
        )
        .select("node", "id", "source", "path", "format", "cluster_id", "representative_id",
                "is_representative", "kind", "similarity")
    )
    return DedupResult(assignment, stats)
