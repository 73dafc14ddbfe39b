"""Train / valid / test assignment by hash: deterministic, and stable when the corpus grows.

The key is a duplicate cluster's id, so every member of a cluster lands in the same split. The hash
is read as a number in [0, 1) from 52 bits, which a double holds exactly: the Spark column and the
plain function agree bit for bit.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "valid", "test")
_BITS = 52


def _edges(ratios: dict[str, float]) -> list[tuple[str, float]]:
    edges, edge = [], 0.0
    for name in SPLITS:
        edge += ratios.get(name, 0.0)
        edges.append((name, edge))
    return edges


def _rest(ratios: dict[str, float]) -> str:
    # Only reached when the ratios add up to a hair under 1: the last split in use takes the rest.
    return [name for name in SPLITS if ratios.get(name, 0.0) > 0][-1]


def split_of(key: str, ratios: dict[str, float], seed: str = "") -> str:
    """The split for `key`."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()
    x = int(digest[: _BITS // 4], 16) / 2**_BITS
    for name, edge in _edges(ratios):
        if x < edge:
            return name
    return _rest(ratios)


def split_column(key, ratios: dict[str, float], seed: str = ""):
    """The same assignment as a Spark column expression over the string column `key`."""
    from pyspark.sql import functions as F

    digest = F.sha2(F.concat(F.lit(f"{seed}\0"), key), 256)
    x = F.conv(F.substring(digest, 1, _BITS // 4), 16, 10).cast("double") / float(2**_BITS)
    column = None
    for name, edge in _edges(ratios):
        condition = x < F.lit(edge)
        column = F.when(condition, F.lit(name)) if column is None else column.when(condition, F.lit(name))
    return column.otherwise(F.lit(_rest(ratios)))


def with_splits(assignment, ratios: dict[str, float], seed: str):
    """The dedup assignment with each piece's `split`, drawn by its cluster."""
    from pyspark.sql import functions as F

    return assignment.withColumn("split", split_column(F.col("cluster_id"), ratios, seed))
