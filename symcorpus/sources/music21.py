"""The word `music21`: the corpus bundled with the music21 package (~13,000 ABC tunes, ~650
MusicXML, ~1,300 Humdrum files), or the part of it `ingest.music21` chooses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from symcorpus.config import Music21Settings
from symcorpus.music.formats import format_from_name
from symcorpus.sources.base import Source, Unit
from symcorpus.sources.storage import walk

NAME = "music21"


def corpus_root() -> Path:
    # Found, not imported: importing music21 takes ~0.4 s, and a build of MIDI or ABC never needs it.
    spec = importlib.util.find_spec("music21")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("music21 is not installed: its bundled corpus is the source `music21`")
    return Path(spec.origin).parent / "corpus"


def spread(paths: list[str], limit: int | None) -> list[str]:
    """At most `limit` of the sorted paths, evenly spaced, so a subset still spans the collection."""
    if limit is None or len(paths) <= limit:
        return paths
    if limit <= 0:
        return []
    step = len(paths) / limit
    return [paths[int(i * step)] for i in range(limit)]


def list_units(source: Source, config: Music21Settings) -> list[Unit]:
    wanted = set(config.formats)
    by_format: dict[str, list[tuple[str, int]]] = {}
    for rel, size in walk(source.uri):
        fmt = format_from_name(rel)
        if fmt in wanted:
            by_format.setdefault(fmt, []).append((rel, size))
    units = []
    for fmt in sorted(by_format):
        entries = dict(by_format[fmt])
        for rel in spread(sorted(entries), config.max_files.get(fmt)):
            units.append(Unit(source.name, "file", source.uri, rel, entries[rel]))
    return sorted(units, key=lambda u: u.member)
