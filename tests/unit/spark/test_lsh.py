"""Candidate pairs from band buckets, and the leaves' partners, as the driver computes them (spark/lsh.py)."""

from __future__ import annotations

import numpy as np

from symcorpus.spark.lsh import best_partners, candidate_pairs, leaf_candidates


def test_small_buckets_give_every_pair_and_big_ones_a_star():
    nodes = np.array([50, -7, 12, 30, 99, 4], dtype=np.int64)
    bands = np.array([[1, 5], [1, 5], [1, 5], [2, 5], [3, 8], [4, 8]], dtype=np.int64)
    # Band 0: bucket 1 holds 50, -7, 12 (3 <= max: every pair, smaller node first). Band 1: bucket 5
    # holds 50, -7, 12, 30 (4 > max: a star to its smallest, as (member, smallest)); bucket 8 holds
    # 99 and 4.
    a, b = candidate_pairs(nodes, bands, max_bucket_size=3)
    pairs = set(zip(a.tolist(), b.tolist()))
    expected = {(-7, 12), (-7, 50), (12, 50)} | {(50, -7), (12, -7), (30, -7)} | {(4, 99)}
    assert pairs == expected
    assert len(a) == len(pairs)  # distinct


def test_no_shared_bucket_no_pair():
    nodes = np.arange(4, dtype=np.int64)
    a, b = candidate_pairs(nodes, np.arange(8, dtype=np.int64).reshape(4, 2), max_bucket_size=64)
    assert len(a) == len(b) == 0


def test_leaves_pair_with_the_nodes_of_their_buckets_and_a_big_bucket_gives_its_smallest():
    nodes = np.array([50, -7, 12, 30, 99], dtype=np.int64)
    bands = np.array([[1, 5], [1, 5], [2, 5], [2, 5], [3, 8]], dtype=np.int64)
    leaves = np.array([1000, 2000, 3000], dtype=np.int64)
    leaf_bands = np.array([[1, 6], [2, 5], [9, 9]], dtype=np.int64)
    # 1000: bucket 1 of band 0 (50, -7). 2000: bucket 2 of band 0 (12, 30) and bucket 5 of band 1,
    # whose 4 nodes are more than 3: only its smallest, -7. 3000 shares no bucket. Leaves never pair
    # with each other, though 1000 and 2000 could share a bucket.
    a, b = leaf_candidates(leaves, leaf_bands, nodes, bands, max_bucket_size=3)
    assert set(zip(a.tolist(), b.tolist())) == {(1000, 50), (1000, -7), (2000, 12), (2000, 30), (2000, -7)}
    assert len(a) == 5  # distinct
    none = leaf_candidates(leaves, leaf_bands, nodes[:0], bands[:0], max_bucket_size=3)
    assert len(none[0]) == len(none[1]) == 0


def test_each_leaf_keeps_its_most_similar_partner_over_the_threshold():
    a = np.array([7, 7, 7, 8, 9, 9], dtype=np.int64)
    b = np.array([3, 1, 2, 4, 5, 6], dtype=np.int64)
    similarity = np.array([0.5, 0.6, 0.6, 0.2, 0.9, 0.4])
    leaf, partner = best_partners(a, b, similarity, threshold=0.33)
    # 7: 1 and 2 tie at 0.6, the smaller wins; 8 is under the threshold; 9: 5.
    assert leaf.tolist() == [7, 9] and partner.tolist() == [1, 5]
