"""Dedup comes before the quality filter (DESIGN.md's data flow): a byte or same-notes copy of a
rejected piece is its duplicate, a group keeps a member that passes the rules over a more complete
one that fails, and a piece that only fails joins the near level as a leaf: the duplicate of the
kept piece it resembles most, never a bridge between two kept pieces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import symusic

from symcorpus.music.fingerprint import jaccard, shingles
from symcorpus.music.notes import canonical_notes
from symcorpus.spark import lsh
from symcorpus.spark.build import build
from symcorpus.steps import run_local
from symcorpus.testing.variants import MUST_MATCH, scale_tempo, split_tracks

from tests.conftest import make_settings

FILES = ["a/original.mid", "a/split_fast.mid", "b/original.mid", "b/copy.mid", "c/original.mid", "c/dropped.mid",
         "d/alone.mid", "e/first.mid", "e/second.mid", "e/medley.mid"]
FAILING = {"a/split_fast.mid", "b/original.mid", "b/copy.mid", "c/original.mid", "e/medley.mid"}  # 8x faster


def medley(first: bytes, second: bytes) -> bytes:
    """`first`, then `second`'s tracks after its end (at `first`'s resolution and tempo)."""
    score = symusic.Score.from_midi(first)
    later = symusic.Score.from_midi(second).resample(score.tpq, min_dur=1).shift_time(score.end())
    for track in later.tracks:
        score.tracks.append(track)
    return score.dumps_midi()


@pytest.fixture(scope="module")
def tunes(midi_from_abc, tmp_path_factory) -> Path:
    """a/: a tune, and the same notes split over two tracks and played fast; b/: a fast tune and its
    byte copy; c/: a fast tune and a slow copy with 5% of its notes dropped; d/: a slow tune alone;
    e/: two slow tunes, and both of them one after the other, fast."""
    root = tmp_path_factory.mktemp("tunes")
    (_, a), (_, b), (_, c), (_, d), (_, x), (_, y) = midi_from_abc[:6]
    dropped = MUST_MATCH["notes_dropped_5pct"](scale_tempo(c, 0.25), np.random.default_rng(3))
    files = {"a/original.mid": a, "a/split_fast.mid": scale_tempo(split_tracks(a), 8.0),
             "b/original.mid": scale_tempo(b, 8.0), "b/copy.mid": scale_tempo(b, 8.0),
             "c/original.mid": scale_tempo(c, 8.0), "c/dropped.mid": dropped, "d/alone.mid": scale_tempo(d, 0.25),
             "e/first.mid": scale_tempo(x, 0.25), "e/second.mid": scale_tempo(y, 0.25),
             "e/medley.mid": scale_tempo(medley(x, y), 8.0)}
    assert set(files) == set(FILES)
    for rel, data in files.items():
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def settings(tunes):
    """absurd_density's limit between the densities of the pieces in FAILING and the others'."""
    rows, _ = run_local([str(tunes)], make_settings())
    density = {row["path"]: row["features"]["note_density"] for row in rows}
    tracks = {row["path"]: row["n_tracks"] for row in rows}
    highest_passing = max(v for p, v in density.items() if p not in FAILING)
    lowest_failing = min(v for p, v in density.items() if p in FAILING)
    assert highest_passing < lowest_failing
    assert tracks["a/split_fast.mid"] > tracks["a/original.mid"]  # ranked first, were it not for the rules
    settings = make_settings()
    settings.filter.rules = {"absurd_density": {"max_notes_per_second": (highest_passing + lowest_failing) / 2}}
    return settings


@pytest.mark.parametrize("dedup_in", ["driver", "spark"])
def test_dedup_sees_pieces_the_filter_rejected(spark, tunes, settings, tmp_path, monkeypatch, dedup_in):
    if dedup_in == "spark":  # too many band values for the driver: Spark's jobs decide
        monkeypatch.setattr(lsh, "DRIVER_MAX_BAND_VALUES", 0)
    result = build([str(tunes)], tmp_path / "v", settings)
    corpus = {r["path"]: r for r in pq.read_table(result.out / "corpus").to_pylist()}
    duplicates = {r["path"]: r for r in pq.read_table(result.out / "duplicates").to_pylist()}
    rejects = {r["path"]: r for r in pq.read_table(result.out / "rejects").to_pylist()}

    # a: the member that passes represents the group; the more complete one that fails is its duplicate.
    assert duplicates["a/split_fast.mid"]["representative_id"] == corpus["a/original.mid"]["id"]
    assert duplicates["a/split_fast.mid"]["kind"] == "notes"
    # b: both fail; one is rejected and the other is its exact duplicate, not a second reject.
    [(rejected, row)] = [(p, r) for p, r in rejects.items() if p.startswith("b/")]
    assert row["reason"] == "absurd_density"
    copy = duplicates[({"b/original.mid", "b/copy.mid"} - {rejected}).pop()]
    assert copy["kind"] == "exact" and copy["representative_id"] == row["id"]
    # c: the original fails, its near copy passes: the copy is kept and the original is its duplicate.
    notes = {p: shingles(canonical_notes(symusic.Score(str(tunes / p)))) for p in FILES}
    assert jaccard(notes["c/original.mid"], notes["c/dropped.mid"]) >= settings.dedup.threshold
    assert "c/dropped.mid" in corpus and "c/original.mid" not in rejects
    assert duplicates["c/original.mid"]["kind"] == "near"
    assert duplicates["c/original.mid"]["representative_id"] == corpus["c/dropped.mid"]["id"]
    # e: the failing medley resembles both kept tunes, which do not resemble each other. It is the
    # duplicate of one of them, and the two stay apart: a leaf, not a bridge.
    medley_to = {p: jaccard(notes["e/medley.mid"], notes[p]) for p in ("e/first.mid", "e/second.mid")}
    assert min(medley_to.values()) >= settings.dedup.threshold
    assert jaccard(notes["e/first.mid"], notes["e/second.mid"]) < settings.dedup.threshold
    assert duplicates["e/medley.mid"]["kind"] == "near"
    assert duplicates["e/medley.mid"]["representative_id"] in {corpus[p]["id"] for p in medley_to}
    assert set(corpus) == {"a/original.mid", "c/dropped.mid", "d/alone.mid", "e/first.mid", "e/second.mid"}

    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["counts"] | {"by_split": None} == {"input": 10, "kept": 5, "duplicates": 4, "rejected": 1,
                                                       "errors": 0, "by_split": None}
    assert manifest["by_format"] == {"midi": {"kept": 5, "duplicate": 4, "rejected": 1}}
    assert manifest["dedup"]["near_attached_rejects"] == 2
    # The filter's counters count every piece that failed a rule, before dedup.
    assert manifest["steps"]["filter"]["rejected"] == {"absurd_density": 5}
