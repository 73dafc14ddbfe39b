"""The `symcorpus` command: one sub-command per stage, plus `demo`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from symcorpus.settings import SettingsError, load_settings

app = typer.Typer(
    help="Build versioned, deduplicated, annotated symbolic-music corpora.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
DEFAULT_PARAMS = Path("params.yaml")


class UsageError(Exception):
    """A mistake in the user's call: reported as one line, exit code 2."""


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def _settings(params: Optional[Path]):
    # An explicit --params must exist; the default params.yaml is used only when present.
    if params is None:
        params = DEFAULT_PARAMS if DEFAULT_PARAMS.is_file() else None
    return load_settings(params)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _summary(result) -> Table:
    table = Table(title=f"corpus version {result.out}", title_justify="left")
    columns = [("kept", "kept"), ("duplicates", "duplicate"), ("rejected", "rejected"), ("errors", "error")]
    table.add_column("format")
    for title, _ in columns:
        table.add_column(title, justify="right")
    table.add_column("input", justify="right")
    for fmt, counts in result.by_format.items():
        values = [counts.get(key, 0) for _, key in columns]
        if not sum(values):
            continue
        table.add_row("(unreadable)" if fmt == "unknown" else fmt, *[f"{v:,}" for v in values], f"{sum(values):,}")
    c = result.counts
    totals = [c["kept"], c["duplicates"], c["rejected"], c["errors"], c["input"]]
    table.add_row("[bold]total", *[f"[bold]{v:,}" for v in totals])
    return table


def _summary_lines(result) -> str:
    c = result.counts
    return (
        f"input {c['input']:,} = kept {c['kept']:,} + duplicates {c['duplicates']:,} + rejected "
        f"{c['rejected']:,} + errors {c['errors']:,}; splits "
        + ", ".join(f"{k} {v:,}" for k, v in c["by_split"].items())
        + f"\n{result.skipped_files:,} non-music files skipped; "
        f"{result.seconds:.1f} s, {result.pieces_per_second:,.0f} pieces/s"
    )


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise UsageError(f"output exists: {out} (use --overwrite to replace it)")


def _report(result) -> None:
    console.print(_summary(result))
    console.print(_summary_lines(result), highlight=False)


def _run_build(sources: list[str], out: Path, params: Optional[Path], spark_master: Optional[str], overwrite: bool):
    from symcorpus.pipeline.build import build
    from symcorpus.pipeline.sources import SourceError, resolve_source

    try:
        settings = _settings(params)
        taken: set[str] = set()
        for spec in sources:  # check every source before starting Spark
            taken.add(resolve_source(spec, taken).name)
        _check_out(out, overwrite)
    except (SettingsError, SourceError, UsageError) as e:
        _fail(str(e))
    with _progress() as progress:
        result = build(sources, out, settings, spark_master=spark_master, overwrite=overwrite, progress=progress)
    _report(result)
    return result


@app.command("build")
def build_command(
    sources: Annotated[list[str], typer.Argument(help="Directories, .zip/.tar/.tar.gz/.tgz archives, or 'music21'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the published corpus version.")],
    params: Annotated[Optional[Path], typer.Option(help="params.yaml (default: ./params.yaml if present).")] = None,
    spark_master: Annotated[Optional[str], typer.Option(help="Spark master URL, e.g. spark://host:7077.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Ingest, parse and publish SOURCES as a corpus version in OUT."""
    _run_build(sources, out, params, spark_master, overwrite)


@app.command("dedup")
def dedup_command(
    corpus: Annotated[Path, typer.Option("--corpus", help="A published corpus version to deduplicate again.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the new version.")],
    params: Annotated[Optional[Path], typer.Option(help="params.yaml (default: ./params.yaml if present).")] = None,
    spark_master: Annotated[Optional[str], typer.Option(help="Spark master URL, e.g. spark://host:7077.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Deduplicate a published version again (e.g. with other dedup params) into OUT."""
    from symcorpus.pipeline.build import dedup_version

    try:
        settings = _settings(params)
        if not (corpus / "manifest.json").is_file():
            raise UsageError(f"not a published corpus version (no manifest.json): {corpus}")
        _check_out(out, overwrite)
    except (SettingsError, UsageError) as e:
        _fail(str(e))
    with _progress() as progress:
        result = dedup_version(corpus, out, settings, spark_master=spark_master, overwrite=overwrite, progress=progress)
    _report(result)


@app.command("demo")
def demo_command(
    params: Annotated[Optional[Path], typer.Option(help="params.yaml (default: ./params.yaml if present).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to publish (default: params' demo.out).")] = None,
) -> None:
    """Build music21's bundled corpus into ./data/demo (replacing an earlier demo)."""
    try:
        settings = _settings(params)
    except SettingsError as e:
        _fail(str(e))
    target = out or Path(settings.demo.out)
    result = _run_build(["music21"], target, params, None, overwrite=True)
    c = result.counts
    console.print(
        f"\n[bold green]Made[/] a corpus version of music21's bundled corpus in [bold]{result.out}[/]:\n"
        f"  corpus/{{train,valid,test}}/  {c['kept']:,} pieces as Parquet shards, one per duplicate cluster\n"
        f"  duplicates/                 {c['duplicates']:,} copies and variants, each with its representative\n"
        f"  errors/                     {c['errors']:,} records that could not be parsed, each with its reason\n"
        f"  manifest.json               counts, params, sources and a sha256 for every shard\n"
        f"Query it: .venv/bin/python -c \"import duckdb; print(duckdb.sql("
        f"\\\"SELECT format, count(*) FROM '{result.out}/corpus/*/*.parquet' GROUP BY 1\\\"))\"",
        highlight=False,
        soft_wrap=True,
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
