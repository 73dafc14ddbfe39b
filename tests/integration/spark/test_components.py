"""Connected components of near-duplicate edges: the driver's and Spark's ways agree with a plain
graph search, labels being each component's smallest node."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from symcorpus.spark.components import components_by_propagation, components_in_driver, connected_components


def reference_labels(edges: list[tuple[int, int]]) -> dict[int, int]:
    """node -> smallest node of its component, by depth-first search."""
    neighbours: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    labels: dict[int, int] = {}
    for start in sorted(neighbours):
        if start in labels:
            continue
        stack, seen = [start], {start}
        while stack:
            for other in neighbours[stack.pop()] - seen:
                seen.add(other)
                stack.append(other)
        for node in seen:
            labels[node] = min(seen)
    return labels


def random_edges(seed: int) -> list[tuple[int, int]]:
    """Stars and chains over sparse, large node ids (node ids are xxhash64 values)."""
    rng = np.random.default_rng(seed)
    ids = (np.sort(rng.choice(2**40, size=400, replace=False)) - 2**39).tolist()  # signed, as xxhash64 gives
    rng.shuffle(ids)
    edges = []
    for k in range(0, 360, 12):  # 30 groups of 12: half stars, half chains (diameter 11)
        group = ids[k : k + 12]
        pairs = zip(group, group[1:]) if (k // 12) % 2 else ((group[0], other) for other in group[1:])
        edges += [(a, b) if rng.random() < 0.5 else (b, a) for a, b in pairs]
    edges += [(ids[370], ids[371]), (ids[371], ids[370]), (ids[372], ids[372])]  # both ways; a self-loop
    return edges


def as_dict(frame) -> dict[int, int]:
    return {r["node"]: r["label"] for r in frame.collect()}


def test_driver_and_propagation_agree_with_a_graph_search(spark):
    edges = random_edges(3)
    frame = spark.createDataFrame(edges, "a long, b long")
    expected = reference_labels(edges)
    assert len(set(expected.values())) == 32
    assert as_dict(components_in_driver(frame)) == expected
    assert as_dict(components_by_propagation(frame, max_iterations=30)) == expected
    # The caller's edge count picks the way: both give the same labels.
    assert as_dict(connected_components(frame, 30, n_edges=len(edges))) == expected


def test_no_edges_no_labels(spark):
    empty = spark.createDataFrame([], "a long, b long")
    assert components_in_driver(empty).count() == 0
