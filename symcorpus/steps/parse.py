"""Parse: a pending record's bytes into a score and the summary columns; LoadScore: the score of a
piece whose parse is already stored (a published row, or a cached parse), from its MIDI."""

from __future__ import annotations

import symusic

from symcorpus import schema
from symcorpus.music.notes import note_table, summarize
from symcorpus.music.parse import Limits, parse_piece
from symcorpus.steps.base import PARSED, PENDING, Piece, Step


class Parse(Step):
    name = "parse"
    takes = frozenset({PENDING})

    def __init__(self, limits: Limits):
        self.limits = limits

    def process(self, piece: Piece) -> None:
        row = piece.row
        # A ParseError (a ReasonError) becomes this step's error row in Step.run.
        parsed = parse_piece(row["content"], row["format"], self.limits, name=row["path"].split("#")[0])
        piece.score, piece.table, piece.abc_header = parsed.score, note_table(parsed.score), parsed.abc_header
        row.update(summarize(parsed, piece.table))
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
        piece.score = symusic.Score.from_midi(stored_midi(row))
        piece.table = note_table(piece.score)
        piece.abc_header = row.get("abc")
        row["status"] = schema.STATUS_OK


def stored_midi(row: dict) -> bytes:
    """The notes of a stored row as MIDI: `score_midi` for other formats, and for MIDI files that
    came wrapped (an .rmi keeps its unwrapped Standard MIDI File there), else the content itself."""
    return row["score_midi"] if row["format"] != "midi" or row.get("score_midi") else row["content"]
