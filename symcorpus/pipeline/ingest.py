"""Read units of work into records: one record per piece, with its bytes and provenance.

Runs inside the executors. Archives are read in place: zip members by random access, tar archives
streamed front to back; nothing is extracted to disk. An ABC file with N tunes gives N records.
Anything unreadable becomes an `IngestFailure`, which the build writes to the errors table.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from symcorpus.music import abc_text
from symcorpus.music.formats import ABC, SNIFF_BYTES, detect_format


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


def unsafe_member_name(name: str) -> bool:
    """Archive member names that would escape a directory if extracted: absolute or with `..`."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True
    return ".." in posixpath.normpath(normalized).split("/") or ".." in normalized.split("/")


def records_from_bytes(source: str, path: str, data: bytes) -> Iterator[Item]:
    """The records in one file's bytes: ABC files split into tunes, other formats one record."""
    fmt = detect_format(path, data[:SNIFF_BYTES])
    if fmt is None:
        yield Skipped(source, path)
    elif fmt == ABC:
        tunes = abc_text.split_tunes(data)
        for tune in tunes:
            yield Record(source, f"{path}#{tune.index}", ABC, tune.content)
    else:
        yield Record(source, path, fmt, data)


def _read_capped(stream, max_bytes: int) -> bytes | None:
    """Up to max_bytes from a stream; None when there is more (declared sizes can lie: zip bombs)."""
    data = stream.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


@functools.lru_cache(maxsize=4)
def _open_zip(path: str) -> zipfile.ZipFile:
    # Parsing a zip's central directory once per worker, not once per member.
    return zipfile.ZipFile(path)


def _too_large(source: str, path: str, size: int | None, max_bytes: int) -> IngestFailure:
    detail = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes when read"
    return IngestFailure(source, path, None, size, f"too_large: {detail}, over max_bytes={max_bytes}")


def read_file(source: str, root: str, rel: str, max_bytes: int) -> Iterator[Item]:
    full = os.path.join(root, rel)
    try:
        size = os.path.getsize(full)
        if size > max_bytes:
            yield _too_large(source, rel, size, max_bytes)
            return
        with open(full, "rb") as f:
            data = _read_capped(f, max_bytes)
    except OSError as e:
        yield IngestFailure(source, rel, None, None, f"unreadable: {e.strerror or e}")
        return
    if data is None:
        yield _too_large(source, rel, None, max_bytes)
        return
    yield from records_from_bytes(source, rel, data)


def read_zip_member(source: str, archive_path: str, member: str, max_bytes: int) -> Iterator[Item]:
    if not member:  # the whole archive: listing could not open it
        try:
            zipfile.ZipFile(archive_path).close()
        except (zipfile.BadZipFile, OSError) as e:
            yield IngestFailure(source, os.path.basename(archive_path), None, None, f"bad_archive: {e}")
        return
    if unsafe_member_name(member):
        yield IngestFailure(source, member, None, None, "unsafe_path: member name escapes the archive")
        return
    try:
        archive = _open_zip(archive_path)
        info = archive.getinfo(member)
        if info.file_size > max_bytes:
            yield _too_large(source, member, info.file_size, max_bytes)
            return
        with archive.open(info) as f:
            data = _read_capped(f, max_bytes)
    except Exception as e:  # bad CRC, unsupported compression, truncated archive...
        yield IngestFailure(source, member, None, None, f"bad_archive_member: {type(e).__name__}: {e}")
        return
    if data is None:
        yield _too_large(source, member, None, max_bytes)
        return
    yield from records_from_bytes(source, member, data)


def read_tar(source: str, archive_path: str, max_bytes: int) -> Iterator[Item]:
    name = os.path.basename(archive_path)
    try:
        with tarfile.open(archive_path, mode="r|*") as archive:  # stream mode: no seeking
            for info in archive:
                if info.isdir():
                    continue
                if unsafe_member_name(info.name):
                    yield IngestFailure(source, info.name, None, info.size, "unsafe_path: member name escapes the archive")
                    continue
                if not info.isfile():
                    yield IngestFailure(source, info.name, None, None, "unsafe_member: links and devices are not read")
                    continue
                if info.size > max_bytes:
                    yield _too_large(source, info.name, info.size, max_bytes)
                    continue
                f = archive.extractfile(info)
                data = f.read() if f is not None else b""
                yield from records_from_bytes(source, info.name, data)
    except Exception as e:  # TarError, a corrupt gzip stream (zlib.error), EOFError...
        yield IngestFailure(source, name, None, None, f"bad_archive: {type(e).__name__}: {e}")


def read_unit(unit: dict, max_bytes: int) -> Iterator[Item]:
    """Records, failures and skipped files in one unit (a row of schema.UNITS)."""
    kind, source = unit["kind"], unit["source"]
    if kind == "file":
        return read_file(source, unit["container"], unit["member"], max_bytes)
    if kind == "zip":
        return read_zip_member(source, unit["container"], unit["member"], max_bytes)
    if kind == "tar":
        return read_tar(source, unit["container"], max_bytes)
    raise ValueError(f"unknown unit kind {kind!r}")
