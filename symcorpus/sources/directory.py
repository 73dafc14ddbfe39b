"""A directory of files, read recursively: one unit per file, listed in sorted order."""

from __future__ import annotations

import os
from collections.abc import Iterator

from symcorpus.sources.base import IngestFailure, Item, Source, Unit, read_capped, records_from_bytes, too_large


def walk(root: str) -> list[tuple[str, int]]:
    """(relative path, size) of every file under `root`, sorted directory by directory."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(directory, name)
            if os.path.isfile(full):
                found.append((os.path.relpath(full, root), os.path.getsize(full)))
    return found


def list_units(source: Source) -> list[Unit]:
    return [Unit(source.name, "file", source.uri, rel, size) for rel, size in walk(source.uri)]


def read_file(source: str, root: str, rel: str, max_bytes: int) -> Iterator[Item]:
    full = os.path.join(root, rel)
    try:
        size = os.path.getsize(full)
        if size > max_bytes:
            yield too_large(source, rel, size, max_bytes)
            return
        with open(full, "rb") as f:
            data = read_capped(f, max_bytes)
    except OSError as e:
        yield IngestFailure(source, rel, None, None, f"unreadable: {e.strerror or e}")
        return
    if data is None:
        yield too_large(source, rel, None, max_bytes)
        return
    yield from records_from_bytes(source, rel, data)
