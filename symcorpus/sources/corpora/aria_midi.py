"""Aria-MIDI: solo-piano transcriptions, `<file_id>_<segment>.mid`, with `metadata.json` keyed by
file id (metadata such as composer, genre and performer, and an audio score per segment).

Layout, from loubbrad/aria-midi `README.md` and the dataset card `loubb/aria-midi`
(docs/corpora.md):
- archives `aria-midi-v1-{ext,pruned-ext,deduped-ext,unique-ext}.tar.gz`, extracted to
  `aria-midi-v1-<subset>-ext/` with `metadata.json` and `data/<two letters>/<file_id>_<segment>.mid`;
- file names `<file_id>_<segment_number>.mid`, a segment being one stretch of solo piano;
- `metadata.json`: {file_id: {"metadata": {category: value}, "audio_scores": {segment: score}}};
  categories include genre, composer, performer, music_period, opus and piece numbers.
- Whether metadata keys are zero-padded like the file names is not stated; loaders differ. File
  ids are compared as integers here, so "7" and "000007" are one key (both present: a collision).
- lingyu123-su/Amadeus `_load_tune_in_idx_aria` keys pieces by file stem, without metadata.

Joins: `aria_metadata` by file id (labels composer, genre, period from `music_period`), and
`audio_scores` by `<file_id>_<segment>` (segments without a score, scores without a file).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from symcorpus.config import IngestSettings
from symcorpus.sources.base import IngestFailure, Listing, Source
from symcorpus.sources.corpora import common
from symcorpus.sources.joins import MetaTable

NAME = "aria-midi"
_FILE = re.compile(r"^(?P<id>\d+)_(?P<segment>\d+)\.midi?$", re.IGNORECASE)


def _id(text: str) -> str | None:
    return str(int(text)) if text.strip().isdigit() else None


def file_id(path: str) -> str | None:
    m = _FILE.match(posixpath.basename(path))
    return str(int(m["id"])) if m else None


def segment_key(path: str) -> str | None:
    m = _FILE.match(posixpath.basename(path))
    return f"{int(m['id'])}_{int(m['segment'])}" if m else None


def tables(source: Source, options: Mapping[str, Any]) -> tuple[MetaTable, MetaTable]:
    metadata = MetaTable("aria_metadata", "file_id", "metadata.json", source.name)
    scores = MetaTable("audio_scores", "file_id_segment", "metadata.json", source.name)
    data = common.load_object(metadata, common.require(source, "metadata.json", options, "Aria-MIDI"), options)
    for key, entry in data.items():
        ident = _id(key)
        entry = entry if isinstance(entry, dict) else {}
        info = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
        if ident is None:
            metadata.failures.append(IngestFailure(source.name, f"metadata.json#{key}", None, None,
                                                          "bad_metadata_line: a key that is not a file id"))
            continue
        metadata.add(ident, info, None, None, {"composer": info.get("composer"), "genre": info.get("genre"),
                                                "period": info.get("music_period")})
        for segment, score in (entry.get("audio_scores") or {}).items():
            if _id(str(segment)) is not None:
                scores.add(f"{ident}_{int(segment)}", {"audio_score": score})
    return metadata, scores


def list_source(source: Source, settings: IngestSettings, options: Mapping[str, Any]) -> Listing:
    metadata, scores = tables(source, options)
    files = common.files_under(source, "data", options, (".mid", ".midi"))
    return common.listing(source, common.file_units(source, files), [(metadata, file_id), (scores, segment_key)])
