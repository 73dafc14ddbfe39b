"""Dedup comes before the quality filter (DESIGN.md's data flow): a copy of a rejected piece is its
duplicate, and a cluster keeps a member that passes the rules over a more complete one that fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from symcorpus.spark import lsh
from symcorpus.spark.build import build
from symcorpus.steps import run_local
from symcorpus.testing.variants import MUST_MATCH, scale_tempo

from tests.conftest import make_settings


@pytest.fixture(scope="module")
def tunes(midi_from_abc, tmp_path_factory) -> Path:
    """a/: a tune and the same tune with 5% of its notes dropped; b/: a fast tune and its byte copy;
    c/: a slow tune alone."""
    root = tmp_path_factory.mktemp("tunes")
    (_, a), (_, b), (_, c) = midi_from_abc[:3]
    files = {"a/original.mid": a, "a/dropped.mid": MUST_MATCH["notes_dropped_5pct"](a, np.random.default_rng(3)),
             "b/original.mid": scale_tempo(b, 8.0), "b/copy.mid": scale_tempo(b, 8.0),
             "c/alone.mid": scale_tempo(c, 0.25)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def settings(tunes):
    """absurd_density's limit between a/dropped's density and a/original's: the tune fails, its
    edited copy (fewer notes, so ranked after it) passes; b's files fail, c passes."""
    rows, _ = run_local([str(tunes)], make_settings())
    density = {row["path"]: row["features"]["note_density"] for row in rows}
    limit = (density["a/dropped.mid"] + density["a/original.mid"]) / 2
    assert density["a/dropped.mid"] < limit < density["a/original.mid"]
    assert density["b/original.mid"] > limit > density["c/alone.mid"]
    settings = make_settings()
    settings.filter.rules = {"absurd_density": {"max_notes_per_second": limit}}
    return settings


@pytest.mark.parametrize("dedup_in", ["driver", "spark"])
def test_dedup_sees_pieces_the_filter_rejected(spark, tunes, settings, tmp_path, monkeypatch, dedup_in):
    if dedup_in == "spark":  # too many band values for the driver: Spark's jobs decide
        monkeypatch.setattr(lsh, "DRIVER_MAX_BAND_VALUES", 0)
    result = build([str(tunes)], tmp_path / "v", settings)
    corpus = {r["path"]: r for r in pq.read_table(result.out / "corpus").to_pylist()}
    duplicates = {r["path"]: r for r in pq.read_table(result.out / "duplicates").to_pylist()}
    rejects = {r["path"]: r for r in pq.read_table(result.out / "rejects").to_pylist()}

    # a: the copy that passes represents the cluster; the more complete original that fails is its duplicate.
    assert duplicates["a/original.mid"]["representative_id"] == corpus["a/dropped.mid"]["id"]
    assert duplicates["a/original.mid"]["kind"] == "near"
    # b: both fail; one is rejected and the other is its exact duplicate, not a second reject.
    [(rejected, row)] = [(p, r) for p, r in rejects.items() if p.startswith("b/")]
    assert row["reason"] == "absurd_density"
    copy = duplicates[({"b/original.mid", "b/copy.mid"} - {rejected}).pop()]
    assert copy["kind"] == "exact" and copy["representative_id"] == row["id"]
    assert set(corpus) == {"a/dropped.mid", "c/alone.mid"}

    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["counts"] | {"by_split": None} == {"input": 5, "kept": 2, "duplicates": 2, "rejected": 1,
                                                       "errors": 0, "by_split": None}
    assert manifest["by_format"] == {"midi": {"kept": 2, "duplicate": 2, "rejected": 1}}
    # The filter's counters count every piece that failed a rule, before dedup.
    assert manifest["steps"]["filter"]["rejected"] == {"absurd_density": 3}
