"""The composer catalog (composers.csv, shipped in symcorpus/data) and matching a credit to it.

A credit names a catalog row when it holds the row's canonical name or one of its aliases, accent-
and case-insensitively ("Bach, Johann Sebastian", "J.S. Bach", "L. van BEETHOVEN" all find their
row). A credit that names nobody in the catalog gives None, so the label vocabulary stays closed.
The catalog is read with importlib.resources, so an installed wheel finds it wherever it runs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from symcorpus.music.labels.folding import PARENTHESES, fold

COMPOSERS_CSV = resources.files("symcorpus.data").joinpath("composers.csv")

PERIODS: tuple[str, ...] = (
    "Medieval", "Renaissance", "Baroque", "Classical", "Romantic", "20th century", "Traditional",
)
TRADITIONAL = "Traditional"

_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "rev", "sir", "dame", "sig", "herr"})


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in re.findall(r"[a-z0-9]+", fold(text, split_camel=True)) if t not in _HONORIFICS)


@dataclass(frozen=True)
class Composer:
    name: str
    aliases: tuple[str, ...]
    period: str | None
    born: int | None
    died: int | None


@dataclass(frozen=True)
class _Catalog:
    composers: tuple[Composer, ...]
    exact: dict[tuple[str, ...], int]  # the whole credit must equal these tokens
    phrases: dict[str, list[tuple[tuple[str, ...], int]]]  # first token -> (tokens, row), longest first


def _int_or_none(value: str) -> int | None:
    return int(value) if value.strip() else None


def _build_catalog(rows: Iterable[dict[str, str]], name: str) -> _Catalog:
    composers: list[Composer] = []
    exact: dict[tuple[str, ...], int] = {}
    phrases: dict[tuple[str, ...], int] = {}
    for row in rows:
        aliases = tuple(a.strip() for a in row["aliases"].split("|") if a.strip())
        period = row["period"].strip() or None
        if period is not None and period not in PERIODS:
            raise ValueError(f"{name}: {row['composer']}: unknown period {period!r}")
        index = len(composers)
        composers.append(Composer(row["composer"].strip(), aliases, period,
                                  _int_or_none(row["born"]), _int_or_none(row["died"])))
        for alias in (row["composer"], *aliases):
            # "=name" matches only a credit that is exactly that name (short, common words).
            table = exact if alias.startswith("=") else phrases
            key = _tokens(alias.lstrip("="))
            if not key:
                continue
            if table.get(key, index) != index:
                other = composers[table[key]].name
                raise ValueError(f"{name}: alias {alias!r} names both {other} and {row['composer']}")
            table[key] = index
    by_first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    for key, index in phrases.items():
        by_first.setdefault(key[0], []).append((key, index))
    for entries in by_first.values():
        entries.sort(key=lambda e: -len(" ".join(e[0])))
    return _Catalog(tuple(composers), exact, by_first)


@lru_cache(maxsize=1)
def _catalog() -> _Catalog:
    with COMPOSERS_CSV.open("r", encoding="utf-8", newline="") as f:
        return _build_catalog(csv.DictReader(f), COMPOSERS_CSV.name)


def composers() -> tuple[Composer, ...]:
    """Every row of composers.csv, in file order."""
    return _catalog().composers


_TEX = re.compile(r"\\[A-Za-z]+")
# Manuscript sigla after a name in music21's trecento metadata: "Gherardello F-Pn 568".
_SIGLUM = re.compile(r"(?<!\S)[A-Z]{1,3}-[A-Z][A-Za-z]*")
_BY = re.compile(r"^.*\bby\b", re.IGNORECASE | re.DOTALL)


def _credit_forms(text: str) -> list[str]:
    """The strings a credit may name a composer in: each line/;-part, without parentheses and
    sigla, after a "by", the parenthesised parts, and "Surname, Given" turned round."""
    forms = []
    for part in re.split(r"[;\n]", _TEX.sub(" ", text)):
        inner = PARENTHESES.findall(part)
        outer = _SIGLUM.split(PARENTHESES.sub(" ", part))[0]
        outer = _BY.sub("", outer).strip(" .,:")
        if not outer and not inner:
            continue
        forms.append(outer)
        if outer.count(",") == 1:
            surname, given = (s.strip() for s in outer.split(","))
            if given and not re.search(r"\d", given) and len(surname.split()) <= 3:
                forms.append(f"{given} {surname}")
        forms.extend(inner)
    return forms


def _match_tokens(tokens: tuple[str, ...], catalog: _Catalog, exact: bool = True) -> tuple[int, int] | None:
    """(score, row) of the best alias in `tokens`: an exact alias beats any phrase; among phrases
    the longest wins ("C. P. E. Bach" before "Bach")."""
    if not tokens:
        return None
    if exact and tokens in catalog.exact:
        return (10_000, catalog.exact[tokens])
    best = None
    for i, token in enumerate(tokens):
        for key, index in catalog.phrases.get(token, ()):
            if tokens[i : i + len(key)] == key:
                score = len(" ".join(key))
                if best is None or score > best[0]:
                    best = (score, index)
                break  # entries are longest first
    return best


@lru_cache(maxsize=65536)
def match_composer(text: str | None, exact: bool = True) -> Composer | None:
    """The catalog composer a credit names, or None. `exact=False` ignores the exact-only aliases
    (bare surnames such as "Hall"), for credits that may name someone else of that name."""
    if not text or not text.strip():
        return None
    catalog = _catalog()
    best = None
    for form in _credit_forms(text):
        found = _match_tokens(_tokens(form), catalog, exact)
        if found and (best is None or found[0] > best[0]):
            best = found
    return catalog.composers[best[1]] if best else None
