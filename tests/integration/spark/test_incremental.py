"""Incremental builds: a build given one more source parses only the new records."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from symcorpus.spark.build import build

from tests.conftest import M21, make_settings


def table_digests(out: Path) -> dict[str, list[str]]:
    """Sorted per-row digests of every published table."""
    digests = {}
    for table in ("corpus/train", "corpus/valid", "corpus/test", "duplicates", "rejects", "errors"):
        rows = pq.read_table(out / table).to_pylist()
        digests[table] = sorted(hashlib.sha256(json.dumps(r, sort_keys=True, default=repr).encode()).hexdigest()
                                for r in rows)
    return digests


@pytest.fixture(scope="module")
def sources(tmp_path_factory, midi_from_abc) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("incremental")
    a, b = root / "a", root / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(M21 / "josquin/laPlusDesPlus.abc", a)
    shutil.copy(M21 / "nottingham-dataset/reelsa-c.abc", a)
    for name, data in midi_from_abc[:4]:
        (a / name).write_bytes(data)
    (a / "broken.mid").write_bytes(midi_from_abc[4][1][:40])  # a parse error is cached too
    shutil.copy(M21 / "josquin/milleRegrets.abc", b)
    shutil.copy(M21 / "bach/bwv1.6.mxl", b)
    for name, data in midi_from_abc[5:8]:
        (b / name).write_bytes(data)
    return a, b


def test_second_build_parses_only_the_new_source(spark, sources, tmp_path):
    a, b = sources
    settings = make_settings()
    cache = tmp_path / "cache"
    first = build([str(a)], tmp_path / "v1", settings, cache_root=cache)
    assert first.manifest["incremental"]["reused"] == 0
    records_a = first.counts["input"]

    second = build([str(a), str(b)], tmp_path / "v2", settings, cache_root=cache)
    inc = second.manifest["incremental"]
    assert inc["reused"] == records_a
    assert inc["parsed"] == second.counts["input"] - records_a > 0
    assert second.counts["input"] == second.counts["kept"] + second.counts["duplicates"] + \
        second.counts["rejected"] + second.counts["errors"]

    # Reuse is faithful: the same build without a cache publishes the same rows.
    fresh = build([str(a), str(b)], tmp_path / "v2_fresh", settings)
    assert "cache" not in fresh.manifest.get("incremental", {}) or fresh.manifest["incremental"]["cache"] is None
    assert table_digests(second.out) == table_digests(fresh.out)

    # Other parse params never reuse stale results.
    settings.ingest.max_notes = 10_000
    third = build([str(a)], tmp_path / "v3", settings, cache_root=cache)
    assert third.manifest["incremental"]["reused"] == 0
