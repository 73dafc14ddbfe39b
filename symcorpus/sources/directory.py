"""A folder (local, or a prefix in object storage), read recursively: one unit per file, listed in
sorted order. Archives found in the folder (tar/tar.gz/zip shards, as GigaMIDI and WebDataset-style
corpora ship) are read in place, one level deep: their members become records whose path starts
with the archive's; an archive inside an archive is not opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from symcorpus.sources import archives, storage
from symcorpus.sources.base import (IngestFailure, Item, Source, Unit, read_capped, records_from_bytes, too_large,
                                    unit_params)


def units_for_files(source: Source, files: list[tuple[str, int]], options: Mapping[str, Any]) -> list[Unit]:
    """Units of the files (relative path, size) under the source's root: plain files one unit each,
    archives read in place."""
    units = []
    for rel, size in files:
        kind = archives.archive_kind(rel)
        if kind is None:
            units.append(Unit(source.name, "file", source.uri, rel, size))
        else:
            units += archives.archive_units(source.name, storage.join(source.uri, rel), kind, size, options, prefix=rel)
    return units


def list_units(source: Source, options: Mapping[str, Any] | None = None) -> list[Unit]:
    options = options or {}
    return units_for_files(source, storage.list_files(source.uri, options), options)


def read_file(unit: Mapping[str, Any], options: Mapping[str, Any], max_bytes: int) -> Iterator[Item]:
    source, rel = unit["source"], unit["member"]
    full = storage.join(unit["container"], rel)
    try:
        size = storage.file_size(full, options)
        if size > max_bytes:
            yield too_large(source, rel, size, max_bytes)
            return
        with storage.open_file(full, options) as f:
            data = read_capped(f, max_bytes)
    except OSError as e:  # FileNotFoundError, PermissionError, and fsspec's errors for objects
        yield IngestFailure(source, rel, None, None, f"unreadable: {getattr(e, 'strerror', None) or e}")
        return
    if data is None:
        yield too_large(source, rel, None, max_bytes)
        return
    meta = unit_params(unit).get("meta")
    yield from records_from_bytes(source, rel, data, archives.meta_from_params(meta))
