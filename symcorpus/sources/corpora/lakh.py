"""Lakh MIDI Dataset (LMD): `lmd_full/<first hex digit>/<md5>.mid`, every file named by the MD5 of
its bytes, with `md5_to_paths.json` (md5 -> the file names it was scraped under) and
`match_scores.json` (MSD track id -> {md5: match confidence}); optionally MidiCaps's captions
joined by `location`.

Layout, from the corpus's own documentation and loaders (docs/corpora.md has the details):
- colinraffel.com/projects/lmd: "Each file is named according to its MD5 checksum"; LMD-full
  176,581 files; "LMD-full filenames" is md5_to_paths.json; some files are corrupt.
- craffel/midi-dataset `scripts/assemble_aligned_matches.py`: `<md5[0]>/<md5>.mid`, match scores
  as "dict-of-dicts, 1st key MSD ID, 2nd key MIDI MD5", kept above 0.5; `msd_path()` nests matched
  files as `<R>/<A>/<B>/<MSD id>/<md5>.mid` (characters 3-5 of the id).
- craffel/midi-dataset `file_lists/clean_midi.txt`: `clean_midi/<Artist>/<Title>.mid`, a second
  version of a song `<Title>.1.mid`.
- lingyu123-su/Amadeus `symbolic_encoding/data_utils.py`: rebuilds `lmd_full/<h>/<md5>.mid` from
  MidiCaps's `location` and joins captions on it.

Root layout read here: `lmd_full/` (and/or `lmd_matched/`, `clean_midi/`), `md5_to_paths.json` and
`match_scores.json` at the root when present. Options:
    subset     full (default: lmd_full), matched (lmd_matched) or clean (clean_midi)
    captions   MidiCaps's train.json (path relative to the root, absolute, or a URI): captions,
               genre and mood joined by `location` (`lmd_full/<h>/<md5>.mid`, rebuilt from the md5
               for matched files)

Joins: `md5_to_paths` and `match_scores` by md5 (the file stem), `midicaps` by location, and for
the clean subset `clean_midi` by path (artist and title from the folder and file name; a name
outside `<Artist>/<Title>[.N].mid` has none).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from symcorpus.config import IngestSettings
from symcorpus.sources import storage
from symcorpus.sources.base import Listing, Source, SourceError
from symcorpus.sources.corpora import common, midicaps
from symcorpus.sources.joins import MetaTable

NAME = "lakh"
SUBSETS = {"full": "lmd_full", "matched": "lmd_matched", "clean": "clean_midi"}
MIDI_SUFFIXES = (".mid", ".midi")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_CLEAN = re.compile(r"^clean_midi/(?P<artist>[^/]+)/(?P<title>.+?)(?:\.(?P<version>\d+))?\.midi?$", re.IGNORECASE)


def md5_of(path: str) -> str | None:
    """A Lakh file's md5: its file stem, when it is one."""
    stem = posixpath.basename(path).split(".", 1)[0].lower()
    return stem if _MD5.match(stem) else None


def location_of(path: str) -> str | None:
    """MidiCaps's `location` of a Lakh file: `lmd_full/<h>/<md5>.mid`."""
    md5 = md5_of(path)
    return f"lmd_full/{md5[0]}/{md5}.mid" if md5 else None


def path_key(path: str) -> str:
    """A clean_midi file's key: its path."""
    return path


def names_table(source: Source, options: Mapping[str, Any]) -> MetaTable | None:
    """md5 -> the names the file was scraped under (as listed, repeats kept); None without the file."""
    uri = common.option_uri(source, "md5_to_paths.json")
    if not storage.exists(uri, options):
        return None
    table = MetaTable("md5_to_paths", "md5", "md5_to_paths.json", source.name)
    for md5, names in common.load_object(table, uri, options).items():
        table.add(md5.lower(), names)
    return table


def scores_table(source: Source, options: Mapping[str, Any]) -> MetaTable | None:
    """md5 -> {MSD id: score}: one file matched to several MSD tracks is one entry, not a collision."""
    uri = common.option_uri(source, "match_scores.json")
    if not storage.exists(uri, options):
        return None
    table = MetaTable("match_scores", "md5", "match_scores.json", source.name)
    by_md5: dict[str, dict[str, float]] = {}
    for msd_id, scores in common.load_object(table, uri, options).items():
        for md5, score in (scores if isinstance(scores, dict) else {}).items():
            by_md5.setdefault(md5.lower(), {})[msd_id] = score
    for md5, scores in by_md5.items():
        table.add(md5, scores)
    return table


def clean_table(source: Source, files: list[tuple[str, int]]) -> MetaTable:
    """Artist and title of each clean_midi file, from its folder and name."""
    table = MetaTable("clean_midi", "path", "clean_midi/<Artist>/<Title>.mid", source.name)
    for rel, _ in files:
        m = _CLEAN.match(rel)
        if m:
            version = int(m["version"]) if m["version"] else 0
            table.add(rel, {"artist": m["artist"], "title": m["title"], "version": version})
    return table


def list_source(source: Source, settings: IngestSettings, options: Mapping[str, Any]) -> Listing:
    subset = source.options.get("subset", "full")
    if subset not in SUBSETS:
        raise SourceError(f"lakh: subset {subset!r} is not one of {', '.join(SUBSETS)}")
    folder = SUBSETS[subset]
    common.require(source, folder, options, f"the Lakh MIDI Dataset ({subset})")
    files = common.files_under(source, folder, options, MIDI_SUFFIXES)
    tables = [(t, md5_of) for t in (names_table(source, options), scores_table(source, options)) if t is not None]
    if subset == "clean":
        tables.append((clean_table(source, files), path_key))
    if source.options.get("captions"):
        captions = midicaps.captions_table(source, common.option_uri(source, source.options["captions"]), options)
        tables.append((captions, location_of))
    return common.listing(source, common.file_units(source, files), tables, {"subset": subset})
