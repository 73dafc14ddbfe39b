"""Deduplication in the driver, for corpora whose light rows fit in its memory: the clusters,
representatives, kinds and similarities that dedup.py's Spark jobs find, from one collected table.

The Spark way is some eight jobs (group heads, LSH, components, ranking, similarities), whose
start-up and planning cost 7-8 s on this project's 2-core machine whatever the corpus size (7.2 s for
367 pieces). Here the light rows come to the driver as Arrow in one job, the candidates' signatures
in another, and the assignment goes back as a local frame. The rules are dedup.py's, and the helpers
the same: exact and same-notes duplicates group by key with the smallest node as head, the heads of
groups that pass go through LSH (lsh.candidate_pairs, then the signatures' check) and connected
components (components.smallest_node_labels), the other heads join their most similar cluster as
leaves, and each cluster's representative is its first piece by REPRESENTATIVE_ORDER: one that
passes the quality filter, then (n_tracks, n_notes, has_metadata, duration_quarters) descending,
then (id, source, path) ascending.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from symcorpus.config import DedupSettings
from symcorpus.music.fingerprint import packed_similarities
from symcorpus.spark import lsh
from symcorpus.spark.components import smallest_node_labels

EXACT, NOTES, NEAR = "exact", "notes", "near"

# Spark's ORDER BY of dedup._members: descending keys put nulls last, as pyarrow's default does.
REPRESENTATIVE_ORDER = [("passes", "descending"), ("n_tracks", "descending"), ("n_notes", "descending"),
                        ("has_metadata", "descending"), ("duration_quarters", "descending"), ("id", "ascending"),
                        ("source", "ascending"), ("path", "ascending")]
ASSIGNMENT = pa.schema([("node", pa.int64()), ("id", pa.string()), ("source", pa.string()), ("path", pa.string()),
                        ("format", pa.string()), ("size_bytes", pa.int64()), ("cluster_id", pa.string()),
                        ("representative_id", pa.string()), ("is_representative", pa.bool_()),
                        ("kind", pa.string()), ("similarity", pa.float64()), ("passes", pa.bool_())])


def assign(light: pa.Table, fetch: Callable[[np.ndarray], dict[int, bytes]],
           settings: DedupSettings) -> tuple[pa.Table, dict] | None:
    """(assignment rows (ASSIGNMENT), stats) for the light rows (dedup.LIGHT_COLUMNS); `fetch(nodes)`
    gives nodes' packed signatures. None where Spark's way must decide: no rows, a null group key
    (Spark's join drops it), a NaN duration (Spark sorts NaN above every number), or band lists of
    another length."""
    group_key = "notes_hash" if NOTES in settings.levels else "id"
    n = light.num_rows
    if n == 0 or light.column(group_key).null_count or pc.any(pc.is_nan(light.column("duration_quarters"))).as_py():
        return None
    node = light.column("node").to_numpy().astype(np.int64)
    group = pc.dictionary_encode(light.column(group_key)).combine_chunks().indices.to_numpy().astype(np.int64)
    head = np.full(int(group.max()) + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(head, group, node)  # a group's head: its smallest node
    stats: dict = {}
    label_of_group = head
    if NEAR in settings.levels:
        label_of_group = _near_labels(light, node, group, head, fetch, settings, stats)
        if label_of_group is None:
            return None
    label = label_of_group[group]

    ranking = light.select([k for k, _ in REPRESENTATIVE_ORDER]).append_column("label", pa.array(label))
    order = pc.sort_indices(ranking, sort_keys=[("label", "ascending"), *REPRESENTATIVE_ORDER]).to_numpy()
    ordered = label[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    representative = np.empty(n, dtype=np.int64)  # row index of each row's representative
    representative[order] = order[first][np.cumsum(first) - 1]
    is_rep = representative == np.arange(n)

    ids = light.column("id")
    rep_ids = ids.take(pa.array(representative))
    same_id = pc.equal(ids, rep_ids).to_numpy(zero_copy_only=False)
    notes = light.column("notes_hash")
    same_notes = pc.fill_null(pc.equal(notes, notes.take(pa.array(representative))), False).to_numpy(zero_copy_only=False)
    kind = np.where(is_rep, None, np.where(same_id, EXACT, np.where(same_notes, NOTES, NEAR)))

    similarity = np.where(is_rep, np.nan, 1.0)
    near = np.flatnonzero(kind == NEAR)
    if len(near):
        members, reps = node[near], node[representative[near]]
        packed = fetch(np.unique(np.concatenate([members, reps])))
        similarity[near] = packed_similarities([packed[x] for x in members.tolist()],
                                               [packed[x] for x in reps.tolist()])
    assignment = pa.table({
        "node": pa.array(node), "id": ids, "source": light.column("source"), "path": light.column("path"),
        "format": light.column("format"), "size_bytes": light.column("size_bytes"), "cluster_id": rep_ids,
        "representative_id": rep_ids, "is_representative": pa.array(is_rep),
        "kind": pa.array(kind.tolist(), pa.string()),
        "similarity": pa.array(similarity, pa.float64(), mask=is_rep), "passes": light.column("passes"),
    }, schema=ASSIGNMENT)
    return assignment, stats


def _near_labels(light: pa.Table, node: np.ndarray, group: np.ndarray, head: np.ndarray,
                 fetch: Callable[[np.ndarray], dict[int, bytes]], settings: DedupSettings,
                 stats: dict) -> np.ndarray | None:
    """Each group's cluster label, as dedup._clusters finds it: the heads of groups with a member that
    passes go through LSH and connected components (a label is the smallest head of its component);
    the head of a group where every member fails joins the cluster of the passing head it is most
    similar to (lsh.leaf_candidates, lsh.best_partners), if any. None for band lists of another
    length. Fills the near level's counts in `stats`."""
    passes = np.zeros(len(head), dtype=bool)
    np.logical_or.at(passes, group, light.column("passes").to_numpy(zero_copy_only=False).astype(bool))
    is_head = node == head[group]
    heads = light.select(["node", "lsh_bands"])
    matrix = lsh.band_matrix(heads.filter(pa.array(is_head & passes[group])), settings.bands)
    leaves = lsh.band_matrix(heads.filter(pa.array(is_head & ~passes[group])), settings.bands)
    if matrix is None or leaves is None:
        return None
    a, b = lsh.candidate_pairs(*matrix, settings.max_bucket_size)
    leaf, partner = lsh.leaf_candidates(*leaves, *matrix, settings.max_bucket_size)
    wanted = np.unique(np.concatenate([a, b, leaf, partner]))
    packed = fetch(wanted) if len(wanted) else {}  # one job for both kinds of pairs
    keep = lsh.similarities(a, b, packed) >= settings.threshold
    a, b = a[keep], b[keep]
    stats["near_candidate_pairs"], stats["near_verified_pairs"] = len(keep), len(a)
    label = head
    if len(a):
        nodes, labels = smallest_node_labels(a, b)  # nodes sorted
        at = np.minimum(np.searchsorted(nodes, head), len(nodes) - 1)
        label = np.where(nodes[at] == head, labels[at], head)
    leaf, partner = lsh.best_partners(leaf, partner, lsh.similarities(leaf, partner, packed), settings.threshold)
    stats["near_attached_rejects"] = len(leaf)
    if len(leaf):
        by_head = np.argsort(head)  # head node -> its group
        group_of = by_head[np.searchsorted(head[by_head], np.concatenate([leaf, partner]))]
        label = label.copy()
        label[group_of[:len(leaf)]] = label[group_of[len(leaf):]]
    return label
