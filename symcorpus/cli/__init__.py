"""The `symcorpus` command: one module per command group, each command parsing its arguments and
calling one library function.

    corpus.py    build, dedup, filter, annotate, export-captions
    tokenize.py  tokenize
    train.py     train pretrain | finetune, generate, evaluate
    catalog.py   catalog register | remove | list | query | card | diff
    recipe.py    recipe list | show | build
    demo.py      demo
"""

from __future__ import annotations

import sys

from symcorpus.cli import corpus, demo, tokenize, train
from symcorpus.cli.catalog import catalog_app
from symcorpus.cli.recipe import recipe_app
from symcorpus.cli.common import err_console, group

app = group("Build versioned, deduplicated, annotated symbolic-music corpora.")
corpus.register(app)
tokenize.register(app)
train.register(app)
app.add_typer(catalog_app, name="catalog")
app.add_typer(recipe_app, name="recipe")
demo.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console().print("interrupted")
        sys.exit(130)
