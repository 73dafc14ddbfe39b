"""`symcorpus tokenize`: token shards of a published corpus version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from symcorpus.cli.common import CorpusIn, Overwrite, Params, SparkMaster, err_console, settings


def tokenize_command(
    corpus: CorpusIn,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the token shards.")],
    tokenizer: Annotated[str, typer.Option(help="remi (MIDI, every format through its notes), notes (one 8-attribute row per note) or abc (ABC scores).")] = "remi",
    params: Params = None,
    spark_master: SparkMaster = None,
    overwrite: Overwrite = False,
) -> None:
    """Write token shards per split (id, chunk, tokens, n_tokens, conditions) and the tokenizer."""
    from symcorpus.spark.tokenize import tokenize

    manifest = tokenize(corpus, tokenizer, out, settings(params), spark_master=spark_master, overwrite=overwrite)
    err_console().print(f"token shards in {out}: " + json.dumps(manifest.get("counts", {})), highlight=False,
                        soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("tokenize")(tokenize_command)
