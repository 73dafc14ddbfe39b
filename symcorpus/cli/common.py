"""What every command shares: the consoles, one-line errors, progress bars and option types.

A library function raises `symcorpus.errors.UsageError` for a mistake the user can fix; the command
group prints it as one `error:` line on stderr and exits with code 2 (no traceback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from symcorpus.config import Settings, default_params, load_settings
from symcorpus.errors import UsageError


def err_console() -> Console:
    return Console(stderr=True)  # made per call: the terminal width (COLUMNS) is read when it is made


def out_console() -> Console:
    return Console()


def fail(message: str) -> None:
    """One `error:` line on stderr, exit code 2."""
    err_console().print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


class Commands(TyperGroup):
    """A command group whose commands' UsageErrors end as one line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UsageError as e:
            fail(str(e))


def group(help: str) -> typer.Typer:
    return typer.Typer(help=help, cls=Commands, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False)


def settings(params: Optional[Path]) -> Settings:
    """params.yaml's settings: an explicit --params must exist; ./params.yaml is used when present."""
    return load_settings(default_params(params))


def progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=err_console(), transient=False)


Params = Annotated[Optional[Path], typer.Option(help="params.yaml (default: ./params.yaml if present).")]
SparkMaster = Annotated[Optional[str], typer.Option(help="Spark master URL, e.g. spark://host:7077.")]
Overwrite = Annotated[bool, typer.Option(help="Replace OUT if it exists.")]
CorpusIn = Annotated[Path, typer.Option("--corpus", help="A published corpus version.")]
NewOut = Annotated[Path, typer.Option("--out", "-o", help="Directory of the new version.")]
Metrics = Annotated[Optional[Path], typer.Option(help="Also write counts and dedup figures to this JSON file.")]
