"""Read: units of work (rows of schema.UNITS) into pieces. The first step of a build.

Records become `pending` pieces with their bytes; unreadable files become `ingest` error rows;
files that are not music become `skipped` rows (counted by the build, never published).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from symcorpus import schema
from symcorpus.sources import IngestFailure, Record, read_unit
from symcorpus.steps.base import PENDING, Piece


class Read:
    name = "ingest"

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def run(self, units: Iterable[dict[str, Any]]) -> Iterator[Piece]:
        for unit in units:
            for item in read_unit(unit, self.max_bytes):
                if isinstance(item, Record):
                    yield record_piece(item)
                elif isinstance(item, IngestFailure):
                    yield Piece({"status": schema.STATUS_ERROR, "id": item.id, "source": item.source,
                                 "path": item.path, "format": item.format, "size_bytes": item.size_bytes,
                                 "stage": self.name, "error": item.error})
                else:
                    yield Piece({"status": schema.STATUS_SKIPPED, "id": "", "source": item.source,
                                 "path": item.path, "stage": self.name})


def record_piece(record: Record) -> Piece:
    """A record read, waiting for the parse step."""
    return Piece({"status": PENDING, "id": record.id, "source": record.source, "path": record.path,
                  "format": record.format, "size_bytes": len(record.content), "content": record.content})
