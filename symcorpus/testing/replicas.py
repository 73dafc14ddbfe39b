"""Miniature replicas of the corpora that Amadeus's AMD and NotaGen's data are built from.

Each `make_*` writes a few tens of real pieces in the file and metadata layout that the corpus's
own release documents (docs/corpora.md says where each fact comes from), with the imperfections a
real release has: files without metadata, metadata without files, duplicated keys, colliding
captions, a corrupt file, and optionally a broken metadata file. Each returns a frozen dataclass
that lists exactly what it planted, so a join report can be checked to the row.

The music is real: ABC tunes from music21's bundled corpus rendered to MIDI by the project's own
converter, and music21's MusicXML files copied as they are. Same arguments, same bytes: archives
carry fixed timestamps and owners, JSON keys keep insertion order.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
import symusic

from symcorpus.music.abc_text import parse_header, split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.music.parse import ParseError
from symcorpus.sources.music21 import corpus_root as music21_corpus_root

# Every archive member gets this timestamp (2024-01-01 UTC) so two builds give the same bytes.
FIXED_MTIME = 1704067200


# ---------------------------------------------------------------------------------------------
# Real music, shared by all replicas
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One ABC tune of music21's corpus rendered to MIDI, with the header fields it came with."""

    book: str
    index: int
    title: str
    key: str
    meter: str
    composer: str
    midi: bytes

    @property
    def md5(self) -> str:
        return md5_hex(self.midi)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@lru_cache(maxsize=16)
def abc_pieces(book: str, count: int, skip: int = 0) -> tuple[Piece, ...]:
    """The first `count` tunes of `book` (after `skip`) that render to MIDI, in file order."""
    tunes = split_tunes((music21_corpus_root() / book).read_bytes())
    pieces: list[Piece] = []
    for tune in tunes[skip:]:
        if len(pieces) == count:
            break
        try:
            midi = to_midi(tune.content, "abc")
        except ParseError:
            continue  # a tune abc2midi cannot render is simply not used
        header = parse_header(tune.content.decode("latin-1"))
        pieces.append(
            Piece(
                book=book,
                index=tune.index,
                title=header.get("title", f"Tune {tune.index}").split(";")[0].strip(),
                key=header.get("key", "C"),
                meter=header.get("meter", "4/4"),
                composer=header.get("composer", ""),
                midi=midi,
            )
        )
    if len(pieces) < count:
        raise ValueError(f"{book} has only {len(pieces)} renderable tunes after {skip}, {count} asked")
    return tuple(pieces)


def drums_only(midi: bytes) -> bytes:
    """The piece's rhythm as a drum-only file: every track on the drum channel, pitches folded
    into the General MIDI percussion range (35-81) so the file reads as a drum groove."""
    score = symusic.Score.from_midi(midi)
    for track in score.tracks:
        track.is_drum = True
        track.program = 0
        for note in track.notes:
            note.pitch = 35 + note.pitch % 47
    return score.dumps_midi()


def with_drums(midi: bytes) -> bytes:
    """The piece plus a drum track that doubles the melody's onsets (a multi-instrument file)."""
    score = symusic.Score.from_midi(midi)
    drums = symusic.Track(name="Drums", program=0, is_drum=True)
    for note in score.tracks[0].notes:
        drums.notes.append(symusic.Note(note.time, min(note.duration, 120), 38, 90))
    score.tracks.append(drums)
    return score.dumps_midi()


def truncated(midi: bytes) -> bytes:
    """A file cut in the middle of its track, as corrupt downloads are."""
    return midi[: len(midi) // 2]


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)


def _tar(members: list[tuple[str, bytes]], *, owner: str = "", mode: int = 0o644) -> bytes:
    """An uncompressed tar with the members in the given order and fixed metadata."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = mode
            info.uname = info.gname = owner
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _half(text: str) -> str:
    """A metadata file cut in half: what an interrupted download leaves."""
    return text[: len(text) // 2]


def _filename_safe(text: str) -> str:
    # Titles often end with a full stop; "Title..mid" is not a name anyone would save.
    return "".join(c for c in text if c not in '/\\:*?"<>|').strip().rstrip(".") or "Untitled"


def _key_name(abc_key: str) -> str:
    """An ABC K: value ("E Minor", "Gm", "D") as MidiCaps writes keys ("E minor", "G major")."""
    parts = abc_key.split()
    tonic = parts[0] if parts else "C"
    mode = parts[1].lower() if len(parts) > 1 else ""
    if not mode and len(tonic) > 1 and tonic.endswith("m"):
        tonic, mode = tonic[:-1], "minor"
    if mode.startswith("min") or mode == "m":
        mode = "minor"
    elif mode not in ("dorian", "mixolydian", "lydian", "phrygian", "locrian"):
        mode = "major"
    return f"{tonic} {mode}"


# ---------------------------------------------------------------------------------------------
# Lakh MIDI (LMD-full, LMD-matched, clean_midi, md5_to_paths.json, match_scores.json)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LakhReplica:
    """What `make_lakh` wrote under `root`. Paths are relative to `root`, md5s are hex strings."""

    root: Path
    full_files: tuple[str, ...]  # every lmd_full/<h>/<md5>.mid written, corrupt one included
    corrupt_files: tuple[str, ...]  # lmd_full files that do not parse (truncated)
    titles: dict[str, str]  # md5 -> the tune's title, for every lmd_full file
    keys: dict[str, str]  # md5 -> the tune's ABC key (K:), for every lmd_full file
    paths_entries: int  # keys of md5_to_paths.json
    files_without_paths_entry: tuple[str, ...]  # md5s with a file but no md5_to_paths key
    paths_entries_without_file: tuple[str, ...]  # md5_to_paths keys with no lmd_full file
    match_pairs: int  # (msd_id, md5) pairs in match_scores.json
    msd_ids: tuple[str, ...]
    md5s_matched_to_several_msd_ids: tuple[str, ...]
    matched_files: tuple[str, ...]  # lmd_matched/<R>/<A>/<B>/<msd_id>/<md5>.mid, one per pair
    clean_files: tuple[str, ...]  # clean_midi/<Artist>/<Title>[.N].mid
    clean_versioned: tuple[str, ...]  # clean_midi files with a `.N` version suffix
    broken_metadata: str | None  # the JSON file written cut in half, if any

    def location(self, md5: str) -> str:
        """The LMD-full path of a file, as MidiCaps's `location` names it."""
        return f"lmd_full/{md5[0]}/{md5}.mid"


def msd_dir(msd_id: str) -> str:
    """LMD-matched nests each Million Song Dataset id as <3rd>/<4th>/<5th char>/<id>."""
    return f"{msd_id[2]}/{msd_id[3]}/{msd_id[4]}/{msd_id}"


def make_lakh(
    root: Path,
    n_files: int = 16,
    *,
    n_matched: int = 5,
    broken: Literal["md5_to_paths", "match_scores"] | None = None,
) -> LakhReplica:
    """LMD-full, LMD-matched, the clean MIDI subset and both metadata JSON files.

    Planted: one truncated file among the n_files + 1 in lmd_full (named by the md5 of its bytes,
    as every LMD file is); the last good file has no md5_to_paths entry, and one entry names a
    file that is absent; one original-path list repeats a path; one md5 is matched to two MSD ids
    and one MSD id to two md5s (so lmd_matched holds the same file twice); clean_midi holds a
    `Title.1.mid` second version of one song.
    """
    if n_files < 6 or not 1 <= n_matched < n_files - 1:
        raise ValueError("make_lakh needs n_files >= 6 and 1 <= n_matched < n_files - 1")
    root = Path(root)
    pieces = abc_pieces("airdsAirs/book1.abc", n_files + 2)
    good, corrupt_piece, absent_piece = pieces[:n_files], pieces[n_files], pieces[n_files + 1]
    blobs = [p.midi for p in good] + [truncated(corrupt_piece.midi)]
    md5s = [md5_hex(b) for b in blobs]
    titles = {m: p.title for m, p in zip(md5s, [*good, corrupt_piece])}
    keys = {m: p.key for m, p in zip(md5s, [*good, corrupt_piece])}

    full_files = []
    for md5, data in zip(md5s, blobs):
        rel = f"lmd_full/{md5[0]}/{md5}.mid"
        _write(root / rel, data)
        full_files.append(rel)

    # md5 -> original file names as scraped; lists may repeat a name (seen in the real file).
    without_entry = md5s[n_files - 1]
    absent_md5 = md5_hex(absent_piece.midi)
    md5_to_paths: dict[str, list[str]] = {}
    for i, md5 in enumerate(md5s):
        if md5 == without_entry:
            continue
        name = _filename_safe(titles[md5]) + ".mid"
        paths = [f"{name[0].upper()}/{name}", f"Midis Folk/{name}"]
        if i == 0:
            paths.append(paths[1])
        md5_to_paths[md5] = paths
    md5_to_paths[absent_md5] = [f"Lost/{_filename_safe(absent_piece.title)}.mid"]

    # msd_id -> {md5: score}; ids are "TR" + 16 upper-case characters like the MSD's.
    scores: dict[str, dict[str, float]] = {}
    matched = md5s[:n_matched]
    for i, md5 in enumerate(matched):
        msd = "TR" + md5[:16].upper()
        scores.setdefault(msd, {})[md5] = round(0.5 + 0.05 * i + int(md5[16:20], 16) / 2**20, 6)
    twice_matched = matched[0]
    extra_msd = "TR" + twice_matched[16:32].upper()
    scores[extra_msd] = {twice_matched: 0.61, md5s[n_matched]: 0.58}  # and one MSD id, two md5s

    matched_files = []
    for msd, by_md5 in scores.items():
        for md5 in by_md5:
            rel = f"lmd_matched/{msd_dir(msd)}/{md5}.mid"
            _write(root / rel, blobs[md5s.index(md5)])
            matched_files.append(rel)

    # clean_midi/<Artist>/<Title>.mid; a second version of a song is <Title>.1.mid.
    clean_files = []
    for i, piece in enumerate(good[:4]):
        rel = f"clean_midi/{_filename_safe(piece.composer or 'Aird, James')}/{_filename_safe(piece.title)}.mid"
        _write(root / rel, piece.midi)
        clean_files.append(rel)
    versioned = clean_files[0][: -len(".mid")] + ".1.mid"
    _write(root / versioned, good[4].midi)
    clean_files.append(versioned)

    texts = {
        "md5_to_paths": json.dumps(md5_to_paths, separators=(",", ":")),
        "match_scores": json.dumps(scores),
    }
    for name, text in texts.items():
        _write(root / f"{name}.json", _half(text) if broken == name else text)

    return LakhReplica(
        root=root,
        full_files=tuple(full_files),
        corrupt_files=(full_files[-1],),
        titles=titles,
        keys=keys,
        paths_entries=len(md5_to_paths),
        files_without_paths_entry=(without_entry,),
        paths_entries_without_file=(absent_md5,),
        match_pairs=sum(len(v) for v in scores.values()),
        msd_ids=tuple(scores),
        md5s_matched_to_several_msd_ids=(twice_matched,),
        matched_files=tuple(matched_files),
        clean_files=tuple(clean_files),
        clean_versioned=(versioned,),
        broken_metadata=f"{broken}.json" if broken else None,
    )


# ---------------------------------------------------------------------------------------------
# MidiCaps (train.json, JSON Lines keyed by `location` into LMD-full; midicaps.tar.gz)
# ---------------------------------------------------------------------------------------------

MIDICAPS_FIELDS = (
    "location", "caption", "genre", "genre_prob", "mood", "mood_prob", "key", "time_signature",
    "tempo", "tempo_word", "duration", "duration_word", "chord_summary", "chord_summary_occurence",
    "instrument_summary", "instrument_numbers_sorted", "all_chords", "all_chords_timestamps",
    "test_set",
)  # fmt: skip


@dataclass(frozen=True)
class MidiCapsReplica:
    root: Path
    rows: int  # JSON rows in train.json (the broken line not counted)
    locations_with_file: tuple[str, ...]  # distinct row locations that exist in the Lakh replica
    locations_without_file: tuple[str, ...]
    duplicated_locations: tuple[str, ...]  # locations named by more than one row
    colliding_captions: tuple[str, ...]  # caption strings shared by different locations
    files_without_caption: tuple[str, ...]  # LMD-full locations no row names
    broken_lines: int  # lines that are not JSON (a loader that skips them loses nothing else)
    test_set_rows: int
    archive: str | None  # midicaps.tar.gz, holding the captioned files that exist
    captions: dict[str, str] = field(default_factory=dict)  # location -> last caption written


def _tempo_word(bpm: float) -> str:
    # MidiCaps's Italian tempo words with its cut-offs (40/60/70/90/110/140/160/210).
    for limit, word in ((40, "Grave"), (60, "Largo"), (70, "Adagio"), (90, "Andante"),
                        (110, "Moderato"), (140, "Allegro"), (160, "Vivace"), (210, "Presto")):  # fmt: skip
        if bpm < limit:
            return word
    return "Prestissimo"


def _duration_word(seconds: float) -> str:
    if seconds <= 30:
        return "Short fragment"
    if seconds <= 120:
        return "Short song"
    return "Song" if seconds <= 300 else "Long piece"


def _midicaps_row(location: str, title: str, abc_key: str, midi: bytes, test_set: bool) -> dict:
    score = symusic.Score.from_midi(midi)
    bpm = round(score.tempos[0].qpm) if len(score.tempos) else 120
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    meter = f"{ts.numerator}/{ts.denominator}" if ts else "4/4"
    seconds = score.to("second").end()
    key = _key_name(abc_key)
    tempo_word = _tempo_word(bpm)
    return {
        "location": location,
        "caption": f"{tempo_word} folk air in {key} and {meter}, '{title}', played on piano.",
        "genre": ["folk", "classical"],
        "genre_prob": [0.61, 0.22],
        "mood": ["calm", "melancholic", "relaxing", "soft", "emotional"],
        "mood_prob": [0.3, 0.2, 0.15, 0.1, 0.05],
        "key": key,
        "time_signature": meter,
        "tempo": bpm,
        "tempo_word": tempo_word,
        "duration": int(round(seconds)),
        "duration_word": _duration_word(seconds),
        "chord_summary": [key.split()[0], key.split()[0]],
        "chord_summary_occurence": 2,
        "instrument_summary": ["Piano"],
        "instrument_numbers_sorted": [0],
        "all_chords": [key.split()[0]],
        "all_chords_timestamps": [0.0],
        "test_set": test_set,
    }


def make_midicaps(
    root: Path, lakh: LakhReplica, n_captioned: int = 10, *, broken: bool = False, archive: bool = True
) -> MidiCapsReplica:
    """train.json (one JSON object per line) for the first `n_captioned` parseable LMD-full files.

    Planted: a second row for one location (a different caption); a row whose location has no
    file; two different locations with the very same caption (a loader keyed by caption keeps one);
    the LMD-full files past `n_captioned` have no row; with `broken`, a line cut in half.
    """
    good = [f for f in lakh.full_files if f not in lakh.corrupt_files]
    if not 4 <= n_captioned <= len(good):
        raise ValueError(f"make_midicaps needs 4 <= n_captioned <= {len(good)}")
    root = Path(root)
    captioned = good[:n_captioned]
    rows: list[dict] = []
    for i, rel in enumerate(captioned):
        md5 = Path(rel).stem
        midi = (lakh.root / rel).read_bytes()
        rows.append(_midicaps_row(rel, lakh.titles[md5], lakh.keys[md5], midi, test_set=(i % 5 == 4)))
    # The same caption for two different files (the second copies the first's caption).
    rows[2]["caption"] = rows[1]["caption"]
    # A second row for an existing location, with another caption.
    dup = dict(rows[3], caption=rows[3]["caption"].replace("played on piano", "for solo piano"))
    rows.append(dup)
    # A row whose file is not in LMD-full.
    ghost_md5 = md5_hex(b"not in lmd_full")
    ghost = dict(rows[0], location=lakh.location(ghost_md5), caption="A lost tune, never shipped.")
    rows.append(ghost)

    lines = [json.dumps(row) for row in rows]
    if broken:
        lines.insert(len(lines) // 2, _half(lines[0]))
    _write(root / "train.json", "\n".join(lines) + "\n")

    archive_name = None
    if archive:
        members = [(rel, (lakh.root / rel).read_bytes()) for rel in captioned]
        _write(root / "midicaps.tar.gz", _gzip(_tar(members)))
        archive_name = "midicaps.tar.gz"

    captions: dict[str, str] = {}
    by_caption: dict[str, set[str]] = {}
    for row in rows:
        captions[row["location"]] = row["caption"]
        by_caption.setdefault(row["caption"], set()).add(row["location"])
    locations = list(dict.fromkeys(row["location"] for row in rows))
    counts = {loc: sum(r["location"] == loc for r in rows) for loc in locations}
    full = set(lakh.full_files)
    return MidiCapsReplica(
        root=root,
        rows=len(rows),
        locations_with_file=tuple(loc for loc in locations if loc in full),
        locations_without_file=tuple(loc for loc in locations if loc not in full),
        duplicated_locations=tuple(loc for loc in locations if counts[loc] > 1),
        colliding_captions=tuple(c for c, locs in by_caption.items() if len(locs) > 1),
        files_without_caption=tuple(f for f in lakh.full_files if f not in counts),
        broken_lines=1 if broken else 0,
        test_set_rows=sum(bool(r["test_set"]) for r in rows),
        archive=archive_name,
        captions=captions,
    )


# ---------------------------------------------------------------------------------------------
# GigaMIDI: WebDataset tar shards + per-subset/split metadata JSON; Hugging Face Parquet
# ---------------------------------------------------------------------------------------------

GIGAMIDI_SUBSETS = ("all-instruments-with-drums", "drums-only", "no-drums")
GIGAMIDI_SPLITS = ("train", "validation", "test")
# How a tune becomes a file of each subset.
GIGAMIDI_RENDER = {
    "all-instruments-with-drums": with_drums,
    "drums-only": drums_only,
    "no-drums": lambda midi: midi,
}


@dataclass(frozen=True)
class GigaMidiReplica:
    root: Path
    files: dict[str, tuple[str, str]]  # md5 -> (subset, split) of every file in a shard
    drums_only: tuple[str, ...]  # md5s of the drums-only subset (Amadeus skips these)
    files_without_metadata: tuple[str, ...]
    metadata_without_file: tuple[str, ...]  # entries written (a broken file's included) with no file
    shards: tuple[str, ...]  # tar files written, relative to root
    missing_shards: tuple[str, ...]  # counted in n_shards.json but absent
    files_in_missing_shards: tuple[str, ...]  # md5s that metadata describes but that were lost
    shared_with_lakh: tuple[str, ...]  # md5s also in the Lakh replica (GigaMIDI includes LMD)
    broken_metadata: str | None


def _gigamidi_metadata(piece: Piece, i: int) -> dict:
    # The fields GigaMIDI's builder writes, only when it has them (an md5 with none is absent).
    meta: dict = {
        "sid_matches": [[f"{piece.md5[:22]}", round(0.7 + 0.01 * i, 4)]],
        "mbid_matches": [[f"{piece.md5[:22]}", [f"{piece.md5[:8]}-{piece.md5[8:12]}-{piece.md5[12:16]}-"
                                                  f"{piece.md5[16:20]}-{piece.md5[20:32]}"]]],
        "title_scraped": piece.title,
        "artist_scraped": piece.composer or "Aird, James",
        "genres_scraped": ["folk", "traditional"],
        "genres_discogs": {"folk, world, & country": 3},
        "median_metric_depth": [0],
    }  # fmt: skip
    if i % 3 == 2:
        del meta["sid_matches"], meta["mbid_matches"]  # most files have no Spotify match
    return meta


def make_gigamidi(
    root: Path,
    per_split: dict[str, int] | None = None,
    *,
    shard_size: int = 3,
    lakh: LakhReplica | None = None,
    missing_shard: bool = False,
    broken: bool = False,
) -> GigaMidiReplica:
    """`{subset}/{split}/GigaMIDI_{subset}_{split}_{NNNN}.tar` shards of `<md5>.mid` members,
    `{subset}/metadata_{subset}_{split}.json` ({md5: {...}}) and `n_shards.json`.

    Planted: drums-only files; in each subset/split the last file has no metadata entry (the
    builder only writes md5s it has metadata for) and one entry has no file; with `lakh`, one
    LMD-full file also sits in no-drums/train; with `missing_shard`, the last drums-only/train
    shard is counted but absent; with `broken`, no-drums/train's metadata is cut in half.
    """
    root = Path(root)
    per_split = per_split or {"train": 4, "validation": 1, "test": 1}
    total = sum(per_split.values()) * len(GIGAMIDI_SUBSETS)
    pieces = iter(abc_pieces("airdsAirs/book2.abc", total + len(GIGAMIDI_SUBSETS) * len(GIGAMIDI_SPLITS)))

    files: dict[str, tuple[str, str]] = {}
    without_meta, described, shards, missing, lost, shared = [], [], [], [], [], []
    n_shards: dict[str, dict[str, int]] = {}
    broken_name = None
    for subset in GIGAMIDI_SUBSETS:
        n_shards[subset] = {}
        for split in GIGAMIDI_SPLITS:
            count = per_split.get(split, 0)
            members = [(p, GIGAMIDI_RENDER[subset](p.midi)) for p in (next(pieces) for _ in range(count))]
            if lakh is not None and subset == "no-drums" and split == "train":
                shared_md5 = Path(lakh.full_files[0]).stem
                members.append((None, (lakh.root / lakh.full_files[0]).read_bytes()))
                shared.append(shared_md5)
            metadata: dict[str, dict] = {}
            for i, (piece, data) in enumerate(members):
                md5 = md5_hex(data)
                if piece is not None and i != len(members) - 1:
                    metadata[md5] = _gigamidi_metadata(piece, i)
                else:
                    without_meta.append(md5)
            absent = next(pieces)
            metadata[md5_hex(GIGAMIDI_RENDER[subset](absent.midi))] = _gigamidi_metadata(absent, 0)
            described.extend(metadata)

            chunks = [members[i : i + shard_size] for i in range(0, len(members), shard_size)]
            n_shards[subset][split] = len(chunks)
            for shard_idx, chunk in enumerate(chunks):
                rel = f"{subset}/{split}/GigaMIDI_{subset}_{split}_{shard_idx:04d}.tar"
                chunk_md5s = [md5_hex(data) for _, data in chunk]
                last_drums_train = subset == "drums-only" and split == "train" and shard_idx == len(chunks) - 1
                if missing_shard and last_drums_train:
                    missing.append(rel)
                    lost.extend(chunk_md5s)
                    continue
                # WebDataset writes `<key>.<ext>` members, read-only, owned by "bigdata".
                named = [(f"{m}.mid", data) for m, (_, data) in zip(chunk_md5s, chunk)]
                tar = _tar(named, owner="bigdata", mode=0o444)
                _write(root / rel, tar)
                shards.append(rel)
                for m in chunk_md5s:
                    files[m] = (subset, split)

            text = json.dumps(metadata)
            meta_rel = f"{subset}/metadata_{subset}_{split}.json"
            if broken and subset == "no-drums" and split == "train":
                text, broken_name = _half(text), meta_rel
            _write(root / meta_rel, text)
    _write(root / "n_shards.json", json.dumps(n_shards, indent=4))

    return GigaMidiReplica(
        root=root,
        files=files,
        drums_only=tuple(m for m, (s, _) in files.items() if s == "drums-only"),
        files_without_metadata=tuple(m for m in without_meta if m in files),
        metadata_without_file=tuple(m for m in described if m not in files),
        shards=tuple(shards),
        missing_shards=tuple(missing),
        files_in_missing_shards=tuple(lost),
        shared_with_lakh=tuple(shared),
        broken_metadata=broken_name,
    )


@dataclass(frozen=True)
class GigaMidiParquetReplica:
    root: Path
    files: tuple[str, ...]  # parquet files, relative to root
    rows: int
    rows_per_split: dict[str, int]
    drums_only: tuple[str, ...]  # md5s whose instrument_category is drums-only
    corrupt_rows: tuple[str, ...]  # md5s whose `music` bytes are not a MIDI file
    row_group_size: int


GIGAMIDI_PARQUET_SCHEMA = pa.schema(
    [
        ("md5", pa.string()),
        ("music", pa.binary()),
        ("instrument_category", pa.string()),
        ("title_scraped", pa.string()),
        ("artist_scraped", pa.string()),
        ("genres_scraped", pa.list_(pa.string())),
        ("median_metric_depth", pa.list_(pa.int16())),
    ]
)


def make_gigamidi_parquet(
    root: Path, per_split: dict[str, int] | None = None, *, version: str = "v1.1.0", row_group_size: int = 4
) -> GigaMidiParquetReplica:
    """The Hugging Face release: `{version}/{split}/*.parquet` with the MIDI bytes in `music`.

    One row per file; subsets are a column (`instrument_category`) rather than folders. Planted:
    drums-only rows, and one row per split whose `music` is a truncated file. Several row groups
    per file, so readers that range-read row groups get exercised.
    """
    root = Path(root)
    per_split = per_split or {"train": 9, "validation": 3, "test": 3}
    pieces = iter(abc_pieces("airdsAirs/book5.abc", sum(per_split.values())))
    files, drums, corrupt = [], [], []
    rows_per_split: dict[str, int] = {}
    for split in GIGAMIDI_SPLITS:
        columns: dict[str, list] = {name: [] for name in GIGAMIDI_PARQUET_SCHEMA.names}
        for i in range(per_split.get(split, 0)):
            piece = next(pieces)
            category = GIGAMIDI_SUBSETS[i % 3]
            data = GIGAMIDI_RENDER[category](piece.midi)
            if i == 2:  # a no-drums row whose bytes were cut short
                data = truncated(data)
                corrupt.append(md5_hex(data))
            md5 = md5_hex(data)
            if category == "drums-only":
                drums.append(md5)
            columns["md5"].append(md5)
            columns["music"].append(data)
            columns["instrument_category"].append(category)
            columns["title_scraped"].append(piece.title)
            columns["artist_scraped"].append(piece.composer or None)
            columns["genres_scraped"].append(["folk"] if i % 2 == 0 else [])
            columns["median_metric_depth"].append([0] * (1 + (category == "all-instruments-with-drums")))
        rows_per_split[split] = len(columns["md5"])
        rel = f"{version}/{split}/{split}-00000-of-00001.parquet"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        table = pa.table(columns, schema=GIGAMIDI_PARQUET_SCHEMA)
        pq.write_table(table, root / rel, row_group_size=row_group_size)
        files.append(rel)
    return GigaMidiParquetReplica(
        root=root,
        files=tuple(files),
        rows=sum(rows_per_split.values()),
        rows_per_split=rows_per_split,
        drums_only=tuple(drums),
        corrupt_rows=tuple(corrupt),
        row_group_size=row_group_size,
    )


# ---------------------------------------------------------------------------------------------
# Aria-MIDI: data/<aa..>/<file_id>_<segment>.mid and metadata.json
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AriaMidiReplica:
    root: Path  # the extracted archive folder, aria-midi-v1-<subset>-ext
    files: tuple[str, ...]  # relative paths of every segment file
    recordings: int  # distinct file_ids with at least one file
    padded_keys: bool  # metadata keys written like the file names ("000007") or bare ("7")
    segments_without_score: tuple[str, ...]  # file names whose segment has no audio score
    scores_without_file: tuple[tuple[str, str], ...]  # (metadata key, segment) with no file
    files_without_metadata: tuple[str, ...]  # file names whose file_id has no metadata entry
    metadata_without_files: tuple[str, ...]  # metadata keys with no file at all
    metadata_without_genre: tuple[str, ...]  # keys whose "metadata" object is empty
    broken_metadata: bool


def aria_name(file_id: int, segment: int) -> str:
    return f"{file_id:06d}_{segment}.mid"


def aria_dir(file_id: int, ids_per_dir: int) -> str:
    """Consecutive file_ids share a two-letter folder: aa, ab, ... (2000 ids each in the release)."""
    n = (file_id - 1) // ids_per_dir
    return chr(ord("a") + n // 26) + chr(ord("a") + n % 26)


def make_aria_midi(
    root: Path,
    n_recordings: int = 7,
    *,
    subset: str = "pruned",
    ids_per_dir: int = 3,
    padded_keys: bool = False,
    broken: bool = False,
    composers: dict[int, str] | None = None,
) -> AriaMidiReplica:
    """`aria-midi-v1-{subset}-ext/` with `metadata.json` and `data/<dir>/<file_id>_<seg>.mid`.

    Recording r (file_id r, from 1) has 1 + r % 3 segments. Planted: the last segment of
    recording 2 has no audio score; recording 3 scores a segment that has no file; recording 4 has
    no metadata entry; one entry (the recording after the last) has no files; recording 5's
    "metadata" object is empty. With `broken`, metadata.json is cut in half. `composers`: file_id ->
    the composer its metadata names (default: the first tune's own credit, or James Aird).
    """
    if n_recordings < 5:
        raise ValueError("make_aria_midi needs n_recordings >= 5")
    base = Path(root) / f"aria-midi-v1-{subset}-ext"
    seg_counts = [1 + r % 3 for r in range(1, n_recordings + 1)]
    pieces = iter(abc_pieces("airdsAirs/book3.abc", sum(seg_counts)))
    files, no_score, scores_only, no_meta = [], [], [], []
    metadata: dict[str, dict] = {}
    for file_id, n_segments in zip(range(1, n_recordings + 1), seg_counts):
        key = f"{file_id:06d}" if padded_keys else str(file_id)
        scores: dict[str, float] = {}
        first = None
        for seg in range(n_segments):
            piece = next(pieces)
            first = first or piece
            rel = f"data/{aria_dir(file_id, ids_per_dir)}/{aria_name(file_id, seg)}"
            _write(base / rel, piece.midi)
            files.append(rel)
            if file_id == 2 and seg == n_segments - 1:
                no_score.append(aria_name(file_id, seg))
            else:
                scores[str(seg)] = round(0.9 + 0.01 * ((file_id + seg) % 9), 4)
        if file_id == 3:
            scores[str(n_segments)] = 0.95
            scores_only.append((key, str(n_segments)))
        if file_id == 4:
            no_meta.extend(aria_name(file_id, s) for s in range(n_segments))
            continue
        composer = (composers or {}).get(file_id) or first.composer or "James Aird"
        info = {} if file_id == 5 else {"genre": "folk", "composer": composer, "music_period": "classical"}
        metadata[key] = {"metadata": info, "audio_scores": scores}
    orphan_id = n_recordings + 1
    orphan = f"{orphan_id:06d}" if padded_keys else str(orphan_id)
    metadata[orphan] = {"metadata": {"genre": "classical"}, "audio_scores": {"0": 0.97}}

    text = json.dumps(metadata)
    _write(base / "metadata.json", _half(text) if broken else text)
    key5 = "000005" if padded_keys else "5"
    return AriaMidiReplica(
        root=base,
        files=tuple(files),
        recordings=n_recordings,
        padded_keys=padded_keys,
        segments_without_score=tuple(no_score),
        scores_without_file=tuple(scores_only),
        files_without_metadata=tuple(no_meta),
        metadata_without_files=(orphan,),
        metadata_without_genre=(key5,),
        broken_metadata=broken,
    )


# ---------------------------------------------------------------------------------------------
# XMIDI: XMIDI_<emotion>_<genre>_<ID8>.midi; Amadeus's caption file keyed by "<stem>.midi"
# ---------------------------------------------------------------------------------------------

XMIDI_EMOTIONS = (
    "exciting", "warm", "happy", "romantic", "funny", "sad", "angry", "lazy", "quiet", "fear", "magnificent",
)  # fmt: skip
XMIDI_GENRES = ("rock", "pop", "country", "jazz", "classical", "traditional")


@dataclass(frozen=True)
class XmidiReplica:
    root: Path  # the XMIDI_Dataset folder
    files: tuple[str, ...]  # file names
    labels: dict[str, tuple[str, str]]  # file name -> (emotion, genre), for names that parse
    unparseable_names: tuple[str, ...]  # files whose name does not follow the pattern
    captions_file: str | None  # all_captions.json, one JSON object per line
    captioned: tuple[str, ...]  # file names with a caption row
    uncaptioned: tuple[str, ...]
    captions_without_file: tuple[str, ...]  # `location` values with no file
    colliding_captions: tuple[str, ...]  # captions shared by different files
    shared_with_midicaps: tuple[str, ...]  # captions also used by a MidiCaps row


def make_xmidi(
    root: Path, n_files: int = 10, *, captions: bool = True, midicaps: MidiCapsReplica | None = None
) -> XmidiReplica:
    """`XMIDI_Dataset/XMIDI_<emotion>_<genre>_<ID>.midi`, ID = 8 upper-case letters and digits,
    plus Amadeus's `all_captions.json` ({"location": "<file name>", "caption": ...} per line).

    Planted: one file named outside the pattern (a 6-character id); the last two files have no
    caption; one caption row names a missing file; two files share a caption; with `midicaps`,
    one file reuses a MidiCaps caption (a merged dict keyed by caption keeps one of the two).
    """
    if n_files < 5:
        raise ValueError("make_xmidi needs n_files >= 5")
    base = Path(root) / "XMIDI_Dataset"
    pieces = abc_pieces("airdsAirs/book4.abc", n_files)
    names, labels = [], {}
    for i, piece in enumerate(pieces):
        emotion, genre = XMIDI_EMOTIONS[i % len(XMIDI_EMOTIONS)], XMIDI_GENRES[i % len(XMIDI_GENRES)]
        ident = piece.md5[:8].upper() if i != n_files - 3 else piece.md5[:6].upper()
        name = f"XMIDI_{emotion}_{genre}_{ident}.midi"
        _write(base / name, piece.midi)
        names.append(name)
        if len(ident) == 8:
            labels[name] = (emotion, genre)

    captioned, rows, shared = names[:-2], [], []
    for i, name in enumerate(captioned):
        emotion, genre = labels.get(name, ("", ""))
        caption = f"A {emotion or 'moody'} {genre or 'folk'} piece, '{pieces[i].title}'."
        rows.append({"location": name, "caption": caption})
    rows[1]["caption"] = rows[0]["caption"]
    if midicaps is not None:
        rows[2]["caption"] = next(iter(midicaps.captions.values()))
        shared.append(rows[2]["caption"])
    ghost = "XMIDI_sad_jazz_ZZZZ0000.midi"
    rows.append({"location": ghost, "caption": "A sad jazz piece that was never shipped."})
    if captions:
        _write(base / "all_captions.json", "".join(json.dumps(r) + "\n" for r in rows))

    by_caption: dict[str, set[str]] = {}
    for r in rows:
        by_caption.setdefault(r["caption"], set()).add(r["location"])
    return XmidiReplica(
        root=base,
        files=tuple(names),
        labels=labels,
        unparseable_names=tuple(n for n in names if n not in labels),
        captions_file="all_captions.json" if captions else None,
        captioned=tuple(captioned) if captions else (),
        uncaptioned=tuple(names[-2:]) if captions else tuple(names),
        captions_without_file=(ghost,) if captions else (),
        colliding_captions=tuple(c for c, locs in by_caption.items() if len(locs) > 1) if captions else (),
        shared_with_midicaps=tuple(shared) if captions else (),
    )


# ---------------------------------------------------------------------------------------------
# PDMX: PDMX.csv + mxl/ + metadata/ + subset_paths/
# ---------------------------------------------------------------------------------------------

PDMX_COLUMNS = (
    "path", "metadata", "mxl", "pdf", "mid", "version", "is_rated", "n_ratings", "rating",
    "license", "license_url", "license_conflict", "genres", "groups", "tags", "song_name", "title",
    "subtitle", "artist_name", "composer_name", "publisher", "complexity", "best_path",
    "is_best_path", "best_arrangement", "is_best_arrangement", "best_unique_arrangement",
    "is_best_unique_arrangement", "subset:all", "subset:rated", "subset:deduplicated",
    "subset:rated_deduplicated", "subset:no_license_conflict", "subset:all_valid",
)  # fmt: skip
PDMX_SUBSETS = ("all", "rated", "deduplicated", "rated_deduplicated", "no_license_conflict", "all_valid")
PUBLIC_DOMAIN = ("publicdomain", "https://creativecommons.org/publicdomain/mark/1.0/")

# Small MusicXML files of music21's corpus, with the composer name a MuseScore user would type.
PDMX_SOURCES = (
    ("bach/bwv1.6.mxl", "Johann Sebastian Bach"),
    ("bach/bwv10.7.mxl", "Johann Sebastian Bach"),
    ("bach/bwv101.7.mxl", "Johann Sebastian Bach"),
    ("bach/bwv102.7.mxl", "Johann Sebastian Bach"),
    ("bach/bwv103.6.mxl", "Johann Sebastian Bach"),
    ("bach/bwv104.6.mxl", "Johann Sebastian Bach"),
    ("bach/bwv108.6.mxl", "Johann Sebastian Bach"),
    ("monteverdi/madrigal.3.1.mxl", "Claudio Monteverdi"),
    ("schumann_clara/polonaise_op1n1.mxl", "Clara Schumann née Wieck"),
    ("trecento/PMFC_13_01-Kyrie-Summe-Clementissime.mxl", "Anonymous"),  # its title names a genre (mass)
    ("bach/bwv1.6.mxl", "Johann Sebastian Bach"),  # uploaded again by another user
)


@dataclass(frozen=True)
class PdmxReplica:
    root: Path  # the PDMX folder holding PDMX.csv
    rows: int  # data rows of PDMX.csv (the cut row of a broken file not counted)
    mxl_files: tuple[str, ...]  # mxl files written, as the CSV names them ("./mxl/...")
    rows_without_mxl: tuple[str, ...]  # `mxl` values whose file is absent
    mxl_without_row: tuple[str, ...]  # mxl files that no row names
    rows_without_metadata: tuple[str, ...]  # `path` of rows whose `metadata` is NA
    license_conflicts: tuple[str, ...]  # `path` of rows with license_conflict True
    not_best_unique: tuple[str, ...]  # `path` of rows deduplicated away
    subset_counts: dict[str, int]
    broken_csv: bool
    musicrender_json_written: bool = False  # `path` names MusicRender JSON, which is not written


def _pdmx_metadata(title: str, composer: str, rated: bool, genre: str) -> dict:
    # The parts of MuseScore's score JSON that PDMX's builder reads.
    score = {
        "title": title,
        "song_name": title,
        "subtitle": None,
        "artist_name": None,
        "composer_name": composer,
        "publisher": None,
        "license": PUBLIC_DOMAIN[0],
        "tags": ["chorale"],
        "rating": {"count": 3, "rating": 4.67} if rated else None,
        "user": {"is_pro": False, "is_publisher": False, "is_staff": False},
    }
    return {"data": {"score": score, "genres": [{"name": genre}], "groups": [], "license_url": PUBLIC_DOMAIN[1],
                     "complexity": 2, "count_views": 120, "count_favorites": 4, "count_comments": 0}}  # fmt: skip


def make_pdmx(root: Path, *, broken: bool = False) -> PdmxReplica:
    """`PDMX/PDMX.csv` with `mxl/<p>/<c>/<id>.mxl` (music21's MusicXML, copied as is),
    `metadata/<letter>/<char>/<other id>.json` and `subset_paths/<subset>.txt`.

    Score files and their metadata JSON are named by different ids (PDMX joins them through the
    CSV row, never by name). Planted: one row's mxl is absent; one mxl file has no row; one row has
    metadata NA; one row has a license conflict; the last score is a second upload of the
    first (same bytes, title and composer), deduplicated away; with `broken`, the last line is cut in half.
    `pdf` and `mid` are NA (so `subset:all_valid` is empty) and the MusicRender JSON that `path`
    names is not written.
    """
    base = Path(root) / "PDMX"
    m21 = music21_corpus_root()
    sources = list(PDMX_SOURCES)
    rows: list[dict] = []
    mxl_written: list[str] = []
    for i, (rel_src, composer) in enumerate(sources):
        parent, child = i % 18, (7 * i) % 59
        score_id = f"{5000000 + 7919 * i}"
        title = Path(rel_src).stem.replace(".", " ").title()
        path = f"./data/{parent}/{child}/{score_id}.json"
        mxl = f"./mxl/{parent}/{child}/{score_id}.mxl"
        meta_rel = f"./metadata/{'abcdefNPQRSTUVWXYZ'[parent]}/{'123456789aAbBcC'[child % 15]}/{9000 + i}.json"
        rated, conflict, has_meta = i % 2 == 0, i == 3, i != 5
        if has_meta:
            _write(base / meta_rel, json.dumps(_pdmx_metadata(title, composer, rated, "classical")))
        if i != 4:  # the score of row 4 was never converted
            _write(base / mxl[2:], (m21 / rel_src).read_bytes())
            mxl_written.append(mxl)
        best = rows[0]["path"] if i == len(sources) - 1 else path
        rows.append({
            "path": path, "metadata": meta_rel if has_meta else None, "mxl": mxl, "pdf": None, "mid": None,
            "version": "3.6.2", "is_rated": rated, "n_ratings": 3 if rated else 0, "rating": 4.67 if rated else 0,
            "license": PUBLIC_DOMAIN[0], "license_url": PUBLIC_DOMAIN[1], "license_conflict": conflict,
            "genres": "classical", "groups": None, "tags": "chorale", "song_name": title, "title": title,
            "subtitle": None, "artist_name": None, "composer_name": composer, "publisher": None, "complexity": 2,
            "best_path": best, "is_best_path": best == path, "best_arrangement": best,
            "is_best_arrangement": best == path, "best_unique_arrangement": best,
            "is_best_unique_arrangement": best == path,
        })  # fmt: skip
    stray = "./mxl/17/58/6000001.mxl"
    _write(base / stray[2:], (m21 / "bach/bwv66.6.mxl").read_bytes())
    mxl_written.append(stray)

    for row in rows:
        row["subset:all"] = True
        row["subset:rated"] = row["is_rated"]
        row["subset:deduplicated"] = row["is_best_unique_arrangement"]
        row["subset:rated_deduplicated"] = row["is_rated"] and row["is_best_unique_arrangement"]
        row["subset:no_license_conflict"] = not row["license_conflict"]
        row["subset:all_valid"] = all(row[c] is not None for c in ("mxl", "pdf", "mid"))

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PDMX_COLUMNS)
    for row in rows:
        writer.writerow(["NA" if row[c] is None else row[c] for c in PDMX_COLUMNS])
    text = out.getvalue()
    if broken:
        last = text.rstrip("\n").rsplit("\n", 1)[-1]
        text = text[: len(text) - len(last) - 1] + _half(last)
    _write(base / "PDMX.csv", text)

    for subset in PDMX_SUBSETS:
        chosen = [row["path"] for row in rows if row[f"subset:{subset}"]]
        _write(base / "subset_paths" / f"{subset}.txt", "\n".join(chosen) + "\n")

    named = {row["mxl"] for row in rows}
    return PdmxReplica(
        root=base,
        rows=len(rows) - (1 if broken else 0),
        mxl_files=tuple(mxl_written),
        rows_without_mxl=tuple(row["mxl"] for row in rows if row["mxl"] not in mxl_written),
        mxl_without_row=tuple(m for m in mxl_written if m not in named),
        rows_without_metadata=tuple(row["path"] for row in rows if row["metadata"] is None),
        license_conflicts=tuple(row["path"] for row in rows if row["license_conflict"]),
        not_best_unique=tuple(row["path"] for row in rows if not row["is_best_unique_arrangement"]),
        subset_counts={s: sum(bool(row[f"subset:{s}"]) for row in rows) for s in PDMX_SUBSETS},
        broken_csv=broken,
    )
