"""Recipes: a known corpus mix rebuilt in one command (`symcorpus recipe build NAME --root ROOT`).

A recipe (symcorpus/data/recipes/NAME.yaml, or any YAML file of the same shape) names its sources
(a corpus adapter and where under ROOT its files lie), a params profile laid over params.yaml, the
tokenizer its token shards use, and its subsets (SQL predicates over the corpus, e.g. the captioned
fine-tuning set). Building one is `symcorpus build` on its sources with its params, then the subsets'
id lists, then (with --tokens) `symcorpus tokenize`.
"""

from __future__ import annotations

import copy
import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from symcorpus.config import Settings, SettingsError
from symcorpus.config.base import from_mapping
from symcorpus.errors import UsageError
from symcorpus.sources import Source, resolve_source, storage

RECIPES_DIR = Path(__file__).resolve().parent / "data" / "recipes"


class RecipeError(UsageError):
    """A recipe that cannot be used: unknown, malformed, or its corpora are not under ROOT."""


@dataclass(frozen=True)
class RecipeSource:
    name: str
    adapter: str
    paths: tuple[str, ...]  # candidates under ROOT (glob patterns), the first one there is used
    options: dict[str, Any] = field(default_factory=dict)
    get: str = ""  # where to get the corpus, for the error when it is missing


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    tokenizer: str
    sources: tuple[RecipeSource, ...]
    params: dict[str, Any]
    subsets: dict[str, str]  # name -> SQL predicate over corpus rows
    path: Path


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def load_recipe(name: str) -> Recipe:
    """A shipped recipe by name, or a recipe YAML file by path."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else RECIPES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise RecipeError(f"no recipe {name!r} (shipped: {', '.join(recipe_names())}; or give a .yaml file)")
    try:
        data = yaml.safe_load(path.read_text())
        sources = tuple(RecipeSource(s["name"], s["adapter"], tuple(s.get("paths") or [s["path"]]),
                                     dict(s.get("options") or {}), s.get("get", "")) for s in data["sources"])
        return Recipe(data["name"], data.get("description", ""), data.get("tokenizer", "remi"), sources,
                      dict(data.get("params") or {}), dict(data.get("subsets") or {}), path)
    except (yaml.YAMLError, KeyError, TypeError) as e:
        raise RecipeError(f"{path}: not a recipe ({type(e).__name__}: {e})") from None


def _merge(base: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    """`profile` laid over `base`: mappings merged key by key, other values replaced."""
    out = copy.deepcopy(base)
    for key, value in profile.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else copy.deepcopy(value)
    return out


def recipe_settings(recipe: Recipe, params: Path | None) -> Settings:
    """params.yaml (or the defaults) with the recipe's params profile laid over it."""
    base: dict[str, Any] = {}
    if params is not None:
        if not Path(params).is_file():
            raise SettingsError(f"params file not found: {params}")
        base = yaml.safe_load(Path(params).read_text()) or {}
    settings = from_mapping(Settings, _merge(base, recipe.params), "params")
    settings.validate_all()
    return settings


def _options(options: dict[str, Any], root: str) -> dict[str, Any]:
    """The recipe's options with `{root}` replaced by ROOT."""
    return {k: v.replace("{root}", root.rstrip("/")) if isinstance(v, str) else v for k, v in options.items()}


def _find(root: str, patterns: tuple[str, ...], storage_options: dict[str, Any]) -> str | None:
    for pattern in patterns:
        if storage.is_remote(root):
            uri = storage.join(root, pattern)
            if storage.exists(uri, storage_options):
                return uri
            continue
        matches = sorted(glob.glob(str(Path(root) / pattern)))
        if len(matches) > 1:
            raise RecipeError(f"{pattern} matches {len(matches)} folders under {root}: {', '.join(matches)}")
        if matches:
            return matches[0]
    return None


def recipe_sources(recipe: Recipe, root: str, settings: Settings, allow_missing: bool = False
                   ) -> tuple[list[Source], list[RecipeSource]]:
    """The recipe's sources found under ROOT, and the ones missing (an error unless allow_missing)."""
    found, missing = [], []
    for spec in recipe.sources:
        path = _find(root, spec.paths, storage.storage_options(root, settings.ingest.storage_options))
        if path is None:
            missing.append(spec)
            continue
        found.append(resolve_source(f"{spec.adapter}:{path}", {s.name for s in found},
                                    _options(spec.options, root), spec.name, settings.ingest.storage_options))
    if missing and not allow_missing:
        lines = [f"  {s.name}: none of {', '.join(s.paths)} under {root}" + (f" (get it: {s.get})" if s.get else "")
                 for s in missing]
        raise RecipeError(f"recipe {recipe.name}: corpora missing under {root}:\n" + "\n".join(lines)
                          + "\n(--allow-missing builds from the others)")
    if not found:
        raise RecipeError(f"recipe {recipe.name}: none of its corpora is under {root}")
    return found, missing


def subset_ids(corpus: Path, predicate: str, split: str = "train") -> list[str]:
    """Ids of the corpus rows of `split` that satisfy the subset's SQL predicate (DuckDB), sorted."""
    import duckdb

    shards = Path(corpus) / "corpus" / split / "*.parquet"
    with duckdb.connect() as con:
        try:
            rows = con.execute(f"SELECT id FROM read_parquet('{shards}') WHERE {predicate} ORDER BY id").fetchall()
        except duckdb.Error as e:
            raise RecipeError(f"subset predicate {predicate!r}: {e}") from None
    return [r[0] for r in rows]


def write_subsets(recipe: Recipe, corpus: Path, folder: Path) -> dict[str, Path]:
    """Each subset's train ids, one per line, in `folder/<subset>.ids` (what `train finetune --ids` reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, predicate in recipe.subsets.items():
        path = folder / f"{name}.ids"
        path.write_text("".join(i + "\n" for i in subset_ids(corpus, predicate)))
        written[name] = path
    return written


def subsets_dir(out: Path) -> Path:
    """Where a recipe build writes its subsets' id lists: beside OUT, never inside the published version."""
    out = Path(out).expanduser().resolve()
    return out.parent / f"{out.name}.subsets"


@dataclass
class RecipeResult:
    build: Any  # spark.publish.BuildResult
    subsets: dict[str, Path]  # subset -> its ids file
    tokens: dict[str, Any] | None  # the token shards' manifest, with --tokens
    missing: list[RecipeSource]  # corpora not under ROOT (with allow_missing)


def build_recipe(recipe: Recipe, root: str, out: str | Path, settings: Settings, *, tokens: str | Path | None = None,
                 allow_missing: bool = False, spark_master: str | None = None, overwrite: bool = False,
                 progress=None) -> RecipeResult:
    """`symcorpus build` on the recipe's sources with its params, its subsets' ids beside OUT, and
    (tokens) its token shards. `settings`: params with the recipe's profile (recipe_settings)."""
    from symcorpus.spark.build import build
    from symcorpus.spark.tokenize import tokenize

    sources, missing = recipe_sources(recipe, root, settings, allow_missing)
    result = build(sources, out, settings, spark_master=spark_master, overwrite=overwrite, progress=progress,
                   use_cache=False)
    subsets = write_subsets(recipe, result.out, subsets_dir(result.out))
    manifest = None
    if tokens is not None:
        manifest = tokenize(result.out, recipe.tokenizer, Path(tokens), settings, spark_master=spark_master,
                            overwrite=overwrite)
    return RecipeResult(result, subsets, manifest, missing)
