"""Parse: a pending record's bytes into a score and the summary columns; LoadScore: the score of a
piece whose parse is already stored (a published row, or a cached parse), from its MIDI.

Before parsing, a cheap check of what the bytes will decode to: a compressed MusicXML file (.mxl)
declares its members' sizes, and one that would unpack past max_bytes is `too_large` without
being unpacked (music21 would hold it all in memory). The note count is bounded by max_notes right
after the parse, before any per-note table is built; the memory a record may take in all is bounded
by the isolated child it runs in (steps/guard.py).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator

import symusic

from symcorpus import schema
from symcorpus.music.formats import ABC, MUSICXML
from symcorpus.music.notes import TempoMap, note_table, summarize
from symcorpus.music.parse import Limits, ParseError, parse_piece, render_abc_tunes
from symcorpus.steps import faults
from symcorpus.steps.base import PARSED, PENDING, Piece, Step

ZIP_MAGIC = b"PK\x03\x04"


def decoded_size(content: bytes, fmt: str) -> int:
    """Bytes the parser will read: the declared unpacked size of a compressed MusicXML file, else
    the record's own size. A damaged archive counts as its own size (the parser reports it)."""
    if fmt == MUSICXML and content[:4] == ZIP_MAGIC:
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                return sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError):
            pass
    return len(content)


ABC_BATCH = 64  # pending ABC tunes rendered by one abc2midi run


class Parse(Step):
    name = "parse"
    takes = frozenset({PENDING})

    def __init__(self, limits: Limits):
        self.limits = limits
        self._rendered: dict[int, bytes | None] = {}  # id(piece) -> its tune's MIDI, made ahead

    def run(self, pieces: Iterable[Piece]) -> Iterator[Piece]:
        return super().run(self._render_abc_ahead(pieces))

    def _render_abc_ahead(self, pieces: Iterable[Piece]) -> Iterator[Piece]:
        """The pieces in order; runs of consecutive pending ABC tunes are rendered together first."""
        run: list[Piece] = []
        for piece in pieces:
            tune = piece.status == PENDING and piece.row.get("format") == ABC
            if tune:
                run.append(piece)
                if len(run) < ABC_BATCH:
                    continue
            yield from self._rendered_run(run)  # parsed downstream before this generator resumes
            run = []
            if not tune:
                yield piece
        yield from self._rendered_run(run)

    def _rendered_run(self, run: list[Piece]) -> list[Piece]:
        if len(run) > 1:
            try:
                rendered = render_abc_tunes([p.row["content"] for p in run], self.limits)
            except Exception:  # noqa: BLE001 - every tune is then rendered alone, as it would be anyway
                rendered = [None] * len(run)
            self._rendered.update((id(p), midi) for p, midi in zip(run, rendered))
        return run

    def process(self, piece: Piece) -> None:
        row = piece.row
        faults.at_record(row["id"])
        # A ParseError (a ReasonError) becomes this step's error row in Step.run.
        size = decoded_size(row["content"], row["format"])
        if size > max(len(row["content"]), self.limits.max_bytes):
            raise ParseError("too_large", f"unpacks to {size} bytes, over max_bytes={self.limits.max_bytes}")
        parsed = parse_piece(row["content"], row["format"], self.limits, name=row["path"].split("#")[0],
                             rendered=self._rendered.pop(id(piece), None))
        _hold_score(piece, parsed.score)
        piece.abc_header = parsed.abc_header
        row.update(summarize(parsed, piece.table, piece.tempo))
        row.update(status=schema.STATUS_OK, abc=parsed.abc_header, score_midi=parsed.rendered_midi,
                   title=parsed.title, composer=parsed.composer)


class LoadScore(Step):
    """Published rows and cached parses keep their notes as MIDI (the content of MIDI records,
    `score_midi` for other formats): symusic reads them back, nothing is rendered again."""

    name = "load"
    takes = frozenset({PARSED, schema.STATUS_OK})

    def process(self, piece: Piece) -> None:
        if piece.score is not None:
            return
        row = piece.row
        _hold_score(piece, symusic.Score.from_midi(stored_midi(row)))
        piece.abc_header = row.get("abc")
        row["status"] = schema.STATUS_OK


def _hold_score(piece: Piece, score: symusic.Score) -> None:
    """The score and what every later step reads of it, made once: the note table and tempo map."""
    piece.score, piece.table, piece.tempo = score, note_table(score), TempoMap.of(score)


def stored_midi(row: dict) -> bytes:
    """The notes of a stored row as MIDI: `score_midi` for other formats, and for MIDI files that
    came wrapped (an .rmi keeps its unwrapped Standard MIDI File there), else the content itself."""
    return row["score_midi"] if row["format"] != "midi" or row.get("score_midi") else row["content"]
