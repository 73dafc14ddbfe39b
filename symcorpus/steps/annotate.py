"""Annotate: features, key, labels, tags and caption of a piece (music/annotate.py)."""

from __future__ import annotations

from symcorpus.music.annotate import annotate
from symcorpus.steps.base import Piece, Step


class Annotate(Step):
    name = "annotate"

    def process(self, piece: Piece) -> None:
        row = piece.row
        row.update(annotate(piece.score, piece.table, row, piece_id=row["id"], source=row["source"],
                            path=row["path"], fmt=row["format"], title=row.get("title"),
                            composer=row.get("composer"), abc_header=piece.abc_header,
                            source_labels=row.get("source_labels"), tempo=piece.tempo))
