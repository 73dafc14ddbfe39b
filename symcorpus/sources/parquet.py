"""Parquet files whose rows carry the music's bytes: Hugging Face datasets, GigaMIDI's Parquet
release, any table a team writes. A file, or a folder (or object-storage prefix) of `*.parquet`.

The bytes are a binary column, or a struct `{bytes, path}` as Hugging Face `datasets` writes file
columns; the column is found by itself (the first such column) or named in the source's options
(`bytes_column`). Every other column of the row is kept as the record's source metadata. A
record's path is `<file>#<row>` (the row's index in the file), so it names exactly one row; the
struct's `path`, or a `name_column`, tells the format when the bytes alone do not.

Each row group is a unit of work; the driver reads only the files' footers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from symcorpus.sources import storage
from symcorpus.sources.base import (IngestFailure, Item, Meta, Source, SourceError, Unit, records_from_bytes,
                                    too_large, unit_params)

SUFFIX = ".parquet"
NAME_COLUMNS = ("path", "file_name", "filename", "location", "name")  # a row's file name, when present


def bytes_column(schema: pa.Schema, wanted: str | None = None) -> tuple[str, str | None] | None:
    """(column, struct field holding the bytes or None) of the music bytes, or None."""
    for field in schema:
        if wanted is not None and field.name != wanted:
            continue
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            return field.name, None
        if pa.types.is_struct(field.type):
            names = {field.type.field(i).name for i in range(field.type.num_fields)}
            if "bytes" in names:
                return field.name, "bytes"
    return None


def parquet_files(source: Source, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(relative name, URI) of the source's Parquet files, sorted."""
    if storage.kind_of(source.uri, options) == "file":
        return [(source.uri.rstrip("/").rsplit("/", 1)[-1], source.uri)]
    return [(rel, storage.join(source.uri, rel)) for rel, _ in storage.list_files(source.uri, options)
            if rel.lower().endswith(SUFFIX)]


def list_units(source: Source, options: Mapping[str, Any]) -> list[Unit]:
    """One unit per row group; a file whose footer cannot be read is one unit that fails in a worker."""
    wanted = source.options.get("bytes_column")
    units = []
    for rel, uri in parquet_files(source, options):
        try:
            with storage.open_file(uri, options) as f:
                meta = pq.ParquetFile(f).metadata
        except Exception:  # not Parquet, cut short: the worker reads it again and records why
            units.append(Unit(source.name, "parquet", uri, rel, 0, json.dumps({"row_group": -1})))
            continue
        if bytes_column(meta.schema.to_arrow_schema(), wanted) is None:
            raise SourceError(f"{uri}: no binary or {{bytes, path}} column"
                              + (f" named {wanted!r}" if wanted else "") + " holds the music")
        first = 0
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            params = {"row_group": i, "first_row": first, **_read_options(source.options)}
            units.append(Unit(source.name, "parquet", uri, rel, group.total_byte_size, json.dumps(params)))
            first += group.num_rows
    return units


def _read_options(options: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("bytes_column", "name_column", "meta_name", "exclude", "caption_column", "license_column", "labels")
    return {k: options[k] for k in keep if options.get(k) is not None}


def _plain(value: Any) -> Any:
    """A column value as JSON holds it (binary values by their length)."""
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def row_meta(row: Mapping[str, Any], params: Mapping[str, Any]) -> Meta:
    """A row's other columns as source metadata; caption, license and labels from the columns the
    adapter names (`caption_column`, `license_column`, `labels`: {label: column})."""
    fields = {k: _plain(v) for k, v in row.items()}
    labels = {}
    for label, column in (params.get("labels") or {}).items():
        value = row.get(column)
        value = value[0] if isinstance(value, list) and value else value  # a list column: its first value
        if value not in (None, "", []):
            labels[label] = str(value)
    caption = row.get(params["caption_column"]) if params.get("caption_column") else None
    license = row.get(params["license_column"]) if params.get("license_column") else None
    return Meta({params.get("meta_name", "parquet"): fields}, caption, license, labels)


def excluded_by(row: Mapping[str, Any], exclude: Mapping[str, list] | None) -> str | None:
    """`column=value` when the row's value is one the source's options leave out."""
    for column, values in (exclude or {}).items():
        if row.get(column) in values:
            return f"{column}={row.get(column)}"
    return None


def read_row_group(unit: Mapping[str, Any], options: Mapping[str, Any], max_bytes: int) -> Iterator[Item]:
    source, uri, rel = unit["source"], unit["container"], unit["member"]
    params = unit_params(unit)
    try:
        with storage.open_file(uri, options) as f:
            file = pq.ParquetFile(f)
            if params["row_group"] < 0:
                raise ValueError("the footer could not be read when the source was listed")
            table = file.read_row_group(params["row_group"])
    except Exception as e:  # ArrowInvalid on a cut or corrupt file, OSError from the store
        yield IngestFailure(source, rel, None, None, f"bad_parquet: {type(e).__name__}: {e}")
        return
    column, inner = bytes_column(table.schema, params.get("bytes_column"))
    for i, row in enumerate(table.to_pylist()):
        path = f"{rel}#{params['first_row'] + i}"
        cell = row.pop(column)
        data = cell.get(inner) if inner and cell is not None else cell
        name = (cell.get("path") if inner and cell is not None else None) or row.get(params.get("name_column", ""))
        name = name or next((row[c] for c in NAME_COLUMNS if isinstance(row.get(c), str)), None)
        if inner and cell is not None:
            row[column] = {k: v for k, v in cell.items() if k != inner}
        if not data:
            yield IngestFailure(source, path, None, 0, "empty: the row holds no bytes")
            continue
        if len(data) > max_bytes:
            yield too_large(source, path, len(data), max_bytes)
            continue
        yield from records_from_bytes(source, path, data, row_meta(row, params), name=name,
                                      excluded=excluded_by(row, params.get("exclude")))
