"""Train / valid / test assignment by hash: deterministic, and stable when the corpus grows."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "valid", "test")


def split_of(key: str, ratios: dict[str, float], seed: str = "") -> str:
    """The split for `key` (a piece id now, a duplicate-cluster id once dedup groups pieces).

    The key's hash is read as a number in [0, 1) and falls into one of the cumulative ratio ranges,
    so the assignment depends on the key alone, never on which other pieces are in the corpus.
    """
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    x = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name in SPLITS:
        edge += ratios.get(name, 0.0)
        if x < edge:
            return name
    # Only reached when the ratios add up to a hair under 1: the last split in use takes the rest.
    return [name for name in SPLITS if ratios.get(name, 0.0) > 0][-1]
