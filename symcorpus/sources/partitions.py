"""Units packed into Spark partitions by an estimate of their cost through the build's steps, so a
few costly files (a Humdrum file read by music21 costs ~100 MIDI files) do not stall one task."""

from __future__ import annotations

import heapq
import math
import os

from symcorpus.music.formats import ABC, EXTENSIONS, HUMDRUM, MIDI, MUSICXML
from symcorpus.sources.base import Unit

# CPU milliseconds through the steps (parse, fingerprints, annotation): a fixed cost by format plus
# a cost per stored kilobyte, fitted per file on 2026-12-03 (Lakh-size MIDI of bench/make_corpus.py,
# music21's ABC, MusicXML and Humdrum files). Only the ratios matter. A compressed MusicXML
# file (.mxl) holds ~25x its size in XML, so its kilobyte costs more.
_BASE_MS = {MIDI: 2.0, ABC: 1.0, MUSICXML: 5.0, HUMDRUM: 20.0}
_PER_KB_MS = {MIDI: 0.05, ABC: 5.4, MUSICXML: 0.04, HUMDRUM: 90.0}
_PER_KB_MS_BY_EXTENSION = {".mxl": 1.1}


def estimated_cost(unit: Unit) -> float:
    if unit.kind == "tar" or (unit.kind == "zip" and not unit.member):
        return 1.0 + unit.size / 1024 * 0.5
    extension = os.path.splitext(unit.member)[1].lower()
    fmt = EXTENSIONS.get(extension, MIDI)
    per_kb = _PER_KB_MS_BY_EXTENSION.get(extension, _PER_KB_MS[fmt])
    return _BASE_MS[fmt] + unit.size / 1024 * per_kb


def partition_count(n_units: int, cores: int, max_units_per_partition: int, min_partitions_per_core: int) -> int:
    """Partitions for `n_units` on `cores`: at least `min_partitions_per_core` a core, at most
    `max_units_per_partition` units each, and a whole number of rounds of tasks, so no core idles
    through the last round while one task runs (25 tasks of a 100K-file build on 2 cores left one
    core idle for a twenty-fifth of the stage)."""
    n = max(cores * min_partitions_per_core, math.ceil(n_units / max_units_per_partition))
    return math.ceil(n / cores) * cores


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
