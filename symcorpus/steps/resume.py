"""Resumable builds: each batch of records is kept as it finishes, so a build killed at any point and
started again with the same arguments reuses what its dead run (or a dead task) finished.

Why per batch, keyed by content: records reach the steps in an order fixed by the listing (units
are packed into partitions deterministically and read in order; records shuffled by id are sorted
within their partition first), and are cut into batches of `spark.arrow_batch_size`. A batch's rows
are stored under a key that hashes the build's key (code and schema versions, the step list and
every setting a record's outcome depends on: `build_key`) with each record's status, content hash
and provenance. The same arguments give the same keys, so a rerun takes every finished batch and
computes only the rest; a changed file, setting or code version gives other keys, so nothing stale
is ever reused. Keying by the batch's records rather than by partition also covers a Spark task
that died halfway: its retry takes the batches the dead attempt finished.

Storage: one Arrow IPC file (zstd) per batch in a folder next to OUT (spark/publish.py `work_dir`),
on storage every executor sees. A file is written under a temporary name and renamed into place, so
a batch is there whole or not at all however its writer dies; one that cannot be read (a machine
crash can leave an empty file) is computed again. IPC keeps the rows exactly as the steps made them
(no type conversion), so a resumed build publishes the same bytes as an undisturbed one. The driver
removes the folder once the version is published.

Rows read back are marked `resumed`: the manifest counts them from the final rows, so the figure is
exact however often Spark ran a task.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from symcorpus import schema
from symcorpus.steps.base import Piece

SUFFIX = ".arrow"
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def build_key(settings: Any, step_names: Sequence[str], code_version: str) -> str:
    """What every record's outcome depends on besides its own bytes: code, schema, steps, settings."""
    ingest = {k: v for k, v in settings.ingest.to_dict().items() if k not in ("cache_dir", "resume")}
    relevant = {"code": code_version, "schema": schema.SCHEMA_VERSION, "steps": list(step_names),
                "ingest": ingest, "dedup": settings.dedup.to_dict(), "filter": settings.filter.to_dict()}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Finished:
    """The finished batches of one build, in `directory`."""

    directory: str
    build_key: str

    def key(self, pieces: Iterable[Piece]) -> str:
        digest = hashlib.sha256(self.build_key.encode())
        for piece in pieces:
            row = piece.row
            digest.update(f"\0{row['status']}\0{row.get('id')}\0{row['source']}\0{row['path']}".encode())
        return digest.hexdigest()[:40]

    def path(self, key: str) -> str:
        return os.path.join(self.directory, key + SUFFIX)

    def load(self, key: str) -> pa.Table | None:
        """The batch's rows marked `resumed`, or None when it is not there whole."""
        path = self.path(key)
        try:
            with pa.OSFile(path) as source:
                table = pa.ipc.open_file(source).read_all()
        except FileNotFoundError:
            return None
        except (pa.ArrowInvalid, OSError):  # cut short by a machine crash: compute it again
            with contextlib.suppress(OSError):
                os.remove(path)
            return None
        if table.schema != schema.PIECES:
            return None
        column = table.schema.get_field_index("resumed")
        return table.set_column(column, "resumed", pa.array([True] * table.num_rows, pa.bool_()))

    def save(self, key: str, table: pa.Table) -> None:
        os.makedirs(self.directory, exist_ok=True)
        path = self.path(key)
        temporary = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            with pa.OSFile(temporary, "wb") as sink, pa.ipc.new_file(sink, schema.PIECES, options=_WRITE_OPTIONS) as w:
                w.write_table(table)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)

    def count(self) -> int:
        """Finished batches in the folder (what a rerun can reuse)."""
        try:
            return sum(1 for name in os.listdir(self.directory) if name.endswith(SUFFIX))
        except FileNotFoundError:
            return 0
