"""The near level's LSH in the driver: band buckets, candidate pairs and their check, in numpy.

Spark's way (dedup.near_edges) explodes every head's bands into rows (80 per piece), shuffles them
into buckets and joins signatures to pairs: a handful of jobs whose planning and shuffles cost tens
of seconds even for a corpus whose band hashes fit in a few hundred MB. When they fit
(`DRIVER_MAX_BAND_VALUES`), the driver collects them as Arrow and does the same work here, with the
same pairs and the same similarities; only the signatures of candidate nodes are fetched.

`candidate_pairs` is the rule both ways follow: in a bucket of at most `max_bucket_size` nodes, every
pair (a < b); in a bigger one (a motif shared by thousands of pieces), each node to the bucket's
smallest node (a > b), which bounds the work. `leaf_candidates` pairs the heads of rejected groups
(leaves) with the heads they share a bucket with, by the same bound, and `best_partners` keeps each
leaf's most similar partner over the threshold (dedup._clusters attaches it to that partner's cluster).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from symcorpus.arrays import list_parts
from symcorpus.config import DedupSettings
from symcorpus.music.fingerprint import packed_similarities

# heads x bands, as int64 in the driver (with their sort keys, ~3x that): 20M values is 100K pieces
# at 200 bands, 250K at 80.
DRIVER_MAX_BAND_VALUES = 20_000_000
_CHUNK = 50_000  # candidate pairs compared at once: 2 x 50K x 240 x 4 bytes of signatures


def _buckets(nodes: np.ndarray, column: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bucket of each member, members, start and size of each bucket): `nodes` grouped by their hash
    in one band (`column`), buckets in hash order, each bucket's members by node, the smallest first."""
    order = np.lexsort((nodes, column))
    bucket, members = column[order], nodes[order]
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    return bucket, members, starts, np.diff(np.append(starts, len(bucket)))


def _distinct(pairs_a: list[np.ndarray], pairs_b: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.unique(np.stack([np.concatenate(pairs_a), np.concatenate(pairs_b)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def candidate_pairs(nodes: np.ndarray, bands: np.ndarray, max_bucket_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct candidate pairs (a, b) of nodes (n,) whose band hashes (n, bands) share a bucket."""
    groups_members: dict[int, list[np.ndarray]] = {}  # bucket size -> (buckets, size) member arrays
    stars_a, stars_b = [], []
    for band in range(bands.shape[1]):
        _, members, starts, sizes = _buckets(nodes, bands[:, band])
        for size in np.unique(sizes[sizes > 1]).tolist():
            first = starts[sizes == size]
            if size <= max_bucket_size:
                groups_members.setdefault(size, []).append(members[first[:, None] + np.arange(size)])
            else:
                rest = (first[:, None] + np.arange(1, size)).ravel()
                stars_a.append(members[rest])
                stars_b.append(np.repeat(members[first], size - 1))
    pairs_a, pairs_b = stars_a, stars_b
    for size, chunks in groups_members.items():
        members = np.concatenate(chunks)
        i, j = np.triu_indices(size, 1)
        pairs_a.append(members[:, i].ravel())
        pairs_b.append(members[:, j].ravel())
    if not pairs_a:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return _distinct(pairs_a, pairs_b)


def leaf_candidates(leaves: np.ndarray, leaf_bands: np.ndarray, nodes: np.ndarray, bands: np.ndarray,
                    max_bucket_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pairs (leaf, node) whose band hashes are equal in some band: every node of such a
    bucket, or only its smallest when the bucket holds more than `max_bucket_size` nodes."""
    pairs_a, pairs_b = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for band in range(bands.shape[1] if len(nodes) and len(leaves) else 0):
        # Only the nodes in a leaf's bucket: leaves are few, and sorting every node costs ~25 ms a
        # band at 100K nodes.
        near = np.flatnonzero(np.isin(bands[:, band], leaf_bands[:, band]))
        if len(near) == 0:
            continue
        bucket, members, starts, sizes = _buckets(nodes[near], bands[near, band])
        at = np.minimum(np.searchsorted(bucket[starts], leaf_bands[:, band]), len(starts) - 1)
        hit = np.flatnonzero(bucket[starts[at]] == leaf_bands[:, band])  # leaves whose bucket has nodes
        take = np.where(sizes[at[hit]] > max_bucket_size, 1, sizes[at[hit]])
        first = np.repeat(starts[at[hit]], take)
        offset = np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take)  # 0, 1, ... within a bucket
        pairs_a.append(leaves[np.repeat(hit, take)])
        pairs_b.append(members[first + offset])
    return _distinct(pairs_a, pairs_b)


def similarities(a: np.ndarray, b: np.ndarray, packed: dict[int, bytes]) -> np.ndarray:
    """The estimated similarity of each pair (a[i], b[i]), from `packed` (node -> signature)."""
    out = np.empty(len(a), dtype=np.float64)
    for start in range(0, len(a), _CHUNK):
        chunk = slice(start, start + _CHUNK)
        out[chunk] = packed_similarities([packed[x] for x in a[chunk].tolist()],
                                         [packed[x] for x in b[chunk].tolist()])
    return out


def best_partners(a: np.ndarray, b: np.ndarray, similarity: np.ndarray,
                  threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) for each `a`'s most similar `b` among the pairs that reach the threshold (ties: the
    smallest b)."""
    keep = similarity >= threshold
    a, b, similarity = a[keep], b[keep], similarity[keep]
    order = np.lexsort((b, -similarity, a))
    first = np.concatenate(([True], a[order][1:] != a[order][:-1])) if len(a) else np.empty(0, bool)
    return a[order][first], b[order][first]


def band_matrix(table: pa.Table, n_bands: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(nodes, bands (n, n_bands)) of the rows with band hashes; None when some row has another
    number of bands (then Spark's way, which takes any)."""
    table = table.filter(pc.is_valid(table.column("lsh_bands")))
    offsets, values = list_parts(table.column("lsh_bands"))
    if np.any(np.diff(offsets) != n_bands):
        return None
    nodes = table.column("node").to_numpy().astype(np.int64)
    return nodes, values.astype(np.int64).reshape(len(nodes), n_bands)


def signatures_of(nodes: DataFrame, signatures: DataFrame) -> DataFrame:
    """The signatures of a (small) set of nodes: the node list is broadcast, so the wide signature
    table is filtered where it lies instead of being shuffled."""
    return signatures.join(F.broadcast(nodes.select("node").distinct()), "node", "left_semi")


def fetch_signatures(spark, signatures: DataFrame, nodes: np.ndarray) -> dict[int, bytes]:
    """node -> packed signature for `nodes`, fetched from `signatures` (node, minhash) in one job."""
    wanted = spark.createDataFrame(pa.table({"node": pa.array(nodes, pa.int64())}))
    fetched = signatures_of(wanted, signatures).toArrow()
    return dict(zip(fetched.column("node").to_pylist(), fetched.column("minhash").to_pylist()))


def verified_pairs(nodes: np.ndarray, bands: np.ndarray, fetch: Callable[[np.ndarray], dict[int, bytes]],
                   settings: DedupSettings) -> tuple[np.ndarray, np.ndarray, int]:
    """(a, b, candidate pairs): the candidate pairs of these nodes' band hashes whose estimated
    similarity reaches the threshold; `fetch(nodes)` gives the candidates' signatures."""
    a, b = candidate_pairs(nodes, bands, settings.max_bucket_size)
    if len(a) == 0:
        return a, b, 0
    keep = similarities(a, b, fetch(np.unique(np.concatenate([a, b])))) >= settings.threshold
    return a[keep], b[keep], len(a)


def near_edges_in_driver(heads, signatures, settings: DedupSettings) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(a, b, candidate pairs) of the verified near edges among `heads` (node, lsh_bands), as
    dedup.near_edges finds them; None when the bands do not fit `band_matrix`."""
    matrix = band_matrix(heads.select("node", "lsh_bands").toArrow(), settings.bands)
    if matrix is None:
        return None
    return verified_pairs(*matrix, functools.partial(fetch_signatures, heads.sparkSession, signatures), settings)
