"""Read: units of work (rows of schema.UNITS) into pieces. The first step of a build.

Records become `pending` pieces with their bytes and the metadata that came with them (the source's
own, plus every metadata join of the source, each noted in the `joins` column for the join
report); records the source's metadata leaves out become `rejected` rows (reason `source_subset`);
unreadable files become `ingest` error rows; files that are not music become `skipped` rows
(counted by the build, never published).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from symcorpus import schema
from symcorpus.sources import IngestFailure, Record, read_unit
from symcorpus.sources.joins import attach
from symcorpus.sources.listing import SourceContext
from symcorpus.steps.base import PENDING, Piece

EXCLUDED = "source_subset"  # the reject reason of a record its source's metadata leaves out

class Read:
    name = "ingest"

    def __init__(self, max_bytes: int, sources: Mapping[str, SourceContext] | Any = None):
        self.max_bytes = max_bytes
        # A mapping, or a Spark broadcast of one (its `.value`), so big metadata tables travel once
        # per worker rather than with every task.
        self.sources = sources if sources is not None else {}

    def contexts(self) -> Mapping[str, SourceContext]:
        return self.sources.value if hasattr(self.sources, "value") else self.sources

    def run(self, units: Iterable[dict[str, Any]]) -> Iterator[Piece]:
        contexts = self.contexts()
        for unit in units:
            context = contexts.get(unit["source"]) or SourceContext()
            for item in read_unit(unit, self.max_bytes, context.options):
                if isinstance(item, Record):
                    yield self.record_piece(item, context)
                elif isinstance(item, IngestFailure):
                    yield Piece({"status": schema.STATUS_ERROR, "id": item.id, "source": item.source,
                                 "path": item.path, "format": item.format, "size_bytes": item.size_bytes,
                                 "stage": self.name, "error": item.error})
                else:
                    yield Piece({"status": schema.STATUS_SKIPPED, "id": "", "source": item.source,
                                 "path": item.path, "stage": self.name})

    def record_piece(self, record: Record, context: SourceContext) -> Piece:
        row = {"status": PENDING, "id": record.id, "source": record.source, "path": record.path,
               "format": record.format, "size_bytes": len(record.content), "content": record.content}
        meta, notes = attach(record, context.joins) if context.joins else (record.meta, [])
        if meta is not None:
            row.update(meta.columns())
        if notes:
            row["joins"] = notes
        if record.excluded:
            row.update(status=schema.STATUS_REJECTED, stage=self.name, reason=EXCLUDED, detail=record.excluded)
        return Piece(row)
