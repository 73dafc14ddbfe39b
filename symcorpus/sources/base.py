"""What every source kind shares: the source a user named, units of ingest work, and the items a
unit reads into (records, failures, skipped files).

The ingest contract: reading a unit yields one `Record` per piece (its bytes and provenance), an
`IngestFailure` for anything unreadable (it becomes a row of the errors table), or `Skipped` for a
file that is not music (counted, not a record). Nothing a source lists is ever lost silently.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from symcorpus.errors import UsageError
from symcorpus.music import abc_text
from symcorpus.music.formats import ABC, SNIFF_BYTES, detect_format


class SourceError(UsageError):
    """A source the user named that cannot be used (missing, unsupported)."""


@dataclass(frozen=True)
class Source:
    name: str  # the `source` column of every record from it
    uri: str  # what was listed: an absolute path
    kind: str  # a key of sources.KINDS


@dataclass(frozen=True)
class Unit:
    """One unit of ingest work: a file, a zip member, or a whole tar archive (schema.UNITS)."""

    source: str
    kind: str  # file | zip | tar
    container: str  # directory root or archive path
    member: str  # relative path inside it; "" for a whole archive
    size: int


@dataclass(frozen=True)
class Record:
    source: str
    path: str
    format: str
    content: bytes

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


def records_from_bytes(source: str, path: str, data: bytes) -> list[Item]:
    """The records in one file's bytes: ABC files split into tunes, other formats one record."""
    fmt = detect_format(path, data[:SNIFF_BYTES])
    if fmt is None:
        return [Skipped(source, path)]
    if fmt == ABC:
        return [Record(source, f"{path}#{tune.index}", ABC, tune.content) for tune in abc_text.split_tunes(data)]
    return [Record(source, path, fmt, data)]


def read_capped(stream, max_bytes: int) -> bytes | None:
    """Up to max_bytes from a stream; None when there is more (declared sizes can lie: zip bombs)."""
    data = stream.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def too_large(source: str, path: str, size: int | None, max_bytes: int) -> IngestFailure:
    detail = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes when read"
    return IngestFailure(source, path, None, size, f"too_large: {detail}, over max_bytes={max_bytes}")
