"""What the corpus adapters share: reading a metadata file into a table (a broken file or line is an
errors row, never a crash), locating an option's file, and listing a folder's files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from symcorpus.sources import storage
from symcorpus.sources.base import IngestFailure, Listing, Source, SourceError, Unit, failure_unit
from symcorpus.sources.joins import Join, MetaTable


def option_uri(source: Source, value: str) -> str:
    """An option naming a file: relative to the source's root, absolute, or a URI."""
    if storage.is_remote(value) or value.startswith("/"):
        return value
    return storage.join(source.uri, value)


def rel_name(source: Source, uri: str) -> str:
    """How a metadata file is named in rows and reports: relative to the source when inside it."""
    root = source.uri.rstrip("/") + "/"
    return uri[len(root):] if uri.startswith(root) else uri


def require(source: Source, rel: str, options: Mapping[str, Any], what: str) -> str:
    """The URI of a file or folder the layout must have; SourceError naming it when it is absent."""
    uri = storage.join(source.uri, rel)
    if not storage.exists(uri, options):
        raise SourceError(f"{source.uri} does not look like {what}: no {rel}")
    return uri


def read_text(uri: str, options: Mapping[str, Any]) -> str:
    return storage.read_bytes(uri, options).decode("utf-8")


def load_json(table: MetaTable, uri: str, options: Mapping[str, Any]) -> Any | None:
    """A whole JSON metadata file, or None with the table marked unreadable and an errors row."""
    try:
        return json.loads(read_text(uri, options))
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        table.unreadable = f"bad_metadata: {table.file}: {type(e).__name__}: {e}"
        table.failures.append(IngestFailure(table.source, table.file, None, None, table.unreadable))
        return None


def load_object(table: MetaTable, uri: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON metadata file that must hold one object ({key: entry}); {} when it cannot be read or
    holds something else (the table says why, and an errors row does too)."""
    data = load_json(table, uri, options)
    if data is not None and not isinstance(data, dict):
        table.unreadable = f"bad_metadata: {table.file}: a JSON {type(data).__name__}, not an object"
        table.failures.append(IngestFailure(table.source, table.file, None, None, table.unreadable))
    return data if isinstance(data, dict) else {}


def json_lines(table: MetaTable, uri: str, options: Mapping[str, Any]) -> Iterator[tuple[int, dict]]:
    """(line number, object) of a JSON-lines file; a line that is not a JSON object is an errors row
    (`<file>:<line>`), the others are read."""
    try:
        text = read_text(uri, options)
    except (OSError, ValueError) as e:
        table.unreadable = f"bad_metadata: {table.file}: {type(e).__name__}: {e}"
        table.failures.append(IngestFailure(table.source, table.file, None, None, table.unreadable))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError(f"a JSON {type(entry).__name__}, not an object")
        except ValueError as e:
            table.failures.append(IngestFailure(table.source, f"{table.file}:{number}", None, len(line),
                                                f"bad_metadata_line: {e}"))
            continue
        yield number, entry


def located_lines(table: MetaTable, uri: str, options: Mapping[str, Any]) -> Iterator[tuple[str, dict]]:
    """(location, the line's other fields) of a JSON-lines file keyed by `location` (MidiCaps' and
    Amadeus' captions); a line without a location is an errors row."""
    for number, entry in json_lines(table, uri, options):
        location = entry.get("location")
        if not isinstance(location, str):
            table.failures.append(IngestFailure(table.source, f"{table.file}:{number}", None, None,
                                                "bad_metadata_line: a line without a location"))
            continue
        yield location, {k: v for k, v in entry.items() if k != "location"}


def failure_units(tables: list[MetaTable]) -> list[Unit]:
    """The errors rows of the tables' unreadable files and lines, as units."""
    return [failure_unit(f.source, f.path, f.error, f.size_bytes) for t in tables for f in t.failures]


def file_units(source: Source, files: list[tuple[str, int]], params: Callable[[str], str | None] | None = None
               ) -> list[Unit]:
    """A file unit per (relative path, size) under the source's root."""
    return [Unit(source.name, "file", source.uri, rel, size, params(rel) if params else None) for rel, size in files]


def listing(source: Source, units: list[Unit], tables: list[tuple[MetaTable, Callable[[str], str | None]]],
            info: dict[str, Any] | None = None) -> Listing:
    """A source's listing: its units plus the errors rows of its metadata, its joins, and what the
    manifest says about it (the metadata files read)."""
    used = [t for t, _ in tables]
    info = {**(info or {}), "metadata": {t.name: t.file for t in used}}
    return Listing(units + failure_units(used), [Join(t, key) for t, key in tables], info)


def files_under(source: Source, folder: str, options: Mapping[str, Any], suffixes: tuple[str, ...]
                ) -> list[tuple[str, int]]:
    """(path relative to the source, size) of the files under `folder` with one of `suffixes`."""
    base = storage.join(source.uri, folder) if folder else source.uri
    if not storage.exists(base, options):
        return []
    prefix = f"{folder.rstrip('/')}/" if folder else ""
    return [(prefix + rel, size) for rel, size in storage.list_files(base, options)
            if rel.lower().endswith(suffixes)]
