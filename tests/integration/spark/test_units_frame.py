"""The units a build reads (spark/frames.py `units_frame`): one Spark partition per packed bin, in
bin order, each bin's units in their order, made in the JVM with no Python worker; and the
hash partitioning it relies on (spark/hash_partitions.py), against Spark's own."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from symcorpus.sources.base import Unit
from symcorpus.spark.frames import units_frame
from symcorpus.spark.hash_partitions import hash_partition, partition_keys

pytestmark = pytest.mark.integration


def _bins(n: int) -> list[list[Unit]]:
    # Bins of unequal sizes, as pack_partitions makes them; params null in some units.
    return [[Unit("src", "file", "/root", f"bin{b}/unit{i}.mid", 100 * b + i, None if i % 2 else '{"k": 1}')
             for i in range(b % 4 + 1)] for b in range(n)]


@pytest.mark.parametrize("n", [1, 3, 37])
def test_each_bin_is_one_partition_in_order(spark, n):
    bins = _bins(n)
    frame = units_frame(spark, bins)
    rows = frame.select(F.spark_partition_id().alias("p"), "*").collect()
    by_partition: dict[int, list[Unit]] = {}
    for row in rows:
        by_partition.setdefault(row["p"], []).append(
            Unit(row["source"], row["kind"], row["container"], row["member"], row["size"], row["params"]))
    assert [by_partition.get(b) for b in range(n)] == bins
    assert frame.columns == ["source", "kind", "container", "member", "size", "params"]


def test_no_python_worker_makes_the_units(spark):
    lineage = units_frame(spark, _bins(5))._jdf.queryExecution().toRdd().toDebugString()
    assert "PythonRDD" not in lineage, lineage  # an RDD transformed by a Python function


def test_partition_keys_land_where_spark_hashes_them(spark):
    keys = partition_keys(11)
    placed = spark.createDataFrame([(k,) for k in keys], "key long").repartition(11, "key")
    assert sorted(placed.select(F.spark_partition_id().alias("p"), "key").collect()) == \
        sorted((p, k) for p, k in enumerate(keys))


def test_the_hash_partition_is_sparks(spark):
    keys = list(range(-300, 300)) + [2**31 - 1, 2**31, -(2**31) - 1, 2**32 + 7, 2**62 + 12345, -(2**63), 2**63 - 1]
    for n in (1, 2, 7, 64, 1000):
        rows = spark.createDataFrame([(k,) for k in keys], "key long").select(
            "key", F.pmod(F.hash("key"), F.lit(n)).alias("p")).collect()
        assert [(r["key"], r["p"]) for r in rows] == [(k, hash_partition(k, n)) for k in keys]


def test_the_lineage_check_sees_a_python_worker(spark):
    # What the check above looks for: the lineage of units flattened by a Python function.
    rdd = spark.sparkContext.parallelize([[("a", 1)], [("b", 2)]], 2).flatMap(lambda b: b)
    lineage = spark.createDataFrame(rdd, "name string, n long")._jdf.queryExecution().toRdd().toDebugString()
    assert "PythonRDD" in lineage
