"""Zip and tar archives, read in place: nothing is extracted to disk.

A zip allows random access, so each member is a unit of its own; a (compressed) tar can only be
read front to back, so the whole archive is one unit whose records are spread over partitions
after reading. Member names that would escape a directory (`../x`, `/x`) are `unsafe_path` errors.
"""

from __future__ import annotations

import functools
import os
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator

from symcorpus.sources.base import IngestFailure, Item, Source, Unit, read_capped, records_from_bytes, too_large

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
SUFFIXES = (".zip",) + TAR_SUFFIXES


def archive_kind(name: str) -> str | None:
    """'zip' or 'tar' by the file name, else None."""
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def stem(name: str) -> str:
    """The archive's name without its suffix: the source name it gives."""
    lower = name.lower()
    for suffix in SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def unsafe_member_name(name: str) -> bool:
    """Archive member names that would escape a directory if extracted: absolute or with `..`."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True
    return ".." in posixpath.normpath(normalized).split("/") or ".." in normalized.split("/")


def list_zip_units(source: Source) -> list[Unit]:
    try:
        with zipfile.ZipFile(source.uri) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        # The worker opens it again and records the error against the archive.
        return [Unit(source.name, "zip", source.uri, "", os.path.getsize(source.uri))]
    return [Unit(source.name, "zip", source.uri, i.filename, i.file_size) for i in infos]


def list_tar_units(source: Source) -> list[Unit]:
    return [Unit(source.name, "tar", source.uri, "", os.path.getsize(source.uri))]


@functools.lru_cache(maxsize=4)
def _open_zip(path: str) -> zipfile.ZipFile:
    # Parsing a zip's central directory once per worker, not once per member.
    return zipfile.ZipFile(path)


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
            yield too_large(source, member, info.file_size, max_bytes)
            return
        with archive.open(info) as f:
            data = read_capped(f, max_bytes)
    except Exception as e:  # bad CRC, unsupported compression, truncated archive...
        yield IngestFailure(source, member, None, None, f"bad_archive_member: {type(e).__name__}: {e}")
        return
    if data is None:
        yield too_large(source, member, None, max_bytes)
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
                    yield too_large(source, info.name, info.size, max_bytes)
                    continue
                f = archive.extractfile(info)
                data = f.read() if f is not None else b""
                yield from records_from_bytes(source, info.name, data)
    except Exception as e:  # TarError, a corrupt gzip stream (zlib.error), EOFError...
        yield IngestFailure(source, name, None, None, f"bad_archive: {type(e).__name__}: {e}")
