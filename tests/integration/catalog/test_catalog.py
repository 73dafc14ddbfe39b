"""The DuckDB catalog over two real published versions: register, query, dataset card, diff.

v1 is one directory of real files; v2 is the same directory plus another one, built with another
split seed, so v2 has pieces added (the second directory) and pieces changed (their split).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from symcorpus.catalog.card import write_card
from symcorpus.cli.catalog import catalog_app
from symcorpus.catalog.db import TABLES, CatalogError, connect, register_version, remove_version, run_query
from symcorpus.catalog.diff import diff_versions
from symcorpus.music.abc_text import split_tunes
from symcorpus.spark.build import build
from symcorpus.testing.browser import Elements, page_dom, page_screenshot

from tests.conftest import M21, make_settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _settings(seed: str):
    settings = make_settings()
    settings.split.train, settings.split.valid, settings.split.test = 0.5, 0.25, 0.25
    settings.split.seed = seed
    settings.dedup.levels = ["exact", "notes"]  # near-duplicate search is tested elsewhere; it costs most of a build here
    return settings


@pytest.fixture(scope="module")
def versions(spark, tmp_path_factory, midi_from_abc):
    root = tmp_path_factory.mktemp("catalog")
    folk, more = root / "folk", root / "more"
    folk.mkdir()
    more.mkdir()
    (folk / "reels.abc").write_bytes((M21 / "nottingham-dataset/reelsa-c.abc").read_bytes())
    for name, data in midi_from_abc[:4]:
        (folk / name).write_bytes(data)
    (folk / "copy_of_tune.mid").write_bytes(midi_from_abc[0][1])  # an exact duplicate
    (folk / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")  # an error row
    (more / "josquin.abc").write_bytes((M21 / "josquin/laPlusDesPlus.abc").read_bytes())
    for name, data in midi_from_abc[4:7]:
        (more / name).write_bytes(data)
    v1 = build([str(folk)], root / "v1", _settings("first"))
    v2 = build([str(folk), str(more)], root / "v2", _settings("second"))
    db = root / "catalog.duckdb"
    con = connect(db)
    register_version(con, v1.out)
    register_version(con, v2.out)
    con.close()
    return {"root": root, "more": more, "db": db, "v1": v1.out, "v2": v2.out}


@pytest.fixture
def con(versions):
    con = connect(versions["db"], read_only=True)
    yield con
    con.close()


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _corpus(out: Path) -> dict[str, dict]:
    rows = []
    for split in ("train", "valid", "test"):
        rows += pq.read_table(out / "corpus" / split).to_pylist()
    return {r["id"]: r for r in rows}


def test_views_count_what_the_manifests_count(versions, con):
    for name in ("v1", "v2"):
        counts = _manifest(versions[name])["counts"]
        for table, key in [("corpus", "kept"), ("duplicates", "duplicates"), ("rejects", "rejected"), ("errors", "errors")]:
            assert con.execute(f"SELECT count(*) FROM {name}_{table}").fetchall() == [(counts[key],)]
        [row] = con.execute(
            f"SELECT input, kept, duplicates, rejected, errors, train, valid, test, path FROM versions WHERE name = '{name}'"
        ).fetchall()
        expected = [counts[k] for k in ("input", "kept", "duplicates", "rejected", "errors")]
        assert list(row[:5]) == expected and list(row[5:8]) == [counts["by_split"][s] for s in ("train", "valid", "test")]
        assert row[8] == str(versions[name])
    by_version = dict(con.execute("SELECT version, count(*) FROM all_corpus GROUP BY ALL").fetchall())
    assert by_version == {n: _manifest(versions[n])["counts"]["kept"] for n in ("v1", "v2")}
    # the build made a duplicate and an error row, so those views are not trivially empty
    assert con.execute("SELECT kind FROM v1_duplicates").fetchall() == [("exact",)]
    assert con.execute("SELECT path FROM v1_errors").fetchall() == [("broken.mid",)]


def test_rows_stay_in_the_shards(versions, con):
    assert [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()] == ["versions"]
    views = dict(con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
    for name in ("v1", "v2"):
        for table, glob in TABLES.items():
            assert f"{versions[name].as_posix()}/{glob}" in views[f"{name}_{table}"]
    ids = [r[0] for r in con.execute("SELECT id FROM v1_corpus ORDER BY id").fetchall()]
    assert ids == sorted(_corpus(versions["v1"]))


def test_register_again_needs_replace_and_bad_inputs_are_named(versions, tmp_path):
    con = connect(versions["db"])
    try:
        with pytest.raises(CatalogError, match="already registered"):
            register_version(con, versions["v2"])
        version = register_version(con, versions["v2"], replace=True)
        assert version.counts["kept"] == _manifest(versions["v2"])["counts"]["kept"]
        assert con.execute("SELECT count(*) FROM versions").fetchall() == [(2,)]
        with pytest.raises(CatalogError, match="no manifest.json"):
            register_version(con, tmp_path)
        with pytest.raises(CatalogError, match="bad version name"):
            register_version(con, versions["v1"], "v1; DROP TABLE versions")
        assert con.execute("SELECT count(*) FROM versions").fetchall() == [(2,)]
    finally:
        con.close()


def test_a_version_whose_files_are_gone_can_be_removed(versions, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(versions["v1"], copy)
    con = connect(tmp_path / "own.duckdb")
    try:
        register_version(con, copy)
        register_version(con, versions["v1"])
        kept = _manifest(copy)["counts"]["kept"]
        assert con.execute("SELECT count(*) FROM all_corpus").fetchall() == [(2 * kept,)]
        shutil.rmtree(copy)
        with pytest.raises(CatalogError, match="No files found"):
            run_query(con, "SELECT count(*) FROM copy_corpus")
        with pytest.raises(CatalogError, match="remove it: symcorpus catalog remove copy"):
            register_version(con, versions["v1"], replace=True)
        remove_version(con, "copy")
        assert con.execute("SELECT name FROM versions").fetchall() == [("v1",)]
        assert con.execute("SELECT count(*) FROM all_corpus").fetchall() == [(kept,)]
        assert not con.execute("SELECT * FROM duckdb_views() WHERE view_name LIKE 'copy_%'").fetchall()
        with pytest.raises(CatalogError, match="unknown version 'copy'"):
            remove_version(con, "copy")
    finally:
        con.close()


def test_query_and_its_errors(versions, con):
    columns, rows, more = run_query(con, "SELECT format, count(*) AS n FROM v2_corpus GROUP BY ALL ORDER BY format")
    assert columns == ["format", "n"] and not more
    kept = _corpus(versions["v2"]).values()
    assert dict(rows) == {f: sum(r["format"] == f for r in kept) for f in {r["format"] for r in kept}}
    with pytest.raises(CatalogError, match="query failed: Parser Error"):
        run_query(con, "SELEC 1")
    with pytest.raises(CatalogError, match="v9_corpus"):
        run_query(con, "SELECT * FROM v9_corpus")
    with pytest.raises(CatalogError, match="read-only"):
        run_query(con, "DROP VIEW v1_corpus")


def test_query_command_prints_a_table_or_one_error_line(versions):
    runner = CliRunner()
    db = str(versions["db"])
    ok = runner.invoke(catalog_app, ["query", "SELECT id, content FROM v1_corpus ORDER BY id LIMIT 2", "--db", db],
                       env={"COLUMNS": "200"})
    assert ok.exit_code == 0, ok.output
    first = min(_corpus(versions["v1"]).values(), key=lambda r: r["id"])
    assert first["id"] in ok.stdout and f"<{len(first['content']):,} bytes>" in ok.stdout
    bad = runner.invoke(catalog_app, ["query", "SELECT nope FROM v1_corpus", "--db", db])
    assert bad.exit_code == 2
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: query failed") and "nope" in lines[0]
    unknown = runner.invoke(catalog_app, ["diff", "v1", "v7", "--db", db])
    assert unknown.exit_code == 2 and "unknown version 'v7' (known: v1, v2)" in unknown.stderr


def test_card_has_counts_plots_and_says_what_is_missing(versions, con, tmp_path):
    card = write_card(con, "v2", tmp_path / "card")
    text = card.path.read_text()
    manifest = _manifest(versions["v2"])
    c = manifest["counts"]
    assert f"| {c['input']} | {c['kept']} | {c['duplicates']} | {c['rejected']} | {c['errors']} |" in text
    for split, n in c["by_split"].items():
        assert f"| {split} | {n} |" in text
    linked = set(re.findall(r"\]\(([^)]+\.png)\)", text))
    assert linked == {p.name for p in card.plots}
    for plot in card.plots:
        assert plot.read_bytes().startswith(PNG_MAGIC)
    names = {p.name for p in card.plots}
    assert {"splits.png", "tempos.png", "time_signatures.png", "durations.png", "instruments.png",
            "duplicate_clusters.png"} <= names
    schema = pq.read_schema(next((versions["v2"] / "corpus" / "train").glob("*.parquet")))
    for column, plot in [("key", "keys.png"), ("quality_score", "quality_scores.png")]:
        assert (plot in names) == (column in schema.names)
        assert (f"no `{column}` column" in text) == (column not in schema.names)
    if "labels" in schema.names:
        for label in (f.name for f in schema.field("labels").type):
            values = {r["labels"][label] for r in _corpus(versions["v2"]).values()} - {None}
            assert (f"labels_{label}.png" in names) == bool(values)
            assert (f"No piece has a `{label}` label." in text) == (not values)
    else:
        assert "no `labels` column" in text and "labels" in card.missing
    # the exact duplicate makes one cluster of two; every other kept piece is a cluster of one
    section = text.split("### Duplicate cluster sizes")[1].split("##")[0]
    rows = re.findall(r"^\| (\d+) \| ([\d,]+) \|$", section, flags=re.M)
    assert rows == [("1", str(c["kept"] - 1)), ("2", "1")]
    again = write_card(con, "v2", tmp_path / "again")
    assert again.path.read_text() == text
    assert all(p.read_bytes() == (tmp_path / "card" / p.name).read_bytes() for p in again.plots)


def test_card_page_shows_plots_captions_and_players_in_a_browser(versions, con, tmp_path, midi_from_abc):
    """index.html opened in headless Chromium: every plot loads, the sample pieces stand with their
    captions, and every player (pieces rendered by FluidSynth, generated samples) loads its audio."""
    from symcorpus.catalog.page import AUDIO_PIECES, PIECES_PER_FORMAT
    from symcorpus.train.generate import piano_roll_png

    samples = tmp_path / "samples"  # what `generate` writes: MIDI, piano roll, samples.json
    samples.mkdir()
    listing = []
    for i, (_, midi) in enumerate(midi_from_abc[:2]):
        (samples / f"sample_{i:02d}.mid").write_bytes(midi)
        listing.append({"file": f"sample_{i:02d}.mid", "n_notes": piano_roll_png(midi, samples / f"sample_{i:02d}.png")})
    (samples / "samples.json").write_text(json.dumps({"prompt": 'key="D major"', "samples": listing}))
    card = write_card(con, "v2", tmp_path / "card", samples)
    assert card.page == tmp_path / "card" / "index.html"

    elements = Elements(page_dom(card.page))
    images = {attrs["src"]: attrs.get("data-ready") for attrs in elements.of("img")}
    assert {p.name for p in card.plots} | {"samples/sample_00.png", "samples/sample_01.png"} == set(images)
    assert set(images.values()) == {"1"}, images  # every image loaded
    players = {attrs["src"]: attrs.get("data-ready") for attrs in elements.of("audio")}
    shown = con.execute(f"SELECT sum(least(n, {PIECES_PER_FORMAT})) FROM (SELECT format, count(*) AS n FROM v2_corpus "
                        "WHERE caption IS NOT NULL GROUP BY format)").fetchone()[0]  # the best of each format
    pieces = [src for src in players if src.startswith("audio/")]
    assert len(pieces) == min(AUDIO_PIECES, shown) and {"samples/sample_00.flac", "samples/sample_01.flac"} <= set(players)
    assert set(players.values()) == {"1"}, players  # every player knows its length: the audio loaded
    text = card.page.read_text()
    best = con.execute("SELECT caption FROM v2_corpus WHERE caption IS NOT NULL QUALIFY row_number() OVER "
                       "(PARTITION BY format ORDER BY quality_score DESC NULLS LAST, id) = 1").fetchall()
    assert len(best) == 2 and all(html.escape(caption) in text for (caption,) in best)  # abc and midi
    shot = page_screenshot(card.page, tmp_path / "card.png")
    assert shot.read_bytes().startswith(PNG_MAGIC) and shot.stat().st_size > 20_000
    again = write_card(con, "v2", tmp_path / "again", samples)  # same version, same page and audio bytes
    assert again.page.read_text() == text
    for src in players:
        assert (tmp_path / "again" / src).read_bytes() == (tmp_path / "card" / src).read_bytes(), src


def _expected_ids(directory: Path) -> set[str]:
    ids = set()
    for f in directory.iterdir():
        if f.suffix == ".abc":
            ids |= {hashlib.sha256(t.content).hexdigest() for t in split_tunes(f.read_bytes())}
        else:
            ids.add(hashlib.sha256(f.read_bytes()).hexdigest())
    return ids


def test_diff_finds_the_added_and_changed_pieces(versions, con):
    old, new = _corpus(versions["v1"]), _corpus(versions["v2"])
    d = diff_versions(con, "v1", "v2", limit=None)
    assert {r["id"] for r in d.added} == _expected_ids(versions["more"]) == new.keys() - old.keys()
    assert d.n_added == len(d.added) and {r["source"] for r in d.added} == {"more"}
    assert d.n_removed == 0 and d.removed == []
    # changed: the same bytes with another value in any compared column, computed here from the shards
    expected = {}
    for pid in old.keys() & new.keys():
        columns = [c for c in d.compared_columns if old[pid][c] != new[pid][c]]
        if columns:
            expected[pid] = columns
    assert expected, "another split seed must move some piece"
    assert {r["id"]: r["columns"] for r in d.changed} == expected
    assert d.changed_by_column.get("split") == sum("split" in cols for cols in expected.values())
    assert "content" not in d.compared_columns and "id" not in d.compared_columns
    # label shifts: counts of each format before and after
    shifts = {(s.label, s.value): (s.n1, s.n2) for s in d.label_shifts}
    for fmt in {r["format"] for r in new.values()}:
        n1 = sum(r["format"] == fmt for r in old.values())
        n2 = sum(r["format"] == fmt for r in new.values())
        assert shifts.get(("format", fmt), (n1, n2)) == (n1, n2)
    assert shifts[("source", "more")] == (0, len(d.added))
    back = diff_versions(con, "v2", "v1", limit=2)
    assert back.n_removed == d.n_added and len(back.removed) == 2 and back.n_added == 0
    assert back.n_changed == d.n_changed


def test_diff_command_prints_counts(versions):
    result = CliRunner().invoke(catalog_app, ["diff", "v1", "v2", "--db", str(versions["db"])], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    n_added = len(_expected_ids(versions["more"]))
    assert f"added {n_added}, removed 0" in result.stdout
    assert "label shifts" in result.stdout
