"""What every command shares: the consoles, one-line errors, progress bars and option types.

A library function raises `symcorpus.errors.UsageError` for a mistake the user can fix; the command
group prints it as one `error:` line on stderr and exits with code 2 (no traceback). While a command
runs, what Spark, Ray and the JVM print goes to data/logs/COMMAND.log (cli/logs.py); the consoles
here write to the terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn,
                           TimeElapsedColumn)
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from symcorpus.cli.logs import framework_output_to, log_dir, terminal

from symcorpus.config import Settings, default_params, load_settings
from symcorpus.errors import UsageError


def err_console() -> Console:
    return Console(file=terminal("stderr"))  # made per call: the terminal width (COLUMNS) is read when it is made


def out_console() -> Console:
    return Console(file=terminal("stdout"))


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


class LoggedCommand(TyperCommand):
    """A command whose run (after its arguments are parsed, so help and usage errors still reach
    the terminal) sends framework output to data/logs/NAME.log."""

    def invoke(self, ctx):
        with framework_output_to(log_dir() / f"{ctx.info_name or 'symcorpus'}.log") as log:
            try:
                return super().invoke(ctx)
            except (UsageError, click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
                raise  # one line on the terminal, nothing to look up
            except Exception:
                if log is not None:  # the traceback follows on the terminal, the frameworks' side here
                    terminal("stderr").write(f"(framework output of this run: {log})\n")
                raise


class _App(typer.Typer):
    def command(self, *args, **kwargs):
        kwargs.setdefault("cls", LoggedCommand)
        return super().command(*args, **kwargs)


def group(help: str) -> typer.Typer:
    return _App(help=help, cls=Commands, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def settings(params: Optional[Path]) -> Settings:
    """params.yaml's settings: an explicit --params must exist; ./params.yaml is used when present."""
    return load_settings(default_params(params))


class WorkColumn(ProgressColumn):
    """For a bar that counts pieces (spark/progress.py): files read, pieces per second, time left."""

    def render(self, task) -> Text:
        unit = task.fields.get("unit")
        if not unit:
            return Text("")
        parts = [task.fields.get("files", "")]
        rate = task.fields.get("rate")
        if rate:
            parts.append(f"{rate:,.1f} {unit}/s")
            if task.total and not task.finished:
                left = max(task.total - task.completed, 0) / rate
                parts.append(f"~{int(left // 60)}:{int(left % 60):02d} left")
        return Text(" · ".join(p for p in parts if p), style="progress.data.speed")


def progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), WorkColumn(), console=err_console(), transient=False)


Params = Annotated[Optional[Path], typer.Option(help="params.yaml (default: ./params.yaml if present).")]
SparkMaster = Annotated[Optional[str], typer.Option(help="Spark master URL, e.g. spark://host:7077.")]
Overwrite = Annotated[bool, typer.Option(help="Replace OUT if it exists.")]
CorpusIn = Annotated[Path, typer.Option("--corpus", help="A published corpus version.")]
NewOut = Annotated[Path, typer.Option("--out", "-o", help="Directory of the new version.")]
Metrics = Annotated[Optional[Path], typer.Option(help="Also write counts and dedup figures to this JSON file.")]
