"""Connected components of an edge list: in the driver when the edges fit, else in Spark by min-label
propagation with checkpoints.

The label of a node is the smallest node of its component, whichever way it is computed, so the two
give the same clusters. Near-duplicate edges are few (a verified pair per near duplicate, ~3% of a
Lakh-size corpus), and moving them to the driver is one job where propagation takes two or three
small jobs per round: seconds of fixed cost on every build. Propagation stays for edge lists past
`DRIVER_MAX_EDGES`, where the driver's memory would be the limit.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# 16 bytes per edge as two int64 columns, about as much again for scipy's graph: ~300 MB at most.
DRIVER_MAX_EDGES = 10_000_000


class ComponentsDidNotConverge(RuntimeError):
    pass


def connected_components(edges: DataFrame, max_iterations: int = 30, n_edges: int | None = None) -> DataFrame:
    """(node, label) for every node on an edge: label = smallest node in its component.

    `edges` has long columns `a` and `b`, undirected; `n_edges`, when the caller has counted them,
    picks the driver when they fit (DRIVER_MAX_EDGES).
    """
    if n_edges is not None and n_edges <= DRIVER_MAX_EDGES:
        return components_in_driver(edges)
    return components_by_propagation(edges, max_iterations)


def smallest_node_labels(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, label of each) for the undirected edges a[i] - b[i]: the smallest node of each
    node's component. Plain numpy and scipy's graph search."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as components

    nodes, index = np.unique(np.concatenate([a, b]), return_inverse=True)
    m = len(a)
    graph = coo_matrix((np.ones(m, dtype=np.int8), (index[:m], index[m:])), shape=(len(nodes), len(nodes)))
    _, component = components(graph, directed=False)
    # `nodes` is sorted: a component's first node in that order is its smallest.
    first = np.full(component.max() + 1 if len(component) else 0, len(nodes), dtype=np.int64)
    np.minimum.at(first, component, np.arange(len(nodes)))
    return nodes, nodes[first[component]]


def components_in_driver(edges: DataFrame) -> DataFrame:
    """connected_components with the edge list collected (as Arrow) to the driver."""
    table = edges.select(F.col("a").cast("long"), F.col("b").cast("long")).toArrow()
    a = table.column("a").to_numpy().astype(np.int64)
    b = table.column("b").to_numpy().astype(np.int64)
    return labels_frame(edges.sparkSession, *smallest_node_labels(a, b))


def labels_frame(spark, nodes: np.ndarray, labels: np.ndarray) -> DataFrame:
    """(node, label) as a Spark frame, from the driver's arrays."""
    import pyarrow as pa

    result = pa.table({"node": pa.array(nodes, pa.int64()), "label": pa.array(labels, pa.int64())})
    return spark.createDataFrame(result).localCheckpoint()


def components_by_propagation(edges: DataFrame, max_iterations: int = 30) -> DataFrame:
    """connected_components in Spark: each round every node takes the smallest label among itself and
    its neighbours, until no label changes. Rounds grow with a cluster's diameter, which stays small
    here because edges are stars around bucket minima. Nothing is collected to the driver but one
    count per round."""
    both = edges.select("a", "b").union(edges.select(F.col("b").alias("a"), F.col("a").alias("b")))
    both = both.distinct().localCheckpoint()
    labels = both.groupBy("a").agg(F.least(F.col("a"), F.min("b")).alias("label")).withColumnRenamed("a", "node")
    labels = labels.localCheckpoint()
    for _ in range(max_iterations):
        neighbour_labels = both.join(labels, both.b == labels.node).select(F.col("a").alias("node"), "label")
        updated = (
            labels.union(neighbour_labels)
            .groupBy("node")
            .agg(F.min("label").alias("label"))
            .localCheckpoint()
        )
        changed = updated.join(labels.withColumnRenamed("label", "old"), "node").where("label != old").count()
        labels = updated
        if changed == 0:
            return labels
    raise ComponentsDidNotConverge(f"labels still changing after {max_iterations} rounds")
