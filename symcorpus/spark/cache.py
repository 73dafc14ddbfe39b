"""The parse cache: what earlier builds parsed, by content hash, so a build parses only new records.

Layout: CACHE/<key>/part-*.parquet (schema.PARSE_CACHE). The key hashes everything a parse result
depends on (code and schema versions, ingest limits, fingerprint params), so other params never
reuse stale results; annotation and filters run again on reuse (cheap, and they read the path).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from symcorpus import __version__, schema
from symcorpus.config import Settings
from symcorpus.music.fingerprint import FINGERPRINT_VERSION


def cache_key(settings: Settings) -> str:
    dedup = settings.dedup
    relevant = {
        "code": __version__,
        "schema": schema.SCHEMA_VERSION,
        "limits": settings.ingest.limits().__dict__,
        "fingerprints": {"levels": sorted(dedup.levels), "transpose_invariant": dedup.transpose_invariant,
                         "grid": dedup.grid, "shingle_size": dedup.shingle_size, "bands": dedup.bands,
                         "rows": dedup.rows, "seed": dedup.seed, "version": FINGERPRINT_VERSION},
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cache_dir(root: str | Path, settings: Settings) -> Path:
    return Path(root).expanduser().resolve() / cache_key(settings)


def has_entries(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("*.parquet"))


def read(spark, directory: Path):
    """The cached rows, one per id."""
    from symcorpus.spark.frames import spark_schema

    return spark.read.schema(spark_schema(schema.PARSE_CACHE)).parquet(str(directory)).dropDuplicates(["id"])


def append(frame, directory: Path) -> None:
    """Add newly parsed rows (records parsed this build, successfully or not, at the parse stage)."""
    from pyspark.sql import functions as F

    from symcorpus.steps import PARSED

    rows = (
        # Every record that got past reading: parse errors as they are, the others as parses
        # (annotation and the rules run again on reuse: they are cheap and read the path).
        frame.where(F.col("stage").isNull() | (F.col("stage") != "ingest"))
        .where(F.col("status") != schema.STATUS_SKIPPED)
        .withColumn("status", F.when(F.col("stage") == "parse", F.col("status")).otherwise(F.lit(PARSED)))
        .select(*[f.name for f in schema.PARSE_CACHE])
        .dropDuplicates(["id"])
    )
    directory.mkdir(parents=True, exist_ok=True)
    rows.coalesce(1).write.mode("append").option("compression", "zstd").parquet(str(directory))
