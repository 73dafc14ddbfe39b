"""Sources: what a SOURCE argument names, listed into units of ingest work, and read into records.

Listing runs on the driver and touches metadata only (directory entries, archive indexes); reading
runs in the executors. Each source kind is a module with a `list_units`; each unit kind has a reader.
To add a source kind: a module here, then an entry in KINDS (listing) and, for a new unit kind, in
READERS (reading).

    directory   a folder, read recursively (sources/directory.py)
    zip, tar    one archive, read in place (sources/archives.py)
    music21     music21's bundled corpus (sources/music21.py)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from symcorpus.config import IngestSettings
from symcorpus.sources import archives, directory, music21
from symcorpus.sources.base import (IngestFailure, Item, Record, Skipped, Source, SourceError, Unit,
                                    records_from_bytes)
from symcorpus.sources.partitions import estimated_cost, pack_partitions

__all__ = ["IngestFailure", "Item", "Record", "Skipped", "Source", "SourceError", "Unit", "estimated_cost",
           "list_units", "pack_partitions", "read_unit", "records_from_bytes", "resolve_source"]

# Source kind -> how it is listed (on the driver).
KINDS: dict[str, Callable[[Source, IngestSettings], list[Unit]]] = {
    "directory": lambda source, settings: directory.list_units(source),
    "zip": lambda source, settings: archives.list_zip_units(source),
    "tar": lambda source, settings: archives.list_tar_units(source),
    music21.NAME: lambda source, settings: music21.list_units(source, settings.music21),
}

# Unit kind -> how it is read (in the executors): (source, container, member, max_bytes) -> items.
READERS: dict[str, Callable[[str, str, str, int], Iterator[Item]]] = {
    "file": directory.read_file,
    "zip": archives.read_zip_member,
    "tar": lambda source, container, member, max_bytes: archives.read_tar(source, container, max_bytes),
}


def resolve_source(spec: str, taken: set[str] | None = None) -> Source:
    """What a SOURCE argument names; SourceError with one clear line when it can't be used."""
    taken = taken or set()
    if spec == music21.NAME:
        kind, uri, name = music21.NAME, str(music21.corpus_root()), music21.NAME
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise SourceError(f"source not found: {spec}")
        kind = "directory" if path.is_dir() else archives.archive_kind(path.name)
        if kind is None:
            raise SourceError(f"source is neither a directory nor a .zip/.tar/.tar.gz/.tgz archive: {spec}")
        uri, name = str(path.resolve()), archives.stem(path.name)
    unique, n = name, 2
    while unique in taken:  # two sources with the same base name still get distinct names
        unique, n = f"{name}-{n}", n + 1
    return Source(unique, uri, kind)


def list_units(source: Source, settings: IngestSettings) -> list[Unit]:
    """Every unit of work in a source, in a deterministic order."""
    return KINDS[source.kind](source, settings)


def read_unit(unit: dict, max_bytes: int) -> Iterator[Item]:
    """Records, failures and skipped files in one unit (a row of schema.UNITS)."""
    reader = READERS.get(unit["kind"])
    if reader is None:
        raise ValueError(f"unknown unit kind {unit['kind']!r}")
    return reader(unit["source"], unit["container"], unit["member"], max_bytes)
