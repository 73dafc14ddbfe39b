"""`symcorpus recipe list | show | build`: known corpus mixes (AMD, NotaGen's data) in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from symcorpus.cli.common import Overwrite, Params, SparkMaster, err_console, group, out_console, progress

recipe_app = group("Known corpus mixes: AMD (Amadeus) and NotaGen's data, rebuilt from their corpora.")


@recipe_app.command("list")
def list_command() -> None:
    """The shipped recipes."""
    from symcorpus.recipes import load_recipe, recipe_names

    for name in recipe_names():
        out_console().print(f"{name:10s} {load_recipe(name).description}", highlight=False, soft_wrap=True)


@recipe_app.command("show")
def show_command(name: Annotated[str, typer.Argument(help="A recipe name, or a recipe .yaml file.")]) -> None:
    """The recipe: its sources and where each lies under ROOT, its params profile, its subsets."""
    from symcorpus.recipes import load_recipe

    out_console().print(load_recipe(name).path.read_text(), highlight=False, soft_wrap=True, markup=False)


@recipe_app.command("build")
def build_command(
    name: Annotated[str, typer.Argument(help="A recipe name (symcorpus recipe list), or a recipe .yaml file.")],
    root: Annotated[str, typer.Option(help="Folder (or URI prefix) holding the recipe's corpora, laid out as `recipe show` says.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the published corpus version.")],
    tokens: Annotated[Optional[Path], typer.Option(help="Also write token shards here, with the recipe's tokenizer.")] = None,
    allow_missing: Annotated[bool, typer.Option(help="Build from the corpora found; leave the missing ones out.")] = False,
    params: Params = None,
    spark_master: SparkMaster = None,
    overwrite: Overwrite = False,
) -> None:
    """Build the recipe's corpus version in OUT (join report included), its subsets' id lists beside
    it (OUT.subsets/NAME.ids), and with --tokens its token shards."""
    from symcorpus.cli.common import settings as base_settings
    from symcorpus.cli.corpus import report
    from symcorpus.config import default_params
    from symcorpus.recipes import build_recipe, load_recipe, recipe_settings

    base_settings(params)  # an explicit --params must exist
    recipe = load_recipe(name)
    config = recipe_settings(recipe, default_params(params))
    with progress() as bars:
        result = build_recipe(recipe, root, out, config, tokens=tokens, allow_missing=allow_missing,
                              spark_master=spark_master, overwrite=overwrite, progress=bars)
    console = err_console()
    for spec in result.missing:
        console.print(f"left out (not under {root}): {spec.name}", highlight=False)
    report(result.build)
    for subset, path in result.subsets.items():
        n = sum(1 for _ in path.open())
        console.print(f"subset {subset}: {n:,} train pieces in {path}", highlight=False)
    if result.tokens is not None:
        pieces = sum(c["pieces"] for c in result.tokens["counts"].values())
        console.print(f"token shards ({recipe.tokenizer}) in {tokens}: {pieces:,} pieces, "
                      f"{result.tokens['rejected']:,} rejected (rejects.parquet)\n"
                      f"next: symcorpus train pretrain --tokens {tokens} --name {recipe.name}", highlight=False)
