"""Units packed into Spark partitions by an estimate of their parse cost, so a few huge files (a
MusicXML file costs ~300 MIDI files) do not stall one task."""

from __future__ import annotations

import heapq
import os

from symcorpus.music.formats import ABC, EXTENSIONS, HUMDRUM, MIDI, MUSICXML
from symcorpus.sources.base import Unit

# Rough parse cost in milliseconds: a fixed cost by format plus a cost per kilobyte. Only the ratios
# matter: they keep a few big MusicXML files from landing in one partition.
_BASE_MS = {MIDI: 0.3, ABC: 3.0, MUSICXML: 100.0, HUMDRUM: 200.0}
_PER_KB_MS = {MIDI: 0.01, ABC: 0.2, MUSICXML: 3.0, HUMDRUM: 20.0}


def estimated_cost(unit: Unit) -> float:
    if unit.kind == "tar" or (unit.kind == "zip" and not unit.member):
        return 1.0 + unit.size / 1024 * 0.5
    fmt = EXTENSIONS.get(os.path.splitext(unit.member)[1].lower(), MIDI)
    return _BASE_MS[fmt] + unit.size / 1024 * _PER_KB_MS[fmt]


def pack_partitions(units: list[Unit], n_partitions: int) -> list[list[Unit]]:
    """Longest-processing-time packing: each unit, costliest first, goes to the lightest partition.

    Deterministic (ties broken by position). Units inside a partition keep the listing order, so
    files of one directory or archive are read together.
    """
    n_partitions = max(1, min(n_partitions, len(units)))
    order = sorted(range(len(units)), key=lambda i: (-estimated_cost(units[i]), i))
    heap = [(0.0, p) for p in range(n_partitions)]
    assigned: list[list[int]] = [[] for _ in range(n_partitions)]
    for i in order:
        load, p = heapq.heappop(heap)
        assigned[p].append(i)
        heapq.heappush(heap, (load + estimated_cost(units[i]), p))
    return [[units[i] for i in sorted(members)] for members in assigned if members]
