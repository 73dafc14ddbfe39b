"""Resuming without Spark: finished batches kept as they complete and taken by a rerun, exactly.

A few seconds: 24 small MIDI files in batches of 8 (three batches), each run in process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from symcorpus.config import Settings
from symcorpus.music.abc_text import split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.steps import run_local

from tests.conftest import M21


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resume")
    for tune in split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[:24]:
        (root / f"tune{tune.index:02d}.mid").write_bytes(to_midi(tune.content, "abc"))
    return root


def settings() -> Settings:
    s = Settings()
    s.spark.arrow_batch_size = 8
    s.ingest.isolate_records = False
    return s


def without_resumed(rows: list[dict]) -> dict[str, dict]:
    return {r["path"]: {k: v for k, v in r.items() if k != "resumed"} for r in rows}


def test_a_rerun_takes_the_finished_batches_and_computes_the_rest(source, tmp_path):
    work = tmp_path / "work"
    first, _ = run_local([str(source)], settings(), work=str(work))
    batches = sorted(work.glob("*.arrow"))
    assert len(batches) == 3 and not any(r["resumed"] for r in first)

    batches[0].unlink()  # as if the run had died before finishing this one
    batches[1].write_bytes(batches[1].read_bytes()[:100])  # or while a machine crash cut it short
    again, _ = run_local([str(source)], settings(), work=str(work))
    assert sum(bool(r["resumed"]) for r in again) == 8  # the one whole batch left
    assert without_resumed(again) == without_resumed(first)
    assert len(list(work.glob("*.arrow"))) == 3 and not list(work.glob("*.tmp-*"))


def test_other_settings_reuse_nothing(source, tmp_path):
    work = tmp_path / "work"
    run_local([str(source)], settings(), work=str(work))
    other = settings()
    other.ingest.max_notes = 10_000
    rows, _ = run_local([str(source)], other, work=str(work))
    assert not any(r["resumed"] for r in rows)
    assert len(list(work.glob("*.arrow"))) == 6
