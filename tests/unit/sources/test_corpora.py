"""Each corpus adapter on its replica (symcorpus/testing/replicas.py, the corpus's published layout):
the right records with the right metadata, and a join report whose numbers are exactly what the
replica planted. Read only (no parse): the per-record steps run in one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symcorpus import schema
from symcorpus.config import Settings
from symcorpus.sources import SourceError, resolve_source
from symcorpus.steps import run_local_sources
from symcorpus.steps.read import EXCLUDED
from symcorpus.testing import replicas as r


def read(spec: str, options: dict | None = None, name: str | None = None):
    """The records of one source, read (not parsed), with its reports."""
    return run_local_sources([resolve_source(spec, options=options, name=name)], Settings(), steps=[])


def report_of(run, join: str) -> dict:
    [entry] = [j for j in run.joins if j["join"] == join]
    return entry


def by_path(run) -> dict[str, dict]:
    return {row["path"]: row for row in run.rows}


def meta(row: dict) -> dict:
    return json.loads(row["source_meta"]) if row.get("source_meta") else {}


@pytest.fixture(scope="module")
def lakh(tmp_path_factory) -> r.LakhReplica:
    return r.make_lakh(tmp_path_factory.mktemp("lakh"))


@pytest.fixture(scope="module")
def midicaps(tmp_path_factory, lakh) -> r.MidiCapsReplica:
    return r.make_midicaps(tmp_path_factory.mktemp("midicaps"), lakh)


# -- Lakh + MidiCaps ---------------------------------------------------------------------------


def test_lakh_files_take_names_scores_and_midicaps_captions(lakh, midicaps):
    run = read(f"lakh:{lakh.root}", {"captions": str(midicaps.root / "train.json")})
    rows = by_path(run)
    assert sorted(rows) == sorted(lakh.full_files)
    assert all(row["status"] == "pending" and row["source"] == "lakh" for row in rows.values())

    names = report_of(run, "md5_to_paths")
    assert (names["files"], names["matched"], names["files_without_metadata"]) == (17, 16, 1)
    assert names["metadata_entries"] == lakh.paths_entries
    assert names["examples"]["files_without_metadata"] == [lakh.location(m) for m in lakh.files_without_paths_entry]
    assert names["examples"]["metadata_without_files"] == list(lakh.paths_entries_without_file)
    assert names["collided_keys"] == 0

    scores = report_of(run, "match_scores")
    matched_md5s = {m for by_md5 in json.loads((lakh.root / "match_scores.json").read_text()).values() for m in by_md5}
    assert scores["matched"] == len(matched_md5s) and scores["metadata_without_files"] == 0
    twice = lakh.md5s_matched_to_several_msd_ids[0]
    assert len(meta(rows[lakh.location(twice)])["match_scores"]) == 2  # one md5, two MSD ids: not a collision
    assert scores["collided_keys"] == 0

    caps = report_of(run, "midicaps")
    assert caps["metadata_entries"] == midicaps.rows and caps["metadata_keys"] == midicaps.rows - 1
    assert caps["matched"] == len(midicaps.locations_with_file)
    assert caps["files_without_metadata"] == len(midicaps.files_without_caption)
    assert caps["examples"]["metadata_without_files"] == list(midicaps.locations_without_file)
    assert caps["examples"]["collided_keys"] == list(midicaps.duplicated_locations)

    lines = [json.loads(line) for line in (midicaps.root / "train.json").read_text().splitlines()]
    first_caption = {}
    for line in lines:
        first_caption.setdefault(line["location"], line["caption"])
    for location in midicaps.locations_with_file:
        row = rows[location]
        assert row["source_caption"] == first_caption[location]  # a repeated location keeps its first line
        assert meta(row)["midicaps"]["tempo_word"] and row["source_labels"]["genre"] == "folk"
        assert row["source_labels"]["mood"] == "calm" and row["caption"] is None  # ours comes at annotation
    for location in midicaps.files_without_caption:
        assert rows[location].get("source_caption") is None


def test_identical_captions_keep_both_pieces_and_are_counted(lakh, midicaps):
    run = read(f"lakh:{lakh.root}", {"captions": str(midicaps.root / "train.json")})
    [caption] = midicaps.colliding_captions
    sharing = [row for row in run.rows if row.get("source_caption") == caption]
    assert len(sharing) == 2 and len({row["id"] for row in sharing}) == 2  # Amadeus's loader keeps one
    assert run.captions["shared_captions"] == 1 and run.captions["pieces_sharing_a_caption"] == 2
    assert run.captions["examples"][0]["caption"] == caption


def test_clean_midi_names_give_artist_and_title(lakh):
    run = read(f"lakh:{lakh.root}", {"subset": "clean"})
    rows = by_path(run)
    assert sorted(rows) == sorted(lakh.clean_files)
    [versioned] = lakh.clean_versioned
    artist, title = versioned.split("/")[1], versioned.split("/")[2][: -len(".1.mid")]
    assert meta(rows[versioned])["clean_midi"] == {"artist": artist, "title": title, "version": 1}
    assert report_of(run, "clean_midi")["matched"] == len(lakh.clean_files)


@pytest.mark.parametrize("broken", ["md5_to_paths", "match_scores"])
def test_a_broken_lakh_metadata_file_is_an_error_row(tmp_path, broken):
    lakh = r.make_lakh(tmp_path, broken=broken)
    run = read(f"lakh:{lakh.root}")
    [error] = [row for row in run.rows if row["status"] == schema.STATUS_ERROR]
    assert error["path"] == f"{broken}.json" and error["error"].startswith("bad_metadata:")
    entry = report_of(run, broken)
    assert entry["unreadable"] and entry["matched"] == 0 and entry["files_without_metadata"] == 17
    other = report_of(run, ({"md5_to_paths", "match_scores"} - {broken}).pop())
    assert other["unreadable"] is None and other["matched"] > 0
    assert sum(row["status"] == "pending" for row in run.rows) == len(lakh.full_files)


def test_midicaps_release_reads_its_archive_and_reports_broken_lines(tmp_path, lakh):
    caps = r.make_midicaps(tmp_path, lakh, broken=True)
    run = read(f"midicaps:{caps.root}")
    files = [row for row in run.rows if row["status"] == "pending"]
    assert sorted(row["path"] for row in files) == sorted(f"midicaps.tar.gz/{loc}" for loc in caps.locations_with_file)
    assert all(row["source_caption"] for row in files)
    [error] = [row for row in run.rows if row["status"] == schema.STATUS_ERROR]
    lines = (caps.root / "train.json").read_text().splitlines()
    bad = next(i for i, line in enumerate(lines, 1) if not line.endswith("}"))
    assert error["path"] == f"train.json:{bad}" and error["error"].startswith("bad_metadata_line:")
    entry = report_of(run, "midicaps")
    assert (entry["matched"], entry["files_without_metadata"], entry["unreadable_entries"]) == (10, 0, 1)


# -- GigaMIDI --------------------------------------------------------------------------------------


def test_gigamidi_shards_join_their_metadata_and_report_what_is_missing(tmp_path, lakh):
    giga = r.make_gigamidi(tmp_path, lakh=lakh, missing_shard=True)
    run = read(f"gigamidi:{giga.root}")
    files = {row["path"].rsplit("/", 1)[1][:-4]: row for row in run.rows if row["status"] == "pending"}
    assert sorted(files) == sorted(giga.files)
    [missing] = [row for row in run.rows if row["status"] == schema.STATUS_ERROR]
    assert missing["path"] == giga.missing_shards[0] and missing["error"].startswith("missing_shard:")
    entry = report_of(run, "gigamidi")
    assert entry["files"] == len(giga.files)
    assert entry["files_without_metadata"] == len(giga.files_without_metadata)
    assert entry["matched"] == len(giga.files) - len(giga.files_without_metadata)
    assert entry["metadata_without_files"] == len(giga.metadata_without_file)
    for md5, row in files.items():
        subset, split = giga.files[md5]
        assert row["path"].startswith(f"{subset}/{split}/GigaMIDI_{subset}_{split}_")
        if md5 not in giga.files_without_metadata:
            assert meta(row)["gigamidi"]["subset"] == subset and "median_metric_depth" in meta(row)["gigamidi"]
            assert row["source_labels"]["genre"] == "folk"


def test_gigamidi_without_drums_only_lists_no_drum_shards(tmp_path):
    giga = r.make_gigamidi(tmp_path, broken=True)
    run = read(f"gigamidi:{giga.root}", {"subsets": ["all-instruments-with-drums", "no-drums"]})
    md5s = {row["path"].rsplit("/", 1)[1][:-4] for row in run.rows if row["status"] == "pending"}
    assert md5s == set(giga.files) - set(giga.drums_only)
    assert run.sources[0]["listing"]["shards_left_out"] == {"drums-only/train": 2, "drums-only/validation": 1,
                                                            "drums-only/test": 1}
    [error] = [row for row in run.rows if row["status"] == schema.STATUS_ERROR]
    assert error["path"] == giga.broken_metadata and error["error"].startswith("bad_metadata:")
    with pytest.raises(SourceError, match="unknown subsets"):
        read(f"gigamidi:{giga.root}", {"subsets": ["drums"]})


def test_gigamidi_parquet_rows_are_records_with_their_columns(tmp_path):
    giga = r.make_gigamidi_parquet(tmp_path)
    run = read(f"gigamidi:{giga.root}", {"subsets": ["all-instruments-with-drums", "no-drums"]})
    assert len(run.rows) == giga.rows
    rejected = [row for row in run.rows if row["status"] == schema.STATUS_REJECTED]
    assert rejected and len(rejected) == len(giga.drums_only)
    assert all(row["reason"] == EXCLUDED and row["detail"] == "instrument_category=drums-only" for row in rejected)
    for row in run.rows:
        file, index = row["path"].split("#")
        assert file in giga.files and index.isdigit() and row["format"] == "midi"
        fields = meta(row)["gigamidi"]
        assert "music" not in fields and len(fields["md5"]) == 32  # the bytes column is the record, not metadata
    corrupt = [row for row in run.rows if meta(row)["gigamidi"]["md5"] in giga.corrupt_rows]
    assert len(corrupt) == len(giga.corrupt_rows) and all(row["status"] == "pending" for row in corrupt)


# -- Aria-MIDI, XMIDI, PDMX ------------------------------------------------------------------------


@pytest.mark.parametrize("padded", [False, True])
def test_aria_joins_metadata_by_file_id_and_scores_by_segment(tmp_path, padded):
    aria = r.make_aria_midi(tmp_path, padded_keys=padded)
    run = read(f"aria-midi:{aria.root}")
    rows = by_path(run)
    assert sorted(rows) == sorted(aria.files)
    entry = report_of(run, "aria_metadata")
    assert entry["files_without_metadata"] == len(aria.files_without_metadata)
    assert entry["examples"]["metadata_without_files"] == [str(int(k)) for k in aria.metadata_without_files]
    scores = report_of(run, "audio_scores")
    no_score = {Path(f).name for f in aria.files if Path(f).name in aria.segments_without_score
                or Path(f).name in aria.files_without_metadata}
    assert scores["files_without_metadata"] == len(no_score)
    assert scores["metadata_without_files"] == len(aria.scores_without_file) + len(aria.metadata_without_files)
    first = rows[aria.files[0]]
    assert first["source_labels"]["composer"] and first["source_labels"]["period"] == "classical"
    assert isinstance(meta(first)["audio_scores"]["audio_score"], float)
    [empty] = aria.metadata_without_genre
    empty_rows = [row for p, row in rows.items() if Path(p).name.startswith(f"{int(empty):06d}_")]
    assert empty_rows and all(meta(row)["aria_metadata"] == {} and row["source_labels"] is None for row in empty_rows)


def test_a_broken_aria_metadata_file_is_an_error_row_not_a_crash(tmp_path):
    aria = r.make_aria_midi(tmp_path, broken=True)
    run = read(f"aria-midi:{aria.root}")
    errors = [row for row in run.rows if row["status"] == schema.STATUS_ERROR]
    assert [row["path"] for row in errors] == ["metadata.json"]
    assert sum(row["status"] == "pending" for row in run.rows) == len(aria.files)
    assert report_of(run, "aria_metadata")["unreadable"].startswith("bad_metadata:")


def test_xmidi_labels_from_names_and_captions_by_file_name(tmp_path, midicaps):
    xmidi = r.make_xmidi(tmp_path, midicaps=midicaps)
    run = read(f"xmidi:{xmidi.root}")
    rows = {Path(p).name: row for p, row in by_path(run).items()}
    assert sorted(rows) == sorted(xmidi.files)
    for name, (emotion, genre) in xmidi.labels.items():
        assert rows[name]["source_labels"]["mood"] == emotion and rows[name]["source_labels"]["genre"] == genre
    names = report_of(run, "xmidi_name")
    assert names["examples"]["files_without_metadata"] == list(xmidi.unparseable_names)
    captions = report_of(run, "captions")
    assert captions["matched"] == len(xmidi.captioned)
    assert sorted(Path(p).name for p in captions["examples"]["files_without_metadata"]) == sorted(xmidi.uncaptioned)
    assert captions["examples"]["metadata_without_files"] == list(xmidi.captions_without_file)
    assert run.captions["shared_captions"] == len(xmidi.colliding_captions)


def test_pdmx_rows_carry_license_composer_and_their_csv_row(tmp_path):
    pdmx = r.make_pdmx(tmp_path)
    run = read(f"pdmx:{pdmx.root}")
    rows = by_path(run)
    assert sorted(rows) == sorted(m[2:] for m in pdmx.mxl_files)
    entry = report_of(run, "pdmx")
    assert entry["examples"]["files_without_metadata"] == [m[2:] for m in pdmx.mxl_without_row]
    assert entry["examples"]["metadata_without_files"] == [m[2:] for m in pdmx.rows_without_mxl]
    assert entry["matched"] == pdmx.rows - len(pdmx.rows_without_mxl)
    matched = [row for row in rows.values() if row.get("source_meta")]
    assert all(row["license"] == r.PUBLIC_DOMAIN[0] and row["format"] == "musicxml" for row in matched)
    assert {row["source_labels"]["composer"] for row in matched} == {c for _, c in r.PDMX_SOURCES}
    conflict = [row for row in matched if meta(row)["pdmx"]["path"] in pdmx.license_conflicts]
    assert len(conflict) == 1 and meta(conflict[0])["pdmx"]["license_conflict"] is True
    assert all(meta(row)["pdmx"]["pdf"] is None for row in matched)  # NA read as null


def test_pdmx_subset_and_broken_csv(tmp_path):
    pdmx = r.make_pdmx(tmp_path, broken=True)
    run = read(f"pdmx:{pdmx.root}", {"subset": "deduplicated"})
    [error] = [row for row in run.rows if row["status"] == schema.STATUS_ERROR]
    assert error["path"] == f"PDMX.csv:{pdmx.rows + 2}" and error["error"].startswith("bad_metadata_line:")
    listing = run.sources[0]["listing"]
    # The cut last row (the second upload) is an error; of the rest, the dedup flag leaves none out.
    assert listing["subset"] == "deduplicated" and listing["rows_left_out"] == 0
    assert all(row.get("source_meta") for row in run.rows if row["status"] == "pending")  # no row-less files
    with pytest.raises(SourceError, match="no subset 'best'"):
        read(f"pdmx:{pdmx.root}", {"subset": "best"})
