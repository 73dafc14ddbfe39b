"""Sources: what a SOURCE argument names, listed into units of ingest work, and read into records.

Listing runs on the driver and touches metadata only (object names and sizes, archive indexes,
Parquet footers, metadata files); reading runs in the executors. Each source kind is a module with
a listing function; each unit kind has a reader. To add a source kind: a module here (or a corpus
adapter in `corpora/`), then an entry in KINDS (listing) and, for a new unit kind, in READERS.

    directory   a folder or object-storage prefix, archives in it read in place (directory.py)
    zip, tar    one archive, read in place (archives.py)
    parquet     Parquet files whose rows carry the bytes: Hugging Face datasets (parquet.py)
    manifest    a JSON-lines manifest: one object per piece, path + metadata (manifest.py)
    music21     music21's bundled corpus (music21.py)
    lakh, midicaps, gigamidi, aria-midi, xmidi, pdmx   known corpora with their metadata (corpora/)

A SOURCE is a path or URI (`s3://bucket/prefix`, any filesystem fsspec knows), `music21`, or
`KIND:PATH` to name the kind (`lakh:/data/lmd`, `parquet:s3://bucket/giga/`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from symcorpus.config import IngestSettings
from symcorpus.sources import archives, directory, manifest, music21, parquet, storage
from symcorpus.sources.base import (IngestFailure, Item, Listing, Meta, Record, Skipped, Source, SourceError, Unit,
                                    read_failure, records_from_bytes)
from symcorpus.sources.corpora import ADAPTERS
from symcorpus.sources.partitions import estimated_cost, pack_partitions, partition_count

__all__ = ["KINDS", "READERS", "IngestFailure", "Item", "Listing", "Meta", "Record", "Skipped", "Source",
           "SourceError", "Unit", "estimated_cost", "list_source", "list_units", "pack_partitions", "partition_count",
           "read_unit", "records_from_bytes", "resolve_source", "source_options"]

Options = Mapping[str, Any]

# Source kind -> how it is listed (on the driver), given the storage options of its URI.
KINDS: dict[str, Callable[[Source, IngestSettings, Options], Listing]] = {
    "directory": lambda source, settings, options: Listing(directory.list_units(source, options)),
    "zip": lambda source, settings, options: Listing(archives.list_zip_units(source, options)),
    "tar": lambda source, settings, options: Listing(archives.list_tar_units(source, options)),
    "parquet": lambda source, settings, options: Listing(parquet.list_units(source, options)),
    "manifest": lambda source, settings, options: Listing(manifest.list_units(source, options)),
    music21.NAME: lambda source, settings, options: Listing(music21.list_units(source, settings.music21)),
    **{name: adapter.list_source for name, adapter in ADAPTERS.items()},
}

# Unit kind -> how it is read (in the executors): (unit row, storage options, max_bytes) -> items.
READERS: dict[str, Callable[[Mapping[str, Any], Options, int], Iterator[Item]]] = {
    "file": directory.read_file,
    "zip": archives.read_zip_member,
    "tar": archives.read_tar,
    "parquet": parquet.read_row_group,
    "failure": read_failure,
}


def _kind_of_path(uri: str, options: Options) -> str | None:
    found = storage.kind_of(uri, options)
    if found is None:
        return None
    if found == "dir":
        return "directory"
    lower = uri.lower()
    if lower.endswith(parquet.SUFFIX):
        return "parquet"
    if lower.endswith(manifest.SUFFIXES):
        return "manifest"
    return archives.archive_kind(uri)


def _name_of(uri: str) -> str:
    base = uri.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (*archives.SUFFIXES, parquet.SUFFIX, *manifest.SUFFIXES):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def resolve_source(spec: str, taken: set[str] | None = None, options: Options | None = None,
                   name: str | None = None, storage_settings: Options | None = None) -> Source:
    """What a SOURCE argument names; SourceError with one clear line when it can't be used.
    `options`: the adapter's options (a recipe's); `name`: the source name to give it."""
    taken = taken or set()
    kind, _, rest = spec.partition(":")
    if spec == music21.NAME:
        kind, uri, default_name = music21.NAME, str(music21.corpus_root()), music21.NAME
    elif rest and kind in KINDS and not rest.startswith("//"):
        uri = _absolute(rest)
        if not storage.exists(uri, storage.storage_options(uri, storage_settings)):
            raise SourceError(f"source not found: {rest}")
        default_name = kind if kind in ADAPTERS else _name_of(uri)
    else:
        uri = _absolute(spec)
        found = _kind_of_path(uri, storage.storage_options(uri, storage_settings))
        if found is None and not storage.exists(uri, storage.storage_options(uri, storage_settings)):
            raise SourceError(f"source not found: {spec}")
        if found is None:
            raise SourceError(f"source is neither a directory nor a .zip/.tar/.tar.gz/.tgz archive, a .parquet "
                              f"file or a .jsonl manifest: {spec} (name a kind: KIND:PATH, one of "
                              f"{', '.join(sorted(KINDS))})")
        kind, default_name = found, _name_of(uri)
    unique, n = name or default_name, 2
    while unique in taken:  # two sources with the same base name still get distinct names
        unique, n = f"{name or default_name}-{n}", n + 1
    return Source(unique, uri, kind, dict(options or {}))


def _absolute(spec: str) -> str:
    from pathlib import Path

    return spec if storage.is_remote(spec) else str(Path(storage.local_path(spec)).expanduser().resolve())


def source_options(source: Source, settings: IngestSettings) -> dict[str, Any]:
    """The storage options the source's URI is read with (params, then the environment)."""
    return storage.storage_options(source.uri, settings.storage_options)


def list_source(source: Source, settings: IngestSettings) -> Listing:
    """Every unit of work in a source, in a deterministic order, and the joins its records take."""
    return KINDS[source.kind](source, settings, source_options(source, settings))


def list_units(source: Source, settings: IngestSettings) -> list[Unit]:
    return list_source(source, settings).units


def read_unit(unit: Mapping[str, Any], max_bytes: int, options: Options | None = None) -> Iterator[Item]:
    """Records, failures and skipped files in one unit (a row of schema.UNITS)."""
    reader = READERS.get(unit["kind"])
    if reader is None:
        raise ValueError(f"unknown unit kind {unit['kind']!r}")
    return reader(unit, options or {}, max_bytes)
