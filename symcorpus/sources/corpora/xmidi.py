"""XMIDI: 108,023 MIDI files named `XMIDI_<emotion>_<genre>_<ID>.midi`, the labels in the name;
captions (Amadeus's) in a JSON-lines file keyed by file name.

Layout, from xmusic-project/XMIDI_Dataset `README.md` and lingyu123-su/Amadeus
`symbolic_encoding/data_utils.py` (docs/corpora.md):
- one zip of `.midi` files named `XMIDI_<Emotion>_<Genre>_<ID_len_8>.midi`; no metadata file;
  third-party copies show a folder `XMIDI_Dataset/` and lower-case labels;
- Amadeus's captions `all_captions.json`: JSON Lines `{"location": "<stem>.midi", "caption": ...}`
  (its loader rebuilds the key as `stem + ".midi"`); the file is Amadeus's, not XMIDI's.

Options: `captions` (default `all_captions.json` in the folder, when there is one).
Joins: `xmidi_name` by file name (emotion -> the `mood` label, genre -> `genre`; a name outside the
pattern has no labels and shows in the report), `captions` by file name.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from symcorpus.config import IngestSettings
from symcorpus.sources import storage
from symcorpus.sources.base import Listing, Source, SourceError
from symcorpus.sources.corpora import common
from symcorpus.sources.joins import MetaTable

NAME = "xmidi"
CAPTIONS = "all_captions.json"
_NAME = re.compile(r"^XMIDI_(?P<emotion>[A-Za-z]+)_(?P<genre>[A-Za-z]+)_(?P<id>[A-Za-z0-9]{8})\.midi?$")


def file_name(path: str) -> str:
    return posixpath.basename(path)


def names_table(source: Source, files: list[tuple[str, int]]) -> MetaTable:
    table = MetaTable("xmidi_name", "file name", "XMIDI_<emotion>_<genre>_<ID>.midi", source.name)
    for rel, _ in files:
        m = _NAME.match(file_name(rel))
        if m:
            emotion, genre = m["emotion"].lower(), m["genre"].lower()
            table.add(file_name(rel), {"emotion": emotion, "genre": genre, "id": m["id"]}, None, None,
                      {"mood": emotion, "genre": genre})
    return table


def captions_table(source: Source, uri: str, options: Mapping[str, Any]) -> MetaTable:
    table = MetaTable("captions", "location", common.rel_name(source, uri), source.name)
    for location, fields in common.located_lines(table, uri, options):
        table.add(file_name(location), fields, fields.get("caption"))
    return table


def list_source(source: Source, settings: IngestSettings, options: Mapping[str, Any]) -> Listing:
    files = [(rel, size) for rel, size in storage.list_files(source.uri, options)
             if rel.lower().endswith((".mid", ".midi"))]
    if not files:
        raise SourceError(f"{source.uri} does not look like XMIDI: no .midi files")
    tables = [(names_table(source, files), file_name)]
    captions = source.options.get("captions")
    uri = common.option_uri(source, captions or CAPTIONS)
    if captions and not storage.exists(uri, options):
        raise SourceError(f"xmidi: captions file not found: {captions}")
    if storage.exists(uri, options):
        tables.append((captions_table(source, uri, options), file_name))
    return common.listing(source, common.file_units(source, files), tables)
