"""Fingerprint: the dedup columns of a piece, for the levels in use: `notes_hash` for `notes`, the
MinHash signature and its LSH band hashes for `near` (the `exact` level needs only the id).

Pieces that already carry fingerprints (a cached parse) keep them; a version deduplicated again
starts from rows whose fingerprints the driver cleared, so new dedup params take effect.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from symcorpus.config import DedupSettings
from symcorpus.music.fingerprint import MinHasher, band_hashes, notes_hash, pack_signature, shingle_hashes
from symcorpus.music.notes import quarter_notes
from symcorpus.steps.base import Piece, Step

COLUMNS = ("notes_hash", "minhash", "lsh_bands")


@functools.lru_cache(maxsize=4)
def _minhasher(num_perm: int, seed: int) -> MinHasher:
    return MinHasher(num_perm, seed)


def fingerprints(table: np.ndarray, tpq: int, config: DedupSettings) -> dict[str, Any]:
    """The dedup columns of one piece's note table (music/notes.note_table)."""
    columns: dict[str, Any] = dict.fromkeys(COLUMNS)
    if "notes" not in config.levels and "near" not in config.levels:
        return columns
    notes = quarter_notes(table, max(tpq, 1))
    if "notes" in config.levels:
        columns["notes_hash"] = notes_hash(notes, transpose_invariant=config.transpose_invariant, grid=config.grid)
    if "near" in config.levels:
        hasher = _minhasher(config.num_perm, config.seed)
        sparse = hasher.sparse_signature(shingle_hashes(notes, config.shingle_size))
        columns["minhash"] = pack_signature(sparse)  # empty bins kept: packed_similarities leaves them out
        # numpy: the batch makes the list
        columns["lsh_bands"] = band_hashes(hasher.densified(sparse), config.bands, config.rows)
    return columns


class Fingerprint(Step):
    name = "fingerprint"

    def __init__(self, config: DedupSettings):
        self.config = config

    def process(self, piece: Piece) -> None:
        if all(piece.row.get(c) is None for c in COLUMNS):
            piece.row.update(fingerprints(piece.table, int(piece.score.ticks_per_quarter), self.config))
