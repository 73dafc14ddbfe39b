"""The source kinds beyond a folder and one archive: Parquet rows with bytes (Hugging Face
`datasets` layout), JSON-lines manifests, archives inside a folder (tar/zip shards, WebDataset
samples). Each reads into records with their metadata, and each bad input is an error row."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from symcorpus import schema
from symcorpus.config import Settings
from symcorpus.music.abc_text import split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.sources import SourceError, resolve_source
from symcorpus.steps import run_local_sources

from tests.conftest import M21


@pytest.fixture(scope="module")
def midis() -> list[tuple[str, bytes]]:
    tunes = split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[:6]
    return [(f"tune{t.index}.mid", to_midi(t.content, "abc")) for t in tunes]


def read(spec: str, **options):
    return run_local_sources([resolve_source(spec, options=options or None)], Settings(), steps=[])


def test_hugging_face_parquet_with_a_bytes_path_struct(tmp_path, midis):
    chorale = (M21 / "bach/bwv10.7.mxl").read_bytes()
    files = [{"bytes": data, "path": name} for name, data in midis[:4]] + [{"bytes": chorale, "path": "bwv10.7.mxl"}]
    table = pa.table({"file": files, "title": [f"Piece {i}" for i in range(5)], "rating": [4.5, 3.0, None, 5.0, 4.0],
                      "license": ["CC0"] * 5})
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "train-00000-of-00001.parquet", row_group_size=2)
    run = read(f"parquet:{tmp_path}", license_column="license", caption_column="title")
    assert [row["path"] for row in run.rows] == [f"data/train-00000-of-00001.parquet#{i}" for i in range(5)]
    assert [row["format"] for row in run.rows] == ["midi"] * 4 + ["musicxml"]  # told by the struct's path
    assert [row["content"] for row in run.rows] == [f["bytes"] for f in files]
    first = json.loads(run.rows[0]["source_meta"])["parquet"]
    assert first == {"file": {"path": "tune1.mid"}, "title": "Piece 0", "rating": 4.5, "license": "CC0"}
    assert run.rows[0]["license"] == "CC0" and run.rows[2]["source_caption"] == "Piece 2"
    assert len(run.sources) == 1 and run.sources[0]["units"] == 3  # one unit per row group


def test_parquet_binary_column_bad_files_and_empty_rows(tmp_path, midis):
    table = pa.table({"md5": ["a", "b", "c"], "music": [midis[0][1], b"", None]})
    pq.write_table(table, tmp_path / "rows.parquet")
    run = read(str(tmp_path / "rows.parquet"))  # a .parquet file is a Parquet source by itself
    assert [row["status"] for row in run.rows] == ["pending", "error", "error"]
    assert run.rows[1]["error"].startswith("empty:") and run.rows[1]["path"] == "rows.parquet#1"
    (tmp_path / "cut.parquet").write_bytes((tmp_path / "rows.parquet").read_bytes()[:-40])
    [row] = read(f"parquet:{tmp_path / 'cut.parquet'}").rows
    assert row["status"] == schema.STATUS_ERROR and row["error"].startswith("bad_parquet:")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "numbers.parquet")
    with pytest.raises(SourceError, match="no binary"):
        read(f"parquet:{tmp_path / 'numbers.parquet'}")


def test_a_jsonl_manifest_names_pieces_and_their_metadata(tmp_path, midis):
    (tmp_path / "music").mkdir()
    for name, data in midis[:3]:
        (tmp_path / "music" / name).write_bytes(data)
    lines = [
        json.dumps({"path": "music/tune1.mid", "composer": "Aird, James", "period": "Classical", "caption": "An air.",
                    "license": "CC0-1.0", "rating": 4}),
        json.dumps({"uri": str(tmp_path / "music" / "tune2.mid"), "genre": "folk"}),
        "{not json",
        json.dumps({"title": "no path"}),
        json.dumps({"path": "music/tune1.mid", "composer": "someone else"}),
        json.dumps({"path": "music/missing.mid"}),
    ]
    (tmp_path / "pieces.jsonl").write_text("\n".join(lines) + "\n")
    run = read(str(tmp_path / "pieces.jsonl"))
    rows = run.rows
    assert [row["status"] for row in rows] == ["pending", "pending", "error", "error", "error", "error"]
    assert rows[0]["source_labels"] == {"period": "Classical", "composer": "Aird, James", "instrumentation": None,
                                        "genre": None, "mood": None}
    assert (rows[0]["source_caption"], rows[0]["license"]) == ("An air.", "CC0-1.0")
    assert json.loads(rows[0]["source_meta"])["manifest"]["rating"] == 4
    assert rows[1]["source_labels"]["genre"] == "folk" and rows[1]["path"] == str(tmp_path / "music" / "tune2.mid")
    assert [row["path"] for row in rows[2:5]] == ["pieces.jsonl:3", "pieces.jsonl:4", "pieces.jsonl:5"]
    assert rows[2]["error"].startswith("bad_manifest_line:") and rows[4]["error"].startswith("duplicate_path:")
    assert rows[5]["path"] == "music/missing.mid" and rows[5]["error"].startswith("unreadable:")


def _tar(members: list[tuple[str, bytes]], gz: bool = False) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gz else "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_archives_inside_a_folder_are_read_one_level_deep(tmp_path, midis):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "part-0000.tar").write_bytes(_tar([
        ("000001.mid", midis[0][1]), ("000001.json", json.dumps({"title": "First"}).encode()),
        ("000001.txt", b"A lively air."), ("000002.mid", midis[1][1]), ("notes.json", b"{}"),
    ]))
    (shards / "part-0001.tar.gz").write_bytes(_tar([("000003.mid", midis[2][1]),
                                                   ("inner.tar", _tar([("x.mid", midis[3][1])]))], gz=True))
    with zipfile.ZipFile(shards / "part-0002.zip", "w") as z:
        z.writestr("000004.mid", midis[4][1])
    (shards / "loose.mid").write_bytes(midis[5][1])
    run = read(str(tmp_path))
    rows = {row["path"]: row for row in run.rows}
    assert sorted(rows) == ["shards/loose.mid", "shards/part-0000.tar/000001.mid", "shards/part-0000.tar/000002.mid",
                            "shards/part-0000.tar/notes.json", "shards/part-0001.tar.gz/000003.mid",
                            "shards/part-0001.tar.gz/inner.tar", "shards/part-0002.zip/000004.mid"]
    sample = rows["shards/part-0000.tar/000001.mid"]
    assert json.loads(sample["source_meta"]) == {"webdataset": {"title": "First"}}
    assert sample["source_caption"] == "A lively air."
    assert rows["shards/part-0000.tar/000002.mid"]["source_meta"] is None  # a sample without sidecars
    assert rows["shards/part-0000.tar/notes.json"]["status"] == schema.STATUS_SKIPPED
    assert rows["shards/part-0001.tar.gz/inner.tar"]["status"] == schema.STATUS_SKIPPED  # not two levels deep
    (shards / "part-0003.tar").write_bytes(b"not a tar" * 100)
    broken = {row["path"]: row for row in read(str(tmp_path)).rows}["shards/part-0003.tar"]
    assert broken["status"] == schema.STATUS_ERROR and broken["error"].startswith("bad_archive:")


def test_kinds_can_be_named_and_unknown_paths_say_which_kinds_exist(tmp_path):
    (tmp_path / "a.mid").write_bytes(b"MThd")
    with pytest.raises(SourceError, match="KIND:PATH, one of aria-midi, directory, gigamidi"):
        resolve_source(str(tmp_path / "a.mid"))
    assert resolve_source(f"directory:{tmp_path}").kind == "directory"
    with pytest.raises(SourceError, match="does not look like the Lakh MIDI Dataset"):
        read(f"lakh:{tmp_path}")
