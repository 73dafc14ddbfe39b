"""Candidate pairs from band buckets, as the driver computes them (spark/lsh.py)."""

from __future__ import annotations

import numpy as np

from symcorpus.spark.lsh import candidate_pairs


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
