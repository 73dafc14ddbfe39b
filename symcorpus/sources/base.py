"""What every source kind shares: the source a user named, units of ingest work, and the items a
unit reads into (records, failures, skipped files).

The ingest contract: reading a unit yields one `Record` per piece (its bytes and provenance, and
the metadata that came with it), an `IngestFailure` for anything unreadable (it becomes a row of
the errors table), or `Skipped` for a file that is not music (counted, not a record). Nothing a
source lists is ever lost silently.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from symcorpus.errors import UsageError
from symcorpus.music import abc_text
from symcorpus.music.formats import ABC, SNIFF_BYTES, detect_format
from symcorpus.schema import SOURCE_LABEL_NAMES as SOURCE_LABELS


class SourceError(UsageError):
    """A source the user named that cannot be used (missing, unsupported)."""


@dataclass(frozen=True)
class Source:
    name: str  # the `source` column of every record from it
    uri: str  # what was listed: an absolute path or a URI (s3://bucket/prefix, ...)
    kind: str  # a key of sources.KINDS
    options: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the adapter's options


@dataclass(frozen=True)
class Unit:
    """One unit of ingest work: a file, a zip member, a whole tar archive, a Parquet row group...
    (schema.UNITS). `params` is JSON for what a reader needs beyond the location (a path prefix,
    a row group, the metadata a manifest line gave)."""

    source: str
    kind: str  # a key of sources.READERS
    container: str  # directory root, archive or Parquet file (path or URI)
    member: str  # relative path inside it; "" for a whole archive
    size: int
    params: str | None = None


@dataclass(frozen=True)
class Meta:
    """Metadata that came with a piece: the source's own fields, and what symcorpus reads of them."""

    fields: Mapping[str, Any]  # by where they came from: {"midicaps": {...}, "md5_to_paths": [...]}
    caption: str | None = None  # a caption shipped with the data (kept beside symcorpus's own)
    license: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # SOURCE_LABELS the source states

    def merged(self, other: Meta | None) -> Meta:
        """This metadata with `other`'s added; on a clash this one's values stay."""
        if other is None:
            return self
        return Meta({**other.fields, **self.fields}, self.caption or other.caption, self.license or other.license,
                    {**other.labels, **self.labels})

    def columns(self) -> dict[str, Any]:
        """The row columns this metadata fills (schema `source_meta`, `source_caption`, `license`,
        `source_labels`); JSON with sorted keys, so the same metadata gives the same bytes."""
        labels = {k: self.labels.get(k) for k in SOURCE_LABELS}
        return {"source_meta": json.dumps(self.fields, sort_keys=True, ensure_ascii=False, default=json_default),
                "source_caption": self.caption, "license": self.license,
                "source_labels": labels if any(v is not None for v in labels.values()) else None}


def json_default(value: Any) -> Any:
    """What JSON cannot hold as is: bytes by their length, other objects as text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    return str(value)


@dataclass(frozen=True)
class Record:
    source: str
    path: str
    format: str
    content: bytes
    meta: Meta | None = None
    # Set when the source's own metadata puts the piece outside what was asked for (a GigaMIDI
    # drums-only row): the piece becomes a reject row with this detail, not a record to parse.
    excluded: str | None = None

    @functools.cached_property
    def id(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class IngestFailure:
    source: str
    path: str
    format: str | None
    size_bytes: int | None
    error: str  # "<reason>: <detail>"
    content_id: str | None = None  # sha256 of the bytes when they could be read

    @property
    def id(self) -> str:
        # Without bytes there is no content hash; the provenance is hashed instead, so it is stable.
        return self.content_id or hashlib.sha256(f"{self.source}\0{self.path}".encode()).hexdigest()


@dataclass(frozen=True)
class Skipped:
    """A file that is not music we read (a README, an image): counted, not a record."""

    source: str
    path: str


Item = Record | IngestFailure | Skipped


def records_from_bytes(source: str, path: str, data: bytes, meta: Meta | None = None,
                       name: str | None = None, excluded: str | None = None) -> list[Item]:
    """The records in one file's bytes: ABC files split into tunes, other formats one record.
    `name` (default `path`) is what the format is told from when it is not the file's path (a
    Parquet row's file name)."""
    fmt = detect_format(name or path, data[:SNIFF_BYTES])
    if fmt is None:
        return [Skipped(source, path)]
    if fmt == ABC:
        return [Record(source, f"{path}#{tune.index}", ABC, tune.content, meta, excluded)
                for tune in abc_text.split_tunes(data)]
    return [Record(source, path, fmt, data, meta, excluded)]


READ_CHUNK = 1 << 16  # under malloc's mmap threshold: one read(max_bytes + 1) first maps max_bytes


def read_capped(stream, max_bytes: int) -> bytes | None:
    """Up to max_bytes from a stream; None when there is more (declared sizes can lie: zip bombs).

    Read in chunks: asking for max_bytes + 1 at once makes CPython allocate that much (32 MiB by
    default) before the read, ~45 us a file against ~13 us for a Lakh-size file read in chunks."""
    parts: list[bytes] = []
    total = 0
    while total <= max_bytes:
        part = stream.read(min(READ_CHUNK, max_bytes + 1 - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return None if total > max_bytes else b"".join(parts)


def too_large(source: str, path: str, size: int | None, max_bytes: int) -> IngestFailure:
    detail = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes when read"
    return IngestFailure(source, path, None, size, f"too_large: {detail}, over max_bytes={max_bytes}")


def unit_params(unit: Mapping[str, Any]) -> dict[str, Any]:
    """A unit row's `params` JSON as a dict (empty when it has none)."""
    return json.loads(unit["params"]) if unit.get("params") else {}


def failure_unit(source: str, path: str, error: str, size: int | None = None) -> Unit:
    """A unit for something found broken while listing (a metadata file, a manifest line): reading
    it yields one IngestFailure, so the problem is an errors row like any unreadable file."""
    return Unit(source, "failure", "", path, size or 0, json.dumps({"error": error}))


def read_failure(unit: Mapping[str, Any], options: Mapping[str, Any], max_bytes: int):  # noqa: ARG001
    yield IngestFailure(unit["source"], unit["member"], None, unit["size"] or None, unit_params(unit)["error"])


@dataclass
class Listing:
    """What listing a source gives: its units of work, the metadata joins its records take, and
    what the manifest should say about the listing (subsets left out, metadata files read)."""

    units: list[Unit]
    joins: list[Any] = field(default_factory=list)  # sources.joins.Join
    info: dict[str, Any] = field(default_factory=dict)
