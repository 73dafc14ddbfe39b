"""Labels from what a source states (`source_labels`), through the build steps in one process on
corpus replicas: a stated catalog composer wins and brings its period, pieces without source labels
keep what the file gives, a stated word outside our vocabulary replaces nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symcorpus.config import Settings
from symcorpus.music.annotate import annotate_piece
from symcorpus.music.captions import read_caption
from symcorpus.music.labels import INFERRED, SOURCE
from symcorpus.music.labels.piece import SOURCED
from symcorpus.music.parse import Limits, parse_piece
from symcorpus.sources import resolve_source
from symcorpus.steps import run_local_sources
from symcorpus.testing import replicas as r


def built(spec: str) -> dict[str, dict]:
    """path -> row of every record of one source, through read, parse, fingerprint, annotate, filter."""
    run = run_local_sources([resolve_source(spec)], Settings())
    return {row["path"]: row for row in run.rows if row["status"] == "ok"}


@pytest.fixture(scope="module")
def aria(tmp_path_factory):
    replica = r.make_aria_midi(tmp_path_factory.mktemp("aria"), composers={1: "Frederic Chopin", 3: "Mozart"})
    return replica, built(f"aria-midi:{replica.root}")


def recording(rows: dict[str, dict], file_id: int) -> list[dict]:
    found = [row for path, row in rows.items() if Path(path).name.startswith(f"{file_id:06d}_")]
    assert found, file_id
    return found


def test_a_stated_catalog_composer_wins_with_the_catalogs_period(aria):
    _, rows = aria
    expected = ((1, "Frédéric Chopin", "Romantic"), (3, "Wolfgang Amadeus Mozart", "Classical"))
    for file_id, composer, period in expected:
        for row in recording(rows, file_id):
            labels = row["labels"]
            assert (labels["composer"], labels["composer_from"]) == (composer, SOURCE)
            # Aria-MIDI's metadata says music_period "classical": the composer's period wins.
            assert (labels["period"], labels["period_from"]) == (period, SOURCE)
            assert row["source_labels"]["composer"] != composer  # the source's own spelling stays
            # The caption names the composer whatever the label's origin, and states only its tags.
            tags = json.loads(row["tags"])
            assert tags["composer"] == composer and read_caption(row["caption"]) == tags


def test_a_stated_composer_the_catalog_lacks_is_kept_only_as_stated(aria):
    _, rows = aria
    for row in recording(rows, 2):
        assert row["source_labels"]["composer"] == "James Aird"  # a collector, not in the catalog
        labels = row["labels"]
        assert labels["composer"] is None and labels["composer_from"] is None
        assert (labels["period"], labels["period_from"]) == ("Classical", SOURCE)  # the stated period


def test_pieces_without_source_labels_keep_the_inferred_labels(aria):
    _, rows = aria
    for file_id in (4, 5):  # no metadata entry; an empty metadata object
        for row in recording(rows, file_id):
            assert row.get("source_labels") is None
            alone = annotate_piece(parse_piece(row["content"], "midi", Limits()), row["id"], row["source"], row["path"])
            assert row["labels"] == alone["labels"]
            # The replica's MIDI (rendered ABC) sets no program: its instruments are unknown, so no
            # instrumentation is inferred (abc2midi's piano default is no fact of the music).
            assert row["instruments"] is None and row["labels"]["instrumentation"] is None
            for name in SOURCED:
                assert row["labels"][f"{name}_from"] == (INFERRED if row["labels"][name] is not None else None)


def test_a_stated_genre_outside_our_vocabulary_replaces_nothing(tmp_path):
    replica = r.make_pdmx(tmp_path)
    rows = built(f"pdmx:{replica.root}")
    stated = {path: row["source_labels"] for path, row in rows.items() if row.get("source_labels")}
    [kyrie] = [rows[path] for path, labels in stated.items() if labels["composer"] == "Anonymous"]
    assert kyrie["source_labels"]["genre"] == "classical"  # PDMX's genre, a style: no genre of ours
    assert (kyrie["labels"]["genre"], kyrie["labels"]["genre_from"]) == ("mass", INFERRED)  # from the title
    assert kyrie["labels"]["composer"] is None  # "Anonymous" names nobody
    bach = [rows[path] for path, labels in stated.items() if labels["composer"] == "Johann Sebastian Bach"]
    assert bach and all((row["labels"]["composer"], row["labels"]["composer_from"], row["labels"]["period"])
                        == ("Johann Sebastian Bach", SOURCE, "Baroque") for row in bach)
