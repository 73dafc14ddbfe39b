"""The per-record steps in one process (no Spark): real files of every format and bad ones, each
record ending in exactly one state, and every step's counters adding up."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from symcorpus import schema
from symcorpus.config import Settings
from symcorpus.music.abc_text import split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.steps import Fingerprint, LoadScore, Piece, Step, chain, run_local, run_records
from symcorpus.steps.batches import to_batch
from symcorpus.steps.counts import local_outcomes, step_counts

from tests.conftest import M21

SHORT_TUNE = b"X:1\nT:Too short\nM:4/4\nL:1/4\nK:C\nCDEF|\n"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("steps")
    shutil.copy(M21 / "nottingham-dataset/reelsa-c.abc", root / "reels.abc")
    shutil.copy(M21 / "bach/bwv10.7.mxl", root / "chorale.mxl")
    for tune in split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[:5]:
        (root / f"tune{tune.index}.mid").write_bytes(to_midi(tune.content, "abc"))
    (root / "short.abc").write_bytes(SHORT_TUNE)
    (root / "truncated.mid").write_bytes((root / "tune1.mid").read_bytes()[:40])
    (root / "empty.mid").write_bytes(b"")
    (root / "notes.txt").write_text("not music\n")
    return root


@pytest.fixture(scope="module")
def ran(source):
    return run_local([str(source)], Settings())


def test_every_record_ends_in_one_state(ran, source):
    rows, _ = ran
    by_path = {r["path"]: r for r in rows}
    assert by_path["notes.txt"]["status"] == schema.STATUS_SKIPPED
    assert by_path["empty.mid"]["status"] == schema.STATUS_ERROR and by_path["empty.mid"]["error"].startswith("empty:")
    truncated = by_path["truncated.mid"]
    assert (truncated["status"], truncated["stage"]) == (schema.STATUS_ERROR, "parse")
    assert truncated["error"].startswith("bad_midi:")
    short = by_path["short.abc#1"]
    assert (short["status"], short["stage"], short["reason"]) == (schema.STATUS_REJECTED, "filter", "too_few_notes")
    kept = [r for r in rows if r["status"] == schema.STATUS_OK]
    assert {r["format"] for r in kept} == {"abc", "midi", "musicxml"}
    n_reels = len(split_tunes((source / "reels.abc").read_bytes()))
    assert len(rows) == n_reels + 1 + 5 + 1 + 2 + 1  # tunes, chorale, MIDI, short tune, two bad, the text file
    for row in kept:  # what later stages read is there
        assert row["quality_score"] is not None and row["caption"] and row["notes_hash"]
        assert row["minhash"] is not None and len(row["lsh_bands"]) == Settings().dedup.bands


def test_counters_follow_the_pieces_through_the_steps(ran):
    rows, counts = ran
    assert list(counts) == ["ingest", "parse", "fingerprint", "annotate", "filter"]
    statuses = Counter(r["status"] for r in rows)
    assert counts["ingest"]["in"] == len(rows)
    assert counts["ingest"]["skipped"] == statuses[schema.STATUS_SKIPPED] == 1
    assert counts["parse"]["errors"] == {"bad_midi": 1, "empty": 1}
    assert counts["filter"]["rejected"] == {"too_few_notes": 1}
    for before, after in zip(list(counts)[:-1], list(counts)[1:]):
        assert counts[before]["out"] == counts[after]["in"]
    assert counts["filter"]["out"] == statuses[schema.STATUS_OK]
    stopped = sum(sum(c["errors"].values()) + sum(c["rejected"].values()) + c.get("skipped", 0) for c in counts.values())
    assert counts["ingest"]["in"] == counts["filter"]["out"] + stopped


def test_same_records_give_the_same_rows(ran, source):
    again, counts = run_local([str(source)], Settings())
    assert to_batch(again, schema.PIECES).equals(to_batch(ran[0], schema.PIECES)) and counts == ran[1]


class Explodes(Step):
    """A step with a bug on one piece: the piece becomes an error row of this step, the rest go on."""

    name = "explodes"

    def process(self, piece: Piece) -> None:
        if piece.row["path"] == "tune2.mid":
            raise ZeroDivisionError("oops")
        piece.row["visited"] = True


def test_an_unexpected_exception_is_an_internal_error_row_of_its_step(ran):
    rows = [dict(r) for r in ran[0]]
    out = [p.row for p in chain((Piece(r) for r in rows), [Explodes()])]
    failed = [r for r in out if r.get("stage") == "explodes"]
    assert len(failed) == 1 and failed[0]["error"] == "internal: ZeroDivisionError: oops"
    ok = [r for r in out if r["status"] == schema.STATUS_OK]
    assert ok and all(r["visited"] for r in ok)
    counts = step_counts(["explodes"], local_outcomes(out))
    assert counts["explodes"]["errors"] == {"internal": 1} and counts["explodes"]["out"] == len(ok)


def test_published_rows_get_the_same_fingerprints_back_from_their_notes(ran):
    kept = [r for r in ran[0] if r["status"] == schema.STATUS_OK]
    published = [{**r, "notes_hash": None, "minhash": None, "lsh_bands": None} for r in kept]
    again = [p.row for p in chain((Piece(r) for r in published), [LoadScore(), Fingerprint(Settings().dedup)])]
    assert [r["notes_hash"] for r in again] == [r["notes_hash"] for r in kept]
    assert [r["minhash"] for r in again] == [r["minhash"] for r in kept]


def test_parse_renders_runs_of_abc_tunes_together_with_the_same_rows():
    from symcorpus.sources.base import Record
    from symcorpus.steps.parse import ABC_BATCH

    tunes = split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[: ABC_BATCH + 5]
    header = tunes[0].content[: tunes[0].content.index(b"X:")]
    records = [Record("m21", f"book2.abc#{t.index}", "abc", t.content) for t in tunes]
    records.insert(3, Record("m21", "book2.abc#bad", "abc", header + b"X:99\nT:no key\nabc|\n"))
    settings = Settings()
    together = run_records(records, settings)
    alone = [run_records([r], settings)[0] for r in records]  # a run of one tune renders it alone
    assert [r["status"] for r in together] == [r["status"] for r in alone]
    assert together[3]["status"] == "error" and together[3]["error"].startswith("bad_abc")
    for a, b in zip(together, alone):
        assert (a["id"], a.get("score_midi"), a.get("notes_hash"), a.get("caption")) == \
            (b["id"], b.get("score_midi"), b.get("notes_hash"), b.get("caption"))
