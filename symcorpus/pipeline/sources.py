"""Sources (directories, archives, music21's bundled corpus) listed into units of ingest work.

Listing runs on the driver and touches metadata only: directory entries and archive indexes, never
file contents. A unit is one file, one zip member (zips allow random access), or one whole tar
archive (a compressed tar can only be read front to back, so it is one unit, re-spread after ingest).
"""

from __future__ import annotations

import heapq
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from symcorpus.music.formats import ABC, EXTENSIONS, HUMDRUM, MIDI, MUSICXML, format_from_name
from symcorpus.config import IngestSettings, Music21Settings

MUSIC21 = "music21"
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


class SourceError(ValueError):
    """A source the user named that cannot be used (missing, unsupported)."""


@dataclass(frozen=True)
class Source:
    name: str  # the `source` column of every record from it
    uri: str  # what was listed: an absolute path
    kind: str  # directory | zip | tar | music21


@dataclass(frozen=True)
class Unit:
    source: str
    kind: str  # file | zip | tar
    container: str  # directory root or archive path
    member: str  # relative path inside it; "" for a whole archive
    size: int

    def as_row(self) -> dict:
        return asdict(self)


def music21_corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def resolve_source(spec: str, taken: set[str] | None = None) -> Source:
    """What a SOURCE argument names; SourceError with one clear line when it can't be used."""
    taken = taken or set()
    if spec == MUSIC21:
        kind, uri, name = MUSIC21, str(music21_corpus_root()), MUSIC21
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise SourceError(f"source not found: {spec}")
        lower = path.name.lower()
        if path.is_dir():
            kind = "directory"
        elif lower.endswith(".zip"):
            kind = "zip"
        elif lower.endswith(TAR_SUFFIXES):
            kind = "tar"
        else:
            raise SourceError(
                f"source is neither a directory nor a .zip/.tar/.tar.gz/.tgz archive: {spec}"
            )
        uri = str(path.resolve())
        name = path.name
        for suffix in (".zip",) + TAR_SUFFIXES:
            if lower.endswith(suffix):
                name = path.name[: -len(suffix)]
                break
    unique, n = name, 2
    while unique in taken:  # two sources with the same base name still get distinct names
        unique, n = f"{name}-{n}", n + 1
    return Source(unique, uri, kind)


def _spread(paths: list[str], limit: int | None) -> list[str]:
    """At most `limit` of the sorted paths, evenly spaced, so a subset still spans the collection."""
    if limit is None or len(paths) <= limit:
        return paths
    if limit <= 0:
        return []
    step = len(paths) / limit
    return [paths[int(i * step)] for i in range(limit)]


def _walk(root: str) -> list[tuple[str, int]]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(directory, name)
            if os.path.isfile(full):
                found.append((os.path.relpath(full, root), os.path.getsize(full)))
    return found


def _music21_units(source: Source, config: Music21Settings) -> list[Unit]:
    wanted = set(config.formats)
    unknown = wanted - {ABC, MUSICXML, HUMDRUM, MIDI}
    if unknown:
        raise SourceError(f"music21.formats: unknown format(s) {', '.join(sorted(unknown))}")
    by_format: dict[str, list[tuple[str, int]]] = {}
    for rel, size in _walk(source.uri):
        fmt = format_from_name(rel)
        if fmt in wanted:
            by_format.setdefault(fmt, []).append((rel, size))
    units = []
    for fmt in sorted(by_format):
        entries = dict(by_format[fmt])
        for rel in _spread(sorted(entries), config.max_files.get(fmt)):
            units.append(Unit(source.name, "file", source.uri, rel, entries[rel]))
    return sorted(units, key=lambda u: u.member)


def list_units(source: Source, config: IngestSettings) -> list[Unit]:
    """Every unit of work in a source, in a deterministic order."""
    if source.kind == MUSIC21:
        return _music21_units(source, config.music21)
    if source.kind == "directory":
        return [Unit(source.name, "file", source.uri, rel, size) for rel, size in _walk(source.uri)]
    if source.kind == "zip":
        try:
            with zipfile.ZipFile(source.uri) as archive:
                infos = [i for i in archive.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError):
            # The worker opens it again and records the error against the archive.
            return [Unit(source.name, "zip", source.uri, "", os.path.getsize(source.uri))]
        return [Unit(source.name, "zip", source.uri, i.filename, i.file_size) for i in infos]
    if source.kind == "tar":
        return [Unit(source.name, "tar", source.uri, "", os.path.getsize(source.uri))]
    raise SourceError(f"unknown source kind {source.kind!r}")


# Rough parse cost in milliseconds: a fixed cost by format plus a cost per kilobyte. Only the ratios
# matter: they keep a few big MusicXML files from landing in one partition.
_BASE_MS = {MIDI: 0.3, ABC: 3.0, MUSICXML: 100.0, HUMDRUM: 200.0}
_PER_KB_MS = {MIDI: 0.01, ABC: 0.2, MUSICXML: 3.0, HUMDRUM: 20.0}


def estimated_cost(unit: Unit) -> float:
    if unit.kind == "tar" or (unit.kind == "zip" and not unit.member):
        return 1.0 + unit.size / 1024 * 0.5
    fmt = EXTENSIONS.get(os.path.splitext(unit.member)[1].lower(), MIDI)
    return _BASE_MS[fmt] + unit.size / 1024 * _PER_KB_MS[fmt]


def pack_partitions(units: list[Unit], n_partitions: int) -> list[list[Unit]]:
    """Longest-processing-time packing: each unit, costliest first, goes to the lightest partition.

    Deterministic (ties broken by position). Units inside a partition keep the listing order, so
    files of one directory or archive are read together.
    """
    n_partitions = max(1, min(n_partitions, len(units)))
    order = sorted(range(len(units)), key=lambda i: (-estimated_cost(units[i]), i))
    heap = [(0.0, p) for p in range(n_partitions)]
    assigned: list[list[int]] = [[] for _ in range(n_partitions)]
    for i in order:
        load, p = heapq.heappop(heap)
        assigned[p].append(i)
        heapq.heappush(heap, (load + estimated_cost(units[i]), p))
    return [[units[i] for i in sorted(members)] for members in assigned if members]
