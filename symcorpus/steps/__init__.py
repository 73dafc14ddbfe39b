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
           "Read", "Step", "build_steps", "chain", "restage_steps", "run_local"]


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


def run_local(source_specs: list[str], settings: Settings, work: str | None = None
              ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A build's per-record steps without Spark: every record's row (schema.PIECES columns; skipped
    files included) and every step's counters. For tests and small jobs: no deduplication, no
    publishing. Batches run as in a Spark task: isolated in forked children when
    ingest.isolate_records is on, and kept in (and reused from) `work` when it is given."""
    from symcorpus import __version__
    from symcorpus.sources import list_units, resolve_source
    from symcorpus.steps.batches import Running, run_pieces
    from symcorpus.steps.counts import local_outcomes, step_counts
    from symcorpus.steps.resume import Finished, build_key

    read, steps = Read(settings.ingest.max_bytes), build_steps(settings)
    taken: set[str] = set()
    units = []
    for spec in source_specs:
        source = resolve_source(spec, taken)
        taken.add(source.name)
        units += [vars(u) for u in list_units(source, settings.ingest)]
    names = [read.name] + [s.name for s in steps]
    finished = Finished(work, build_key(settings, names, __version__)) if work else None
    rows = [row for batch in run_pieces(read.run(units), steps, Running.from_settings(settings, finished))
            for row in batch.to_pylist()]
    return rows, step_counts(names, local_outcomes(rows))
