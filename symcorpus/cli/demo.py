"""`symcorpus demo`: the whole loop on music21's bundled corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from symcorpus.cli.common import Params, err_console, progress, settings
from symcorpus.cli.corpus import report


def demo_command(
    params: Params = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to publish (default: params' demo.out).")] = None,
    build_only: Annotated[bool, typer.Option("--build-only", help="Stop after the corpus build.")] = False,
) -> None:
    """The whole loop on music21's bundled corpus: build, tokenize, tiny pretrain + finetune, samples."""
    from symcorpus.demo import run_demo

    console = err_console()
    with progress() as bars:
        result = run_demo(settings(params), out=out, build_only=build_only, progress=bars,
                          say=lambda text: console.print(f"[bold]{text}[/]"), on_built=report)
    width = max(len(path) for path, _ in result.made)
    lines = ["\n[bold green]Made[/] from music21's bundled corpus:"]
    lines += [f"  {path.ljust(width)}  {what}" for path, what in result.made]
    name = result.build.out.name
    lines.append(f"Query it: .venv/bin/symcorpus catalog register {result.build.out} && "
                 f".venv/bin/symcorpus catalog query \"SELECT labels.period, count(*) FROM {name}_corpus GROUP BY 1\"")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
