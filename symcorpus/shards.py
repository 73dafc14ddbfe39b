"""Parquet shards written with pyarrow, deterministically: the same rows give the same bytes on every
run and machine (fixed row groups, zstd, no timestamps), and each file's sha256 is taken while it is
written. Spark tasks and single-process code use the same writer.

Why not Spark's own Parquet writer: parquet-mr lists each column chunk's encodings from a hash set
whose order follows the JVM's identity hash codes, so two runs of the same build wrote the same rows
as files whose bytes differ; a build that resumes or is retried must publish the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 1024  # rows per row group: fixed, so batch boundaries upstream never show in the file
COMPRESSION = "zstd"


class _HashingFile(io.RawIOBase):
    """A binary file that hashes and counts what is written through it."""

    def __init__(self, target):
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self.digest.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def write_shard(batches: Iterable[pa.RecordBatch], path: str | Path, arrow_schema: pa.Schema,
                row_group_rows: int = ROW_GROUP_ROWS) -> dict[str, Any] | None:
    """The batches (in order) as one Parquet file at `path` with `arrow_schema`'s types; its
    {path, rows, bytes, sha256}, or None (and no file) when there were no rows. The file appears
    whole or not at all (written beside, then renamed)."""
    path = Path(path)
    # One name per process: a retried task attempt never writes into a dead attempt's file.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    writer, pending, rows = None, [], 0
    with open(tmp, "wb") as raw:
        out = _HashingFile(raw)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pending.append(pa.Table.from_batches([batch]).cast(arrow_schema))
            rows += batch.num_rows
            buffered = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
            while buffered.num_rows >= row_group_rows:
                writer = writer or pq.ParquetWriter(out, arrow_schema, compression=COMPRESSION)
                writer.write_table(buffered.slice(0, row_group_rows), row_group_size=row_group_rows)
                buffered = buffered.slice(row_group_rows)
            pending = [buffered] if buffered.num_rows else []
        if pending or writer is not None:
            writer = writer or pq.ParquetWriter(out, arrow_schema, compression=COMPRESSION)
            for table in pending:
                writer.write_table(table, row_group_size=row_group_rows)
            writer.close()
    if rows == 0:
        tmp.unlink()
        return None
    tmp.rename(path)
    return {"path": str(path), "rows": rows, "bytes": out.size, "sha256": out.digest.hexdigest()}


def shard_name(number: int) -> str:
    """The file name of a table's shard `number`: part-00000.parquet, part-00001.parquet, ..."""
    return f"part-{number:05d}.parquet"


def write_empty(directory: str | Path, arrow_schema: pa.Schema) -> None:
    """A table with no rows still gets one shard, so its schema is there for every reader."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow_schema.empty_table(), directory / shard_name(0), compression=COMPRESSION)


def number_shards(directory: str | Path) -> list[Path]:
    """Rename a folder's shards to part-00000.parquet, part-00001.parquet, ... in name order (tasks
    with no rows write no file, which would leave gaps)."""
    directory = Path(directory)
    for leftover in directory.glob(".*.tmp-*"):  # from task attempts that died mid-write
        leftover.unlink()
    parts = sorted(directory.glob("part-*.parquet"))
    renamed = []
    for i, part in enumerate(parts):
        target = directory / shard_name(i)
        if part != target:
            part.rename(target)
        renamed.append(target)
    return renamed
