"""A local session's Python workers are forked by symcorpus' daemon (spark/daemon.py): from a process
of one thread, with the preloaded modules (the loops over notes already compiled), without
pyspark's archives on their path, and with the Arrow allocator the session chose (spark/session.py)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from symcorpus.spark.daemon import PRELOAD
from symcorpus.spark.session import ARROW_POOL_VARIABLE, use_arrow_pool

pytestmark = pytest.mark.integration


def _worker_state(batches):
    import os
    import sys

    for _ in batches:
        pass
    state = {
        "main": sys.argv[0],
        "archives_on_path": [p for p in sys.path if "pyspark" in p and p.endswith((".zip", ".jar"))],
        "archive_importers": [k for k, v in sys.path_importer_cache.items() if v is not None and "zip" in type(v).__name__],
        "missing": [name for name in PRELOAD if name not in sys.modules],
        # Compiled versions the worker inherited (before it ran any step): the daemon's warm-up.
        "compiled_loops": len(sys.modules["symcorpus.music.loops"].melodic_tokens.signatures)
        if "symcorpus.music.loops" in sys.modules else 0,
        # The daemon is the worker's parent; PySpark forks its workers from one thread only.
        "arrow_pool": pa.default_memory_pool().backend_name,
        "daemon_threads": [line.split()[1] for line in open(f"/proc/{os.getppid()}/status")
                           if line.startswith("Threads:")],
    }
    yield pa.RecordBatch.from_pylist([{"state": json.dumps(state)}])


def test_workers_come_from_the_preloading_daemon(spark):
    rows = spark.range(4).repartition(2).mapInArrow(_worker_state, "state string").collect()
    assert rows
    for row in rows:
        state = json.loads(row["state"])
        assert state["main"].endswith("symcorpus/spark/daemon.py"), state
        assert state["archives_on_path"] == [] and state["archive_importers"] == [], state
        assert state["missing"] == [] and state["daemon_threads"] == ["1"], state
        assert state["compiled_loops"] == 1, state  # one version: callers pass one set of types
        assert state["arrow_pool"] == "jemalloc", state  # pyarrow's Linux wheels have it


def test_the_driver_allocates_with_jemalloc_unless_the_user_chose(spark, monkeypatch):
    assert pa.default_memory_pool().backend_name == "jemalloc"
    monkeypatch.setenv(ARROW_POOL_VARIABLE, "system")
    assert use_arrow_pool() == "system"  # left as the user set it
