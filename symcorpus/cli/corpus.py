"""`symcorpus build | dedup | filter | annotate | export-captions`: corpus versions in and out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from symcorpus.cli.common import (CorpusIn, Metrics, NewOut, Overwrite, Params, SparkMaster, err_console, progress,
                                  settings)


def summary_table(result) -> Table:
    """Records by format and outcome."""
    table = Table(title=f"corpus version {result.out}", title_justify="left")
    columns = [("kept", "kept"), ("duplicates", "duplicate"), ("rejected", "rejected"), ("errors", "error")]
    table.add_column("format")
    for title, _ in columns:
        table.add_column(title, justify="right")
    table.add_column("input", justify="right")
    for fmt, counts in result.by_format.items():
        values = [counts.get(key, 0) for _, key in columns]
        if sum(values):
            table.add_row("(unreadable)" if fmt == "unknown" else fmt, *[f"{v:,}" for v in values], f"{sum(values):,}")
    c = result.counts
    table.add_row("[bold]total", *[f"[bold]{v:,}" for v in [c["kept"], c["duplicates"], c["rejected"], c["errors"],
                                                             c["input"]]])
    return table


def summary_lines(result) -> str:
    c = result.counts
    lines = (f"input {c['input']:,} = kept {c['kept']:,} + duplicates {c['duplicates']:,} + rejected "
             f"{c['rejected']:,} + errors {c['errors']:,}; splits "
             + ", ".join(f"{k} {v:,}" for k, v in c["by_split"].items()))
    inc = result.manifest.get("incremental") or {}
    if inc.get("cache"):
        lines += f"\nparse cache: {inc['reused']:,} records reused, {inc['parsed']:,} read and parsed anew"
    resumed = result.manifest.get("resumed") or {}
    if resumed.get("records") or resumed.get("batches_found"):
        found = resumed["batches_found"]
        where = (f"{found:,} batches an interrupted run finished" if found
                 else "batches that failed task attempts finished")
        lines += f"\nresumed: {resumed['records']:,} of {c['input']:,} records reused from {where}"
    return lines + (f"\n{result.skipped_files:,} non-music files skipped; "
                    f"{result.seconds:.1f} s, {result.pieces_per_second:,.0f} pieces/s")


def joins_table(joins: list[dict]) -> Table:
    """The join report: per source and metadata join, what matched and what did not."""
    table = Table(title="metadata joins (manifest.json `joins`)", title_justify="left",
                  caption="no meta: files without metadata; no file: metadata without files; collided: keys "
                          "with several entries (the first is used); bad: unreadable entries", caption_justify="left")
    for title in ("source", "join", "key", "files", "matched", "no meta", "no file", "collided", "bad"):
        table.add_column(title, justify="left" if title in ("source", "join", "key") else "right", no_wrap=True)
    for j in joins:
        unreadable = "file" if j["unreadable"] else f"{j['unreadable_entries']:,}"
        table.add_row(j["source"], j["join"], j["key"], f"{j['files']:,}", f"{j['matched']:,}",
                      f"{j['files_without_metadata']:,}", f"{j['metadata_without_files']:,}",
                      f"{j['collided_keys']:,}", unreadable)
    return table


def captions_line(captions: dict) -> str:
    return (f"shipped captions: {captions['pieces_with_caption']:,} records, {captions['distinct_captions']:,} "
            f"distinct; {captions['shared_captions']:,} captions shared by {captions['pieces_sharing_a_caption']:,} "
            "different pieces (a loader keyed by caption would keep one of each)")


def report(result, metrics: Optional[Path] = None, console=None) -> None:
    console = console or err_console()
    console.print(summary_table(result))
    if result.manifest.get("joins"):
        console.print(joins_table(result.manifest["joins"]))
    if result.manifest.get("captions"):
        console.print(captions_line(result.manifest["captions"]), highlight=False)
    console.print(summary_lines(result), highlight=False)
    if metrics is not None:  # a small JSON for `dvc metrics`
        m = result.manifest
        summary = {"counts": m["counts"], "dedup": m.get("dedup", {}), "incremental": m.get("incremental", {}),
                   "build_seconds": m.get("build_seconds"),
                   **{k: m[k] for k in ("joins", "captions") if k in m}}
        metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def build_command(
    sources: Annotated[list[str], typer.Argument(help=(
        "Folders, archives, .parquet files, .jsonl manifests (paths or URIs such as s3://bucket/prefix), "
        "'music21', or KIND:PATH for a known corpus (lakh:, midicaps:, gigamidi:, aria-midi:, xmidi:, pdmx:)."))],
    out: Annotated[str, typer.Option("--out", "-o", help=(
        "Directory of the published corpus version, or an object-store URI (s3://bucket/prefix: the "
        "version is uploaded, then a _SUCCESS pointer names it)."))],
    params: Params = None,
    spark_master: SparkMaster = None,
    overwrite: Overwrite = False,
    cache: Annotated[Optional[Path], typer.Option(help="Parse cache directory (default: params' ingest.cache_dir).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Parse everything; neither read nor update a cache.")] = False,
    ingest_only: Annotated[bool, typer.Option("--ingest-only", help="Exact dedup only and no quality rules (DVC's first stage).")] = False,
    metrics: Metrics = None,
) -> None:
    """Ingest, parse, deduplicate, filter, annotate and publish SOURCES as a corpus version in OUT.

    With a parse cache, records already parsed by an earlier build (same content hash, same params)
    are only annotated again: a build given one more source parses just the new records."""
    from symcorpus.spark.build import build

    config = settings(params)
    with progress() as bars:
        result = build(sources, out, config, spark_master=spark_master, overwrite=overwrite, progress=bars,
                       cache_root=cache, use_cache=not no_cache, exact_only=ingest_only)
    report(result, metrics)

def restage_command(stages: tuple[str, ...], doc: str):
    def command(corpus: CorpusIn, out: NewOut, params: Params = None, spark_master: SparkMaster = None,
                metrics: Metrics = None, overwrite: Overwrite = False) -> None:
        from symcorpus.spark.build import restage

        config = settings(params)
        with progress() as bars:
            result = restage(corpus, out, config, stages=stages, spark_master=spark_master, overwrite=overwrite,
                             progress=bars)
        report(result, metrics)
    command.__doc__ = doc
    return command


def export_captions_command(
    corpus: CorpusIn,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON-lines file to write.")],
    split: Annotated[Optional[str], typer.Option(help="Only this split (train, valid, test).")] = None,
) -> None:
    """Write MidiCaps-style JSON lines ({"location", "caption"}) for every kept piece."""
    from symcorpus.catalog.export import export_captions

    n = export_captions(corpus, out, split)
    err_console().print(f"wrote {n:,} captions to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("build")(build_command)
    app.command("dedup")(restage_command((), "Deduplicate a published version again (e.g. with other dedup params) into OUT."))
    app.command("filter")(restage_command(("filter",), "Apply the quality rules (params `filter`) to a published version again into OUT."))
    app.command("annotate")(restage_command(
        ("annotate", "filter"), "Annotate a published version again (features, key, labels, captions, then the rules) into OUT."))
    app.command("export-captions")(export_captions_command)
