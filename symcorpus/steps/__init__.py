"""Per-record steps and the step lists of every command.

    Read -> Parse -> Fingerprint -> Annotate -> Quality       `symcorpus build`
    Read -> Parse -> Fingerprint -> Annotate (no rules)       `build --ingest-only` (DVC's first stage)
    LoadScore -> Fingerprint                                  `symcorpus dedup` (a published version)
    LoadScore -> Fingerprint -> Quality                       `symcorpus filter`
    LoadScore -> Fingerprint -> Annotate -> Quality           `symcorpus annotate`

With a parse cache, cached parses enter the build list as `parsed` pieces: Parse passes them by,
LoadScore reads their notes, and the rest runs as for any piece. Quality marks the pieces that fail a
rule; dedup, after the steps, still groups them with their byte and same-notes copies
(spark/dedup.py): a rejected piece that duplicates another is published as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symcorpus.config import Settings
from symcorpus.steps.annotate import Annotate
from symcorpus.steps.base import PARSED, PENDING, Filter, Piece, Step, chain
from symcorpus.steps.fingerprint import Fingerprint
from symcorpus.steps.filter import Quality
from symcorpus.steps.parse import LoadScore, Parse
from symcorpus.steps.read import Read

__all__ = ["PARSED", "PENDING", "Annotate", "Filter", "Fingerprint", "LoadScore", "LocalRun", "Parse", "Piece",
           "Quality", "Read", "Step", "build_steps", "chain", "restage_steps", "run_local", "run_local_sources",
           "run_records"]


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


@dataclass
class LocalRun:
    rows: list[dict[str, Any]]  # schema.PIECES columns, skipped files included
    counts: dict[str, dict[str, Any]]  # every step's counters
    joins: list[dict[str, Any]]  # the join report (sources/joins.py)
    captions: dict[str, Any]  # how shipped captions spread over the pieces
    sources: list[dict[str, Any]]  # what the manifest would say of each source


def run_local_sources(source_specs: list, settings: Settings, steps: list[Step] | None = None,
                      work: str | None = None) -> LocalRun:
    """A build's per-record steps in this process, without Spark, for SOURCE strings or Sources
    (a recipe's): every record's row, every step's counters, and the join and caption reports.
    For tests and small jobs: no deduplication, no publishing. Batches run as in a Spark task:
    isolated in forked children when ingest.isolate_records is on, and kept in (and reused from)
    `work` when it is given."""
    from symcorpus import __version__
    from symcorpus.sources.joins import caption_report, join_report, local_captions, local_tallies
    from symcorpus.sources.listing import list_sources
    from symcorpus.steps.batches import Running, run_pieces
    from symcorpus.steps.counts import local_outcomes, step_counts
    from symcorpus.steps.resume import Finished, build_key

    listed = list_sources(source_specs, settings.ingest)
    read = Read(settings.ingest.max_bytes, listed.contexts)
    steps = build_steps(settings) if steps is None else steps
    names = [read.name] + [s.name for s in steps]
    finished = Finished(work, build_key(settings, names, __version__)) if work else None
    pieces = read.run(vars(u) for u in listed.all_units())
    rows = [row for batch in run_pieces(pieces, steps, Running.from_settings(settings, finished))
            for row in batch.to_pylist()]
    counts = step_counts(names, local_outcomes(rows))
    return LocalRun(rows, counts, join_report(listed.joins(), local_tallies(rows)),
                    caption_report(local_captions(rows)), listed.manifest_entries())


def run_local(source_specs: list, settings: Settings, work: str | None = None
              ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every record's row (schema.PIECES columns; skipped files included) and every step's counters
    (`run_local_sources` without the reports)."""
    run = run_local_sources(source_specs, settings, work=work)
    return run.rows, run.counts


def run_records(records, settings: Settings) -> list[dict[str, Any]]:
    """Records (sources.Record) through the build steps in this process: one row each."""
    from symcorpus.sources.listing import SourceContext

    read = Read(settings.ingest.max_bytes)
    pieces = (read.record_piece(r, SourceContext()) for r in records)
    return [piece.row for piece in chain(pieces, build_steps(settings))]
