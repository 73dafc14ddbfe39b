"""A JSON-lines manifest: one object per piece, so any team can describe its own corpus.

    {"path": "bach/bwv1.6.mxl", "composer": "Bach, Johann Sebastian", "period": "Baroque",
     "caption": "A chorale ...", "license": "CC0-1.0", "rating": 4.6}

`path` (or `uri`) names the file: relative to the manifest's folder, absolute, or a URI
(`s3://...`). `caption` and `license` fill those columns; `period`, `composer`, `instrumentation`,
`genre` and `mood` are the labels the source states; every key but the path is kept in
`source_meta` under "manifest". A line that is not a JSON object, has no path, or names a path an
earlier line named is an errors row (the first line naming a path keeps it).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any

from symcorpus.sources import storage
from symcorpus.sources.base import SOURCE_LABELS, Source, Unit, failure_unit

SUFFIXES = (".jsonl", ".ndjson")
PATH_KEYS = ("path", "uri")


def base_of(uri: str) -> str:
    return uri.rsplit("/", 1)[0] if storage.is_remote(uri) else posixpath.dirname(storage.local_path(uri))


def entry_meta(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The `meta` params of a line: what read_file turns into the record's Meta."""
    fields = {k: v for k, v in entry.items() if k not in PATH_KEYS}
    labels = {k: str(entry[k]) for k in SOURCE_LABELS if entry.get(k) not in (None, "")}
    caption, license = entry.get("caption"), entry.get("license")
    return {"fields": {"manifest": fields}, "caption": caption if isinstance(caption, str) else None,
            "license": license if isinstance(license, str) else None, "labels": labels}


def list_units(source: Source, options: Mapping[str, Any]) -> list[Unit]:
    name = source.uri.rstrip("/").rsplit("/", 1)[-1]
    try:
        text = storage.read_bytes(source.uri, options).decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [failure_unit(source.name, name, f"bad_manifest: {e}")]
    base = base_of(source.uri)
    units, seen = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            entry = json.loads(line)
        except ValueError as e:
            units.append(failure_unit(source.name, where, f"bad_manifest_line: {e}"))
            continue
        path = next((entry.get(k) for k in PATH_KEYS if isinstance(entry, dict) and entry.get(k)), None)
        if not isinstance(path, str):
            units.append(failure_unit(source.name, where, "bad_manifest_line: no \"path\" or \"uri\""))
            continue
        if path in seen:
            units.append(failure_unit(source.name, where,
                                      f"duplicate_path: {path} is named by line {seen[path]} too (that line's "
                                      "metadata is kept)"))
            continue
        seen[path] = number
        container = "" if storage.is_remote(path) or posixpath.isabs(path) else base
        units.append(Unit(source.name, "file", container, path, 0, json.dumps({"meta": entry_meta(entry)})))
    return units
