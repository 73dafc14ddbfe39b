"""Zip and tar archives, read in place: nothing is extracted to disk.

A zip allows random access, so each member is a unit of its own; a (compressed) tar can only be
read front to back, so the whole archive is one unit whose records are spread over partitions
after reading. Member names that would escape a directory (`../x`, `/x`) are `unsafe_path` errors.
Archives may be local files or objects (read through fsspec in ranges, never whole on the driver).

Tar members are grouped the WebDataset way: consecutive members that share a key (the name up to
the first dot of its last part) are one sample, so `000123.mid` with `000123.json` is a record
whose metadata is that JSON, and `000123.txt` its caption.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any

from symcorpus.sources import storage
from symcorpus.sources.base import (IngestFailure, Item, Meta, Record, Skipped, Source, Unit, read_capped,
                                    records_from_bytes, too_large, unit_params)

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
SUFFIXES = (".zip",) + TAR_SUFFIXES
SIDECAR_META = (".json",)  # WebDataset sample metadata
SIDECAR_CAPTION = (".txt", ".caption", ".cap")


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


def meta_from_params(meta: Mapping[str, Any] | None) -> Meta | None:
    """The Meta a unit's params carry (a manifest line's metadata), or None."""
    if not meta:
        return None
    return Meta(meta.get("fields") or {}, meta.get("caption"), meta.get("license"), meta.get("labels") or {})


def _params(prefix: str) -> str | None:
    return json.dumps({"prefix": prefix}) if prefix else None


def _prefixed(unit: Mapping[str, Any], name: str) -> str:
    prefix = unit_params(unit).get("prefix")
    return f"{prefix}/{name}" if prefix else name


def archive_units(source: str, uri: str, kind: str, size: int, options: Mapping[str, Any],
                  prefix: str = "") -> list[Unit]:
    """Units of one archive: a unit per zip member, one unit for a whole tar. `prefix`: the
    archive's path inside a folder source, put in front of its members' paths."""
    if kind == "tar":
        return [Unit(source, "tar", uri, "", size, _params(prefix))]
    try:
        with storage.open_file(uri, options) as f, zipfile.ZipFile(f) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        # The worker opens it again and records the error against the archive.
        return [Unit(source, "zip", uri, "", size, _params(prefix))]
    return [Unit(source, "zip", uri, i.filename, i.file_size, _params(prefix)) for i in infos]


def list_zip_units(source: Source, options: Mapping[str, Any] | None = None) -> list[Unit]:
    return archive_units(source.name, source.uri, "zip", storage.file_size(source.uri, options), options or {})


def list_tar_units(source: Source, options: Mapping[str, Any] | None = None) -> list[Unit]:
    return archive_units(source.name, source.uri, "tar", storage.file_size(source.uri, options), options or {})


@functools.lru_cache(maxsize=4)
def _open_zip(uri: str, options_json: str) -> zipfile.ZipFile:
    # Parsing a zip's central directory once per worker, not once per member.
    return zipfile.ZipFile(storage.open_file(uri, json.loads(options_json)))


def read_zip_member(unit: Mapping[str, Any], options: Mapping[str, Any], max_bytes: int) -> Iterator[Item]:
    source, archive_uri, member = unit["source"], unit["container"], unit["member"]
    if not member:  # the whole archive: listing could not open it
        try:
            with storage.open_file(archive_uri, options) as f:
                zipfile.ZipFile(f).close()
        except (zipfile.BadZipFile, OSError) as e:
            yield IngestFailure(source, _prefixed(unit, posixpath.basename(archive_uri)), None, None,
                                f"bad_archive: {e}")
        return
    path = _prefixed(unit, member)
    if unsafe_member_name(member):
        yield IngestFailure(source, path, None, None, "unsafe_path: member name escapes the archive")
        return
    try:
        archive = _open_zip(archive_uri, json.dumps(dict(options), sort_keys=True))
        info = archive.getinfo(member)
        if info.file_size > max_bytes:
            yield too_large(source, path, info.file_size, max_bytes)
            return
        with archive.open(info) as f:
            data = read_capped(f, max_bytes)
    except Exception as e:  # bad CRC, unsupported compression, truncated archive...
        yield IngestFailure(source, path, None, None, f"bad_archive_member: {type(e).__name__}: {e}")
        return
    if data is None:
        yield too_large(source, path, None, max_bytes)
        return
    yield from records_from_bytes(source, path, data)


def sample_key(name: str) -> str:
    """WebDataset's sample key of a member: its folder and its file name up to the first dot."""
    folder, base = posixpath.split(name)
    return posixpath.join(folder, base.split(".", 1)[0])


def _sample_items(source: str, members: list[tuple[str, str, bytes]]) -> Iterator[Item]:
    """Items of one WebDataset sample (members sharing a key): sidecar JSON and caption files give
    the metadata of the sample's music files; a sample without music yields its files as Skipped."""
    fields: dict[str, Any] = {}
    caption = None
    music = []
    for path, name, data in members:
        lower = name.lower()
        if lower.endswith(SIDECAR_META):
            try:
                fields["webdataset"] = json.loads(data)
            except ValueError:
                music.append((path, data))  # not JSON after all: read (and skipped) like any file
        elif lower.endswith(SIDECAR_CAPTION):
            caption = data.decode("utf-8", "replace").strip() or None
        else:
            music.append((path, data))
    items = [item for path, data in music for item in records_from_bytes(source, path, data)]
    if not any(not isinstance(item, Skipped) for item in items):
        yield from (Skipped(source, path) for path, _, _ in members)
        return
    meta = Meta(fields, caption) if fields or caption else None
    for item in items:
        yield dataclasses.replace(item, meta=meta) if meta is not None and isinstance(item, Record) else item


def read_tar(unit: Mapping[str, Any], options: Mapping[str, Any], max_bytes: int) -> Iterator[Item]:
    source, archive_uri = unit["source"], unit["container"]
    name = unit_params(unit).get("prefix") or posixpath.basename(archive_uri)
    sample: list[tuple[str, str, bytes]] = []
    try:
        with storage.open_file(archive_uri, options) as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
            for info in archive:  # stream mode: no seeking
                if info.isdir():
                    continue
                path = _prefixed(unit, info.name)
                if unsafe_member_name(info.name):
                    yield IngestFailure(source, path, None, info.size, "unsafe_path: member name escapes the archive")
                    continue
                if not info.isfile():
                    yield IngestFailure(source, path, None, None, "unsafe_member: links and devices are not read")
                    continue
                if info.size > max_bytes:
                    yield too_large(source, path, info.size, max_bytes)
                    continue
                if sample and sample_key(sample[-1][1]) != sample_key(info.name):
                    done, sample = sample, []
                    yield from _sample_items(source, done)
                f = archive.extractfile(info)
                sample.append((path, info.name, f.read() if f is not None else b""))
            last, sample = sample, []
            yield from _sample_items(source, last)
    except Exception as e:  # TarError, a corrupt gzip stream (zlib.error), EOFError, a missing object...
        yield from _sample_items(source, sample)  # what was read before the archive broke
        yield IngestFailure(source, name, None, None, f"bad_archive: {type(e).__name__}: {e}")
