"""MidiCaps: 168,385 Lakh MIDI files with a caption and tags each, keyed by `location`.

Layout, from the dataset card `amaai-lab/MidiCaps` and AMAAI-Lab/MidiCaps (docs/corpora.md):
- `midicaps.tar.gz` holds the MIDI files at `lmd_full/<h>/<md5>.mid` ("location (of the files
  after decompressing the .tar.gz file)"; they "originate from the Lakh MIDI Dataset").
- `train.json` is JSON Lines: `location`, `caption`, `genre` (2), `genre_prob`, `mood` (5),
  `mood_prob`, `key`, `time_signature`, `tempo`, `tempo_word`, `duration`, `duration_word`,
  `chord_summary`, `chord_summary_occurence`, `instrument_summary`, `instrument_numbers_sorted`,
  `all_chords`, `all_chords_timestamps`, `test_set`.
- lingyu123-su/Amadeus `symbolic_encoding/data_utils.py` reads the same lines, keeps the last
  caption of a repeated location, skips lines that fail to parse, and then keys pieces by caption
  (identical captions collapse). Here a repeated location is a collided key in the join report
  (its first line is used), a line that fails is an errors row, and pieces sharing a caption all
  stay (the caption report counts them).

Root layout read here: `train.json` plus the files, either `midicaps.tar.gz` or its extracted
`lmd_full/` folder. Options: `captions` (another captions file, e.g. an earlier release's).
The `midicaps` join is also what the `lakh` adapter's `captions` option uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symcorpus.config import IngestSettings
from symcorpus.sources import storage
from symcorpus.sources.base import Listing, Source, SourceError
from symcorpus.sources.corpora import common
from symcorpus.sources.joins import MetaTable

NAME = "midicaps"
ARCHIVE = "midicaps.tar.gz"


def captions_table(source: Source, uri: str, options: Mapping[str, Any]) -> MetaTable:
    """location -> the line's fields, its caption, and its first genre and mood as labels."""
    table = MetaTable("midicaps", "location", common.rel_name(source, uri), source.name)
    for location, fields in common.located_lines(table, uri, options):
        table.add(location, fields, fields.get("caption"), None,
                  {"genre": _first(fields.get("genre")), "mood": _first(fields.get("mood"))})
    return table


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return str(value) if value else None


def location_of(path: str) -> str | None:
    """A file's location: its path from `lmd_full/` on (inside the archive or the folder)."""
    at = path.find("lmd_full/")
    return path[at:] if at >= 0 else None


def list_source(source: Source, settings: IngestSettings, options: Mapping[str, Any]) -> Listing:
    captions_uri = common.option_uri(source, source.options.get("captions", "train.json"))
    if not storage.exists(captions_uri, options):
        raise SourceError(f"{source.uri} does not look like MidiCaps: no {common.rel_name(source, captions_uri)}")
    archive = storage.join(source.uri, ARCHIVE)
    if storage.exists(archive, options):
        from symcorpus.sources.archives import archive_units

        units = archive_units(source.name, archive, "tar", storage.file_size(archive, options), options, ARCHIVE)
    else:
        files = common.files_under(source, "lmd_full", options, (".mid", ".midi"))
        if not files:
            raise SourceError(f"{source.uri} does not look like MidiCaps: no {ARCHIVE} and no lmd_full/")
        units = common.file_units(source, files)
    table = captions_table(source, captions_uri, options)
    return common.listing(source, units, [(table, location_of)])
