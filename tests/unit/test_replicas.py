"""The corpus replicas have the documented layout (read back with plain json/csv/tarfile/pyarrow,
not with the code that wrote them), plant exactly what their reports say, and give the same
bytes twice."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import tarfile
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import symusic

from symcorpus.testing import replicas as r


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tree(root: Path) -> dict[str, str]:
    """Every file under root, by relative path, with the sha256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def parses(data: bytes) -> bool:
    try:
        symusic.Score.from_midi(data)
    except Exception:  # symusic raises RuntimeError (or ValueError) on a broken file
        return False
    return True


def drum_flags(data: bytes) -> set[bool]:
    return {t.is_drum for t in symusic.Score.from_midi(data).tracks if len(t.notes)}


@pytest.fixture(scope="module")
def lakh(tmp_path_factory) -> r.LakhReplica:
    return r.make_lakh(tmp_path_factory.mktemp("lakh"))


@pytest.fixture(scope="module")
def midicaps(tmp_path_factory, lakh) -> r.MidiCapsReplica:
    return r.make_midicaps(tmp_path_factory.mktemp("midicaps"), lakh)


# -- Lakh --------------------------------------------------------------------------------------


def test_lakh_files_are_named_by_the_md5_of_their_bytes(lakh):
    files = sorted(str(p.relative_to(lakh.root)) for p in (lakh.root / "lmd_full").rglob("*.mid"))
    assert files == sorted(lakh.full_files) and len(files) == 17
    for rel in files:
        data = (lakh.root / rel).read_bytes()
        assert rel == f"lmd_full/{md5(data)[0]}/{md5(data)}.mid"
    assert [f for f in files if not parses((lakh.root / f).read_bytes())] == list(lakh.corrupt_files)


def test_lakh_metadata_joins_leave_what_was_planted(lakh):
    names = json.loads((lakh.root / "md5_to_paths.json").read_text())
    assert all(isinstance(v, list) and all(isinstance(p, str) for p in v) for v in names.values())
    assert any(len(v) != len(set(v)) for v in names.values())  # a repeated original name
    on_disk = {Path(f).stem for f in lakh.full_files}
    assert len(names) == lakh.paths_entries
    assert sorted(on_disk - set(names)) == list(lakh.files_without_paths_entry)
    assert sorted(set(names) - on_disk) == list(lakh.paths_entries_without_file)

    scores = json.loads((lakh.root / "match_scores.json").read_text())
    pairs = [(msd, m) for msd, by_md5 in scores.items() for m in by_md5]
    assert len(pairs) == lakh.match_pairs and list(scores) == list(lakh.msd_ids)
    assert all(re.fullmatch(r"TR[0-9A-Z]{16}", msd) for msd in scores)
    assert all(isinstance(s, float) and 0.5 < s <= 1 for by_md5 in scores.values() for s in by_md5.values())
    per_md5 = {m: sum(m in v for v in scores.values()) for _, m in pairs}
    assert [m for m, n in per_md5.items() if n > 1] == list(lakh.md5s_matched_to_several_msd_ids)
    for msd, m in pairs:
        matched = lakh.root / f"lmd_matched/{msd[2]}/{msd[3]}/{msd[4]}/{msd}/{m}.mid"
        assert matched.read_bytes() == (lakh.root / f"lmd_full/{m[0]}/{m}.mid").read_bytes()


def test_lakh_clean_subset_has_a_versioned_duplicate(lakh):
    clean = sorted(str(p.relative_to(lakh.root)) for p in (lakh.root / "clean_midi").rglob("*.mid"))
    assert clean == sorted(lakh.clean_files)
    assert [f for f in clean if re.search(r"\.\d+\.mid$", f)] == list(lakh.clean_versioned)
    assert all(re.fullmatch(r"clean_midi/[^/]+/[^/]+\.mid", f) and "..mid" not in f for f in clean)


def test_lakh_broken_metadata_option(tmp_path):
    rep = r.make_lakh(tmp_path, broken="match_scores")
    assert rep.broken_metadata == "match_scores.json"
    json.loads((tmp_path / "md5_to_paths.json").read_text())
    with pytest.raises(json.JSONDecodeError):
        json.loads((tmp_path / "match_scores.json").read_text())


# -- MidiCaps ----------------------------------------------------------------------------------


def test_midicaps_rows_have_the_card_fields_and_types(midicaps):
    rows = [json.loads(line) for line in (midicaps.root / "train.json").read_text().splitlines()]
    assert len(rows) == midicaps.rows
    for row in rows:
        assert tuple(row) == r.MIDICAPS_FIELDS
        assert re.fullmatch(r"lmd_full/[0-9a-f]/[0-9a-f]{32}\.mid", row["location"])
        assert all(isinstance(row[k], list) for k in ("genre", "genre_prob", "mood", "mood_prob", "chord_summary",
                                                      "instrument_summary", "instrument_numbers_sorted",
                                                      "all_chords", "all_chords_timestamps"))  # fmt: skip
        assert isinstance(row["tempo"], int) and isinstance(row["duration"], int)
        assert isinstance(row["test_set"], bool) and isinstance(row["caption"], str)
        assert re.fullmatch(r"[A-G][b#]? (major|minor|dorian|mixolydian|lydian|phrygian|locrian)", row["key"])
    assert sum(row["test_set"] for row in rows) == midicaps.test_set_rows


def test_midicaps_join_against_lakh_leaves_what_was_planted(midicaps, lakh):
    rows = [json.loads(line) for line in (midicaps.root / "train.json").read_text().splitlines()]
    on_disk = {str(p.relative_to(lakh.root)) for p in (lakh.root / "lmd_full").rglob("*.mid")}
    locations = [row["location"] for row in rows]
    assert sorted(set(locations) & on_disk) == sorted(midicaps.locations_with_file)
    assert sorted(set(locations) - on_disk) == list(midicaps.locations_without_file)
    assert sorted({loc for loc in locations if locations.count(loc) > 1}) == list(midicaps.duplicated_locations)
    assert sorted(on_disk - set(locations)) == sorted(midicaps.files_without_caption)
    by_caption: dict[str, set[str]] = {}
    for row in rows:
        by_caption.setdefault(row["caption"], set()).add(row["location"])
    assert [c for c, locs in by_caption.items() if len(locs) > 1] == list(midicaps.colliding_captions)
    # Amadeus's way: location -> caption (last row wins), then pieces keyed by caption.
    location_to_caption = {row["location"]: row["caption"] for row in rows}
    by_caption_key = {cap: loc for loc, cap in location_to_caption.items() if loc in on_disk}
    assert len(by_caption_key) == len(midicaps.locations_with_file) - len(midicaps.colliding_captions)


def test_midicaps_archive_holds_the_captioned_files(midicaps, lakh):
    with tarfile.open(midicaps.root / midicaps.archive, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert sorted(members) == sorted(midicaps.locations_with_file)
    assert all(data == (lakh.root / name).read_bytes() for name, data in members.items())
    assert gzip.open(midicaps.root / midicaps.archive).read(262)[257:262] == b"ustar"


def test_midicaps_broken_line_option(tmp_path, lakh):
    rep = r.make_midicaps(tmp_path, lakh, broken=True, archive=False)
    good, bad = 0, 0
    for line in (tmp_path / "train.json").read_text().splitlines():
        try:
            json.loads(line)
            good += 1
        except json.JSONDecodeError:
            bad += 1
    assert (good, bad) == (rep.rows, rep.broken_lines) == (rep.rows, 1)
    assert not (tmp_path / "midicaps.tar.gz").exists()


# -- GigaMIDI ----------------------------------------------------------------------------------


def test_gigamidi_shards_metadata_and_counts(tmp_path, lakh):
    rep = r.make_gigamidi(tmp_path, lakh=lakh, missing_shard=True)
    n_shards = json.loads((tmp_path / "n_shards.json").read_text())
    assert set(n_shards) == set(r.GIGAMIDI_SUBSETS)
    expected = [
        f"{s}/{sp}/GigaMIDI_{s}_{sp}_{i:04d}.tar" for s in n_shards for sp in n_shards[s] for i in range(n_shards[s][sp])
    ]
    present = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.tar"))
    assert present == sorted(rep.shards) and sorted(set(expected) - set(present)) == list(rep.missing_shards)

    files: dict[str, tuple[str, str]] = {}
    for rel in present:
        subset, split = rel.split("/")[:2]
        with tarfile.open(tmp_path / rel) as tar:
            for member in tar.getmembers():
                data = tar.extractfile(member).read()
                assert member.name == f"{md5(data)}.mid"
                files[md5(data)] = (subset, split)
                expected_flags = {"all-instruments-with-drums": {True, False}, "drums-only": {True}, "no-drums": {False}}
                assert drum_flags(data) == expected_flags[subset]
    assert files == rep.files
    assert sorted(m for m, (s, _) in files.items() if s == "drums-only") == sorted(rep.drums_only)

    described: set[str] = set()
    for subset in r.GIGAMIDI_SUBSETS:
        for split in r.GIGAMIDI_SPLITS:
            meta = json.loads((tmp_path / subset / f"metadata_{subset}_{split}.json").read_text())
            assert all(set(v) <= {"sid_matches", "mbid_matches", "title_scraped", "artist_scraped", "genres_scraped",
                                  "genres_discogs", "genres_tagtraum", "genres_lastfm", "median_metric_depth"}
                       for v in meta.values())  # fmt: skip
            described |= set(meta)
    assert sorted(set(files) - described) == sorted(rep.files_without_metadata)
    assert sorted(described - set(files)) == sorted(rep.metadata_without_file)
    assert len(rep.files_in_missing_shards) == 1 and not set(rep.files_in_missing_shards) & set(files)
    assert rep.shared_with_lakh == (Path(lakh.full_files[0]).stem,)
    assert files[rep.shared_with_lakh[0]] == ("no-drums", "train")


def test_gigamidi_broken_metadata_option(tmp_path):
    rep = r.make_gigamidi(tmp_path, broken=True)
    assert rep.broken_metadata == "no-drums/metadata_no-drums_train.json"
    with pytest.raises(json.JSONDecodeError):
        json.loads((tmp_path / rep.broken_metadata).read_text())
    json.loads((tmp_path / "drums-only/metadata_drums-only_train.json").read_text())


def test_gigamidi_parquet_has_the_bytes_in_music(tmp_path):
    rep = r.make_gigamidi_parquet(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.parquet")) == sorted(rep.files)
    rows = 0
    for rel in rep.files:
        assert re.fullmatch(r"v1\.1\.0/(train|validation|test)/\1-\d{5}-of-\d{5}\.parquet", rel)
        meta = pq.ParquetFile(tmp_path / rel).metadata
        assert meta.num_row_groups == -(-meta.num_rows // rep.row_group_size)
        table = pq.read_table(tmp_path / rel)
        assert str(table.schema.field("music").type) == "binary"
        for row in table.to_pylist():
            assert row["md5"] == md5(row["music"])
            assert parses(row["music"]) == (row["md5"] not in rep.corrupt_rows)
            assert (row["instrument_category"] == "drums-only") == (row["md5"] in rep.drums_only)
        rows += table.num_rows
    assert rows == rep.rows and len(rep.corrupt_rows) == 3


# -- Aria-MIDI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("padded", [False, True])
def test_aria_join_on_file_id_leaves_what_was_planted(tmp_path, padded):
    rep = r.make_aria_midi(tmp_path, padded_keys=padded)
    assert rep.root == tmp_path / "aria-midi-v1-pruned-ext"
    meta = json.loads((rep.root / "metadata.json").read_text())
    assert all(set(v) == {"metadata", "audio_scores"} for v in meta.values())
    assert all(re.fullmatch(r"\d{6}" if padded else r"[1-9]\d*", k) for k in meta)
    files = sorted(str(p.relative_to(rep.root)) for p in (rep.root / "data").rglob("*.mid"))
    assert files == sorted(rep.files)
    by_id = {int(k): v for k, v in meta.items()}  # compare ids as numbers, whatever the padding
    on_disk: dict[int, set[str]] = {}
    for rel in files:
        folder, name = rel.split("/")[1:]
        m = re.fullmatch(r"(\d{6})_(\d+)\.mid", name)
        assert m and folder == r.aria_dir(int(m.group(1)), 3)
        on_disk.setdefault(int(m.group(1)), set()).add(m.group(2))
    assert len(on_disk) == rep.recordings
    no_meta = [f"{i:06d}_{s}.mid" for i in sorted(on_disk) if i not in by_id for s in sorted(on_disk[i])]
    assert no_meta == list(rep.files_without_metadata)
    key = (lambda i: f"{i:06d}") if padded else str
    assert [key(i) for i in by_id if i not in on_disk] == list(rep.metadata_without_files)
    no_score = [f"{i:06d}_{s}.mid" for i in sorted(on_disk) if i in by_id for s in sorted(on_disk[i])
                if s not in by_id[i]["audio_scores"]]  # fmt: skip
    assert no_score == list(rep.segments_without_score)
    extra = [(key(i), s) for i in by_id if i in on_disk for s in by_id[i]["audio_scores"] if s not in on_disk[i]]
    assert extra == list(rep.scores_without_file)
    assert [key(i) for i, v in by_id.items() if not v["metadata"]] == list(rep.metadata_without_genre)


def test_aria_broken_metadata_option(tmp_path):
    rep = r.make_aria_midi(tmp_path, broken=True)
    with pytest.raises(json.JSONDecodeError):
        json.loads((rep.root / "metadata.json").read_text())


# -- XMIDI -------------------------------------------------------------------------------------


def test_xmidi_names_carry_the_labels_and_captions_join_by_file_name(tmp_path, midicaps):
    rep = r.make_xmidi(tmp_path, midicaps=midicaps)
    names = sorted(p.name for p in rep.root.glob("*.midi"))
    assert names == sorted(rep.files)
    pattern = re.compile(r"XMIDI_([a-z]+)_([a-z]+)_([0-9A-Z]{8})\.midi")
    labels = {n: pattern.fullmatch(n).groups()[:2] for n in names if pattern.fullmatch(n)}
    assert labels == rep.labels and sorted(set(names) - set(labels)) == list(rep.unparseable_names)
    assert all(e in r.XMIDI_EMOTIONS and g in r.XMIDI_GENRES for e, g in labels.values())

    rows = [json.loads(line) for line in (rep.root / rep.captions_file).read_text().splitlines()]
    assert all(set(row) == {"location", "caption"} for row in rows)
    locations = [row["location"] for row in rows]
    assert sorted(set(locations) & set(names)) == sorted(rep.captioned)
    assert sorted(set(names) - set(locations)) == sorted(rep.uncaptioned)
    assert sorted(set(locations) - set(names)) == list(rep.captions_without_file)
    captions = [row["caption"] for row in rows]
    assert [c for c in dict.fromkeys(captions) if captions.count(c) > 1] == list(rep.colliding_captions)
    assert set(rep.shared_with_midicaps) <= set(captions) & set(midicaps.captions.values())
    assert len(rep.shared_with_midicaps) == 1


# -- PDMX --------------------------------------------------------------------------------------


def test_pdmx_csv_files_and_subsets(tmp_path):
    rep = r.make_pdmx(tmp_path)
    with open(rep.root / "PDMX.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == r.PDMX_COLUMNS
        rows = list(reader)
    assert len(rows) == rep.rows
    assert all(row[c].startswith("./") for row in rows for c in ("path", "mxl") if row[c] != "NA")
    assert all(row[c] in ("True", "False") for row in rows for c in r.PDMX_COLUMNS if c.startswith(("subset:", "is_")))
    assert any(not row["composer_name"].isascii() for row in rows)  # UTF-8 text survives

    written = sorted("./" + str(p.relative_to(rep.root)) for p in (rep.root / "mxl").rglob("*.mxl"))
    assert written == sorted(rep.mxl_files)
    assert all(zipfile.is_zipfile(rep.root / m[2:]) for m in written)  # compressed MusicXML
    named = [row["mxl"] for row in rows]
    assert sorted(set(named) - set(written)) == list(rep.rows_without_mxl)
    assert sorted(set(written) - set(named)) == list(rep.mxl_without_row)
    assert [row["path"] for row in rows if row["metadata"] == "NA"] == list(rep.rows_without_metadata)
    for row in rows:
        if row["metadata"] != "NA":
            score = json.loads((rep.root / row["metadata"][2:]).read_text(encoding="utf-8"))["data"]["score"]
            assert score["title"] == row["title"] and score["composer_name"] == row["composer_name"]
            assert Path(row["metadata"]).stem != Path(row["path"]).stem  # joined through the row only
    assert [row["path"] for row in rows if row["license_conflict"] == "True"] == list(rep.license_conflicts)
    assert [row["path"] for row in rows if row["is_best_unique_arrangement"] == "False"] == list(rep.not_best_unique)
    dup = next(row for row in rows if row["is_best_unique_arrangement"] == "False")
    first = next(row for row in rows if row["path"] == dup["best_unique_arrangement"])
    assert (rep.root / dup["mxl"][2:]).read_bytes() == (rep.root / first["mxl"][2:]).read_bytes()
    for subset, count in rep.subset_counts.items():
        # PDMX writes "\n".join(paths) + "\n": an empty subset is one empty line.
        listed = [line for line in (rep.root / "subset_paths" / f"{subset}.txt").read_text().splitlines() if line]
        flagged = [row["path"] for row in rows if row[f"subset:{subset}"] == "True"]
        assert listed == flagged and len(flagged) == count


def test_pdmx_broken_csv_option(tmp_path):
    rep = r.make_pdmx(tmp_path, broken=True)
    with open(rep.root / "PDMX.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    widths = [len(row) for row in rows]
    assert widths[:-1] == [len(r.PDMX_COLUMNS)] * (rep.rows + 1)
    assert widths[-1] < len(r.PDMX_COLUMNS)


# -- Determinism -------------------------------------------------------------------------------


BUILDERS = {
    "lakh": lambda root: r.make_lakh(root, broken="md5_to_paths"),
    "midicaps": lambda root: r.make_midicaps(root / "caps", r.make_lakh(root / "lakh"), broken=True),
    "gigamidi": lambda root: r.make_gigamidi(root, missing_shard=True),
    "gigamidi_parquet": r.make_gigamidi_parquet,
    "aria_midi": lambda root: r.make_aria_midi(root, padded_keys=True),
    "xmidi": r.make_xmidi,
    "pdmx": r.make_pdmx,
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_same_arguments_give_the_same_bytes(tmp_path, name):
    first, second = BUILDERS[name](tmp_path / "a"), BUILDERS[name](tmp_path / "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b") and tree(tmp_path / "a")
    assert {k: v for k, v in vars(first).items() if k != "root"} == {
        k: v for k, v in vars(second).items() if k != "root"
    }
