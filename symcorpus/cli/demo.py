"""`symcorpus demo`: the whole loop on music21's bundled corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from symcorpus.cli.common import Params, err_console, progress, settings
from symcorpus.cli.logs import log_dir
from symcorpus.cli.corpus import report


def demo_command(
    params: Params = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to publish (default: params' demo.out).")] = None,
    build_only: Annotated[bool, typer.Option("--build-only", help="Stop after the corpus build.")] = False,
) -> None:
    """The whole loop on music21's bundled corpus: build, tokenize, tiny pretrain + finetune, samples."""
    from symcorpus.demo import run_demo

    with progress() as bars:
        stage: list[int] = []

        def say(text: str) -> None:  # each later stage is a bar of its own, with its time
            if stage:
                bars.update(stage[-1], total=1, completed=1)
            stage.append(bars.add_task(text, total=None))

        result = run_demo(settings(params), out=out, build_only=build_only, progress=bars, say=say,
                          on_built=lambda built: report(built, console=bars.console))
        if stage:
            bars.update(stage[-1], total=1, completed=1)
    console = err_console()
    width = max(len(path) for path, _ in result.made)
    lines = ["", "[bold green]Made[/] from music21's bundled corpus:"]
    lines += [f"  {path.ljust(width)}  {what}" for path, what in result.made]
    if result.samples is not None:
        lines += ["", "[bold green]Samples[/]:"] + [f"  {line}" for line in result.samples.lines()]
    name = result.build.out.name
    query = f".venv/bin/symcorpus catalog query \"SELECT labels.period, count(*) FROM {name}_corpus GROUP BY 1\""
    registered = any(path.endswith("index.html") for path, _ in result.made)  # the card registered it
    lines += ["", "Query it: " + (query if registered else f".venv/bin/symcorpus catalog register {result.build.out} && {query}")]
    log = log_dir() / "demo.log"
    if log.is_file():
        lines.append(f"Spark and Ray wrote their logs to {log}.")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
