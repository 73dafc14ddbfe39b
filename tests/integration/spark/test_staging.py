"""Staged rows: each split a kept piece would land in has files of its own, and every light row
points at its own piece's staged row."""

from __future__ import annotations

import pyarrow.parquet as pq

from symcorpus import schema
from symcorpus.spark.build import kept_split, list_sources, pieces_frame
from symcorpus.spark.session import NoProgress
from symcorpus.spark.split import split_of

from tests.conftest import make_settings


def test_each_split_is_staged_in_files_of_its_own(spark, midi_from_abc, tmp_path):
    folder = tmp_path / "midi"
    folder.mkdir()
    for name, midi in midi_from_abc:
        (folder / name).write_bytes(midi)
    (folder / "broken.mid").write_bytes(b"MThd not really")  # an error row: staged nowhere
    settings = make_settings()
    settings.split.train, settings.split.valid, settings.split.test = 0.4, 0.3, 0.3
    units = list_sources([str(folder)], settings, NoProgress()).all_units()
    stage = tmp_path / "stage"
    light = pieces_frame(spark, units, settings, stage=stage).collect()

    ok = [r for r in light if r["status"] == schema.STATUS_OK]
    assert len(ok) == len(midi_from_abc) and all(r["staged"] is None for r in light if r not in ok)
    splits = {split_of(r["id"], settings.split.ratios(), settings.split.seed) for r in ok}
    assert splits == {"train", "valid", "test"}  # the test means something only if all three occur
    for r in ok:
        assert r["staged"].endswith(f"-{kept_split(settings)(r['id'])}.parquet")
        staged = pq.read_table(stage / r["staged"], columns=["id", "path"])
        assert staged.column("id")[r["row"]].as_py() == r["id"]
        assert staged.column("path")[r["row"]].as_py() == r["path"]
    for path in stage.glob("*.parquet"):
        split = path.stem.rsplit("-", 1)[1]
        ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
        assert {split_of(i, settings.split.ratios(), settings.split.seed) for i in ids} == {split}
