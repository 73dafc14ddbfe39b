"""`symcorpus build` end to end on real files, with the embedded Spark."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from rich.console import Console
from rich.progress import Progress

from symcorpus import schema
from symcorpus.music.abc_text import split_tunes
from symcorpus.spark.build import build
from symcorpus.spark.publish import OutputExistsError

from tests.conftest import ABC_FILES, HUMDRUM_FILES, M21, MUSICXML_FILES, make_settings


def corpus_rows(out: Path) -> list[dict]:
    rows = []
    for split in ("train", "valid", "test"):
        rows += pq.read_table(out / "corpus" / split).to_pylist()
    return rows


BARS: dict[str, Progress] = {}  # the progress the fixture's build drew


@pytest.fixture(scope="module")
def built(spark, real_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("builds") / "v1"
    BARS["v1"] = Progress(console=Console(file=io.StringIO()))
    result = build([str(real_dir)], out, make_settings(), progress=BARS["v1"])
    return result


def test_parse_progress_counts_pieces_and_files(built, real_dir):
    """The parse stage's bar counts pieces (records, not skipped files), with the files read and a rate."""
    tasks = {t.description: t for t in BARS["v1"].tasks}
    parse = tasks["ingest + parse + annotate"]
    files = sum(1 for p in real_dir.rglob("*") if p.is_file())
    assert parse.completed == parse.total == built.counts["input"]
    assert parse.fields["files"] == f"{files}/{files} files" and parse.fields["unit"] == "pieces"
    assert parse.fields["rate"] > 0


def test_every_format_is_kept_with_its_columns(built, midi_from_abc):
    rows = corpus_rows(built.out)
    by_format = {}
    for row in rows:
        by_format.setdefault(row["format"], []).append(row)
    n_tunes = sum(len(split_tunes((M21 / rel).read_bytes())) for rel in ABC_FILES)
    assert len(by_format["abc"]) == n_tunes
    assert len(by_format["musicxml"]) == len(MUSICXML_FILES)
    assert len(by_format["humdrum"]) == len(HUMDRUM_FILES)
    assert len(by_format["midi"]) == len(midi_from_abc) + 1  # + the file recognised by content
    for row in rows:
        assert row["id"] == hashlib.sha256(row["content"]).hexdigest()
        assert row["size_bytes"] == len(row["content"])
        assert row["n_notes"] > 0 and row["duration_seconds"] > 0
        assert row["split"] in ("train", "valid", "test")
        assert (row["abc"] is not None) == (row["format"] == "abc")
        assert (row["score_midi"] is None) == (row["format"] == "midi")
    assert built.skipped_files == 1  # README.txt


def test_multi_tune_abc_gives_one_row_per_tune(built):
    rows = [r for r in corpus_rows(built.out) if r["path"].startswith("josquin/milleRegrets.abc#")]
    tunes = split_tunes((M21 / "josquin/milleRegrets.abc").read_bytes())
    assert sorted(r["path"] for r in rows) == [f"josquin/milleRegrets.abc#{t.index}" for t in tunes]
    assert {r["id"] for r in rows} == {hashlib.sha256(t.content).hexdigest() for t in tunes}


def test_manifest_counts_add_up_and_shards_match(built):
    manifest = json.loads((built.out / "manifest.json").read_text())
    c = manifest["counts"]
    assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"] + c["errors"]
    assert c["kept"] == len(corpus_rows(built.out))
    assert sum(c["by_split"].values()) == c["kept"]
    assert manifest["schema_version"] == schema.SCHEMA_VERSION
    listed = {s["path"] for s in manifest["shards"]}
    on_disk = {p.relative_to(built.out).as_posix() for p in built.out.rglob("*.parquet")}
    assert listed == on_disk
    for shard in manifest["shards"]:
        data = (built.out / shard["path"]).read_bytes()
        assert shard["bytes"] == len(data)
        assert shard["sha256"] == hashlib.sha256(data).hexdigest()
        assert shard["rows"] == pq.read_metadata(built.out / shard["path"]).num_rows
    assert (built.out / "_SUCCESS").exists()
    assert not [p for p in built.out.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_published_layout_and_schemas(built):
    for table, expected in [("duplicates", schema.DUPLICATES), ("rejects", schema.REJECTS),
                            ("errors", schema.ERRORS)]:
        assert pq.read_schema(next((built.out / table).glob("part-*.parquet"))).names == expected.names
    for split in ("train", "valid", "test"):
        shards = list((built.out / "corpus" / split).glob("part-*.parquet"))
        assert shards, split
        assert pq.read_schema(shards[0]).names == schema.CORPUS.names


def test_shards_read_back_with_duckdb_and_pyarrow(built):
    pattern = str(built.out / "corpus" / "*" / "*.parquet")
    con = duckdb.connect()
    n, formats = con.execute(f"SELECT count(*), count(DISTINCT format) FROM '{pattern}'").fetchone()
    assert n == len(corpus_rows(built.out)) and formats == 4
    from_duckdb = [r[0] for r in con.execute(f"SELECT id FROM '{pattern}' WHERE format = 'humdrum' ORDER BY id").fetchall()]
    dataset = ds.dataset(sorted((built.out / "corpus").rglob("*.parquet")), format="parquet")
    from_pyarrow = sorted(dataset.to_table(filter=pc.field("format") == "humdrum", columns=["id"])["id"].to_pylist())
    assert from_duckdb == from_pyarrow and len(from_pyarrow) == len(HUMDRUM_FILES)
    tempos = con.execute(f"SELECT min(tempo_bpm), max(n_tracks) FROM '{pattern}'").fetchone()
    assert tempos[0] > 0 and tempos[1] >= 4


def test_same_inputs_give_identical_shards(spark, real_dir, built, tmp_path):
    again = build([str(real_dir)], tmp_path / "v2", make_settings())
    first = json.loads((built.out / "manifest.json").read_text())["shards"]
    second = json.loads((again.out / "manifest.json").read_text())["shards"]
    assert [(s["path"], s["sha256"]) for s in first] == [(s["path"], s["sha256"]) for s in second]


def test_many_shards_per_split_hold_the_rows_of_one(spark, real_dir, built, tmp_path):
    # One shard per split is written by the driver; more are written by Spark's tasks (staging.py).
    settings = make_settings()
    settings.publish.shard_bytes = 20_000
    sharded = build([str(real_dir)], tmp_path / "sharded", settings)
    assert len(list((sharded.out / "corpus" / "train").glob("part-*.parquet"))) > 1
    assert len(list((built.out / "corpus" / "train").glob("part-*.parquet"))) == 1
    by_path = lambda rows: sorted(rows, key=lambda r: (r["id"], r["path"]))  # noqa: E731
    assert by_path(corpus_rows(sharded.out)) == by_path(corpus_rows(built.out))


def _archive_rows(out: Path) -> set[tuple]:
    return {(r["id"], r["path"], r["format"], r["n_notes"], r["split"]) for r in corpus_rows(out)}


def test_zip_and_tar_gz_give_the_same_rows_as_the_directory(spark, real_dir, built, tmp_path):
    files = sorted(p for p in real_dir.rglob("*") if p.is_file())
    zip_path, tgz_path = tmp_path / "real.zip", tmp_path / "real.tar.gz"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for p in files:
            archive.write(p, p.relative_to(real_dir).as_posix())
    with tarfile.open(tgz_path, "w:gz") as archive:
        for p in files:
            archive.add(p, p.relative_to(real_dir).as_posix())
    from_zip = build([str(zip_path)], tmp_path / "z", make_settings())
    from_tgz = build([str(tgz_path)], tmp_path / "t", make_settings())
    expected = _archive_rows(built.out)
    assert _archive_rows(from_zip.out) == expected
    assert _archive_rows(from_tgz.out) == expected
    assert {r["source"] for r in corpus_rows(from_tgz.out)} == {"real"}


def test_existing_output_needs_overwrite(spark, real_dir, built):
    with pytest.raises(OutputExistsError):
        build([str(real_dir)], built.out, make_settings())


def test_overwrite_replaces_a_version_atomically(spark, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.abc").write_bytes((M21 / "nottingham-dataset/reelsa-c.abc").read_bytes())
    out = tmp_path / "out"
    first = build([str(src)], out, make_settings())
    (src / "b.krn").write_bytes((M21 / HUMDRUM_FILES[0]).read_bytes())
    second = build([str(src)], out, make_settings(), overwrite=True)
    assert first.counts["kept"] == 2 and second.counts["kept"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_accounting_catches_a_lost_row(built):
    from symcorpus.spark.publish import AccountingError, check_accounting

    manifest = json.loads((built.out / "manifest.json").read_text())
    check_accounting(manifest, manifest["counts"]["input"])
    with pytest.raises(AccountingError):
        check_accounting(manifest, manifest["counts"]["input"] + 1)  # a record that no table holds
    manifest["shards"] = [s for s in manifest["shards"] if not s["path"].startswith("corpus/train")]
    with pytest.raises(AccountingError):
        check_accounting(manifest)
