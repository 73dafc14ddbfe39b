"""Per-record steps: each a small class with a name that takes pieces and passes them on.

A `Piece` is one record on its way through a build: its row (the columns of schema.PIECES filled so
far) and what the steps in between share without storing it (the parsed score and its note table).
A step works only on pieces whose status it takes (Parse takes `pending` records, the others take
`ok` pieces) and passes every other piece through untouched, so a step list runs the same whether a
piece was read, parsed or came from a cache or a published version.

A step stops a piece by marking it: `fail` (an error row, with the step's name as its stage) or
`reject` (a rejects row, for filters). An exception a step did not expect becomes an `internal:`
error row of that step: one odd record never stops a build. Every step's counters (pieces in, out,
errors and rejections by reason) follow from those marks: see `steps/counts.py`.

A MemoryError is the record's too: an `out_of_memory` error row (the per-record memory budget of
steps/guard.py turns an allocation past it into a MemoryError), and the process goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from symcorpus import schema
from symcorpus.errors import ReasonError

if TYPE_CHECKING:  # the steps' base needs no parser loaded
    from symcorpus.music.notes import TempoMap

PENDING = "pending"  # read, not yet parsed
PARSED = "parsed"  # a parse taken from the cache: parse columns filled, no score yet


def internal_error(e: Exception) -> str:
    return f"internal: {type(e).__name__}: {e}"


def out_of_memory(e: MemoryError) -> str:
    detail = f": {e}" if str(e) else ""
    return f"out_of_memory: the record needed more memory than it may use ({type(e).__name__}{detail})"


@dataclass
class Piece:
    row: dict[str, Any]
    score: Any = None  # symusic.Score once parsed or loaded
    table: np.ndarray | None = None  # music/notes.note_table(score)
    tempo: TempoMap | None = None  # music/notes.TempoMap.of(score): made once, read by several steps
    abc_header: dict[str, str] | None = field(default=None)  # as the parser read it (ABC only)

    @property
    def status(self) -> str:
        return self.row["status"]

    def fail(self, stage: str, error: str) -> None:
        self.row.update(status=schema.STATUS_ERROR, stage=stage, error=error)

    def reject(self, stage: str, reason: str, detail: str | None) -> None:
        self.row.update(status=schema.STATUS_REJECTED, stage=stage, reason=reason, detail=detail)

    def release(self) -> None:
        """Drop the parsed score and what was made from it once the row is done: one score in
        memory at a time, not a batch of them."""
        self.score = self.table = self.tempo = None


class Step:
    """One stage of per-record work. Subclasses set `name` and implement `process(piece)`."""

    name: ClassVar[str]
    takes: ClassVar[frozenset[str]] = frozenset({schema.STATUS_OK})

    def run(self, pieces: Iterable[Piece]) -> Iterator[Piece]:
        for piece in pieces:
            if piece.status in self.takes:
                try:
                    self.process(piece)
                except ReasonError as e:
                    piece.fail(self.name, str(e))
                except MemoryError as e:
                    piece.fail(self.name, out_of_memory(e))
                except Exception as e:  # a bug or a library failure on odd input: still a row
                    piece.fail(self.name, internal_error(e))
            yield piece

    def process(self, piece: Piece) -> None:
        raise NotImplementedError


class Filter(Step):
    """A step that keeps a piece or names why not: `filter` returns None to keep, or (reason, detail)."""

    def process(self, piece: Piece) -> None:
        verdict = self.filter(piece)
        if verdict is not None:
            piece.reject(self.name, *verdict)

    def filter(self, piece: Piece) -> tuple[str, str | None] | None:
        raise NotImplementedError


def chain(pieces: Iterable[Piece], steps: Iterable[Step]) -> Iterator[Piece]:
    """The pieces through every step in order (lazily: one piece at a time, or a step's batch)."""
    for step in steps:
        pieces = step.run(pieces)
    return iter(pieces)
