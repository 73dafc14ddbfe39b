"""Per-record steps and the step lists of every command.

    Read -> Parse -> Fingerprint -> Annotate -> Quality       `symcorpus build`
    Read -> Parse -> Fingerprint -> Annotate (no rules)       `build --ingest-only` (DVC's first stage)
    LoadScore -> Fingerprint                                  `symcorpus dedup` (a published version)
    LoadScore -> Fingerprint -> Quality                       `symcorpus filter`
    LoadScore -> Fingerprint -> Annotate -> Quality           `symcorpus annotate`

With a parse cache, cached parses enter the build list as `parsed` pieces: Parse passes them by,
LoadScore reads their notes, and the rest runs as for any piece.
"""

from __future__ import annotations

from typing import Any

from symcorpus.config import Settings
from symcorpus.steps.annotate import Annotate
from symcorpus.steps.base import PARSED, PENDING, Filter, Piece, Step, chain
from symcorpus.steps.fingerprint import Fingerprint
from symcorpus.steps.filter import Quality
from symcorpus.steps.parse import LoadScore, Parse
from symcorpus.steps.read import Read

__all__ = ["PARSED", "PENDING", "Annotate", "Filter", "Fingerprint", "LoadScore", "Parse", "Piece", "Quality",
           "Read", "Step", "build_steps", "chain", "restage_steps", "run_local", "run_records"]


def build_steps(settings: Settings, cached: bool = False) -> list[Step]:
    """What a build does to every record after reading it (`cached`: some come as cached parses)."""
    return [Parse(settings.ingest.limits()), *([LoadScore()] if cached else []), Fingerprint(settings.dedup),
            Annotate(), Quality(settings.filter)]


def restage_steps(settings: Settings, stages: tuple[str, ...]) -> list[Step]:
    """What `dedup` (no stages), `filter` and `annotate` do to every row of a published version."""
    steps: list[Step] = [LoadScore(), Fingerprint(settings.dedup)]
    if "annotate" in stages:
        steps.append(Annotate())
    if "annotate" in stages or "filter" in stages:
        steps.append(Quality(settings.filter))
    return steps


def run_local(source_specs: list[str], settings: Settings) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A build's per-record steps in this process, without Spark: every record's row (schema.PIECES
    columns; skipped files included) and every step's counters. For tests and small jobs: no
    deduplication, no publishing."""
    from symcorpus.sources import list_units, resolve_source
    from symcorpus.steps.counts import local_outcomes, step_counts

    read, steps = Read(settings.ingest.max_bytes), build_steps(settings)
    taken: set[str] = set()
    units = []
    for spec in source_specs:
        source = resolve_source(spec, taken)
        taken.add(source.name)
        units += [vars(u) for u in list_units(source, settings.ingest)]
    rows = [piece.row for piece in chain(read.run(units), steps)]
    return rows, step_counts([read.name] + [s.name for s in steps], local_outcomes(rows))


def run_records(records, settings: Settings) -> list[dict[str, Any]]:
    """Records (sources.Record) through the build steps in this process: one row each."""
    from symcorpus.steps.read import record_piece

    return [piece.row for piece in chain((record_piece(r) for r in records), build_steps(settings))]
