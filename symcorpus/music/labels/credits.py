"""Composer credits: who or what an ABC `C:` (or a score's composer field) names: a catalog
composer, traditional or anonymous material, a collector or informant, a people or place, or
someone the catalog lacks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from symcorpus.music.labels.composers import Composer, match_composer
from symcorpus.music.labels.folding import fold, fold_joined
from symcorpus.music.labels.places import COUNTRIES, REGIONS, origin_of

_COLLECTOR = re.compile(r"\b(collected|as sung by|as played by|sung by|played by|from the playing|"
                        r"learned from|source|informant|transcribed)\b")
_TRADITIONAL = re.compile(r"\b(trad|traditional|folk|folksong|folk tune|volkslied|volksweise|unbekannt)\b")
_ANONYMOUS = re.compile(r"\b(anon|anonymous|anonyous|anonym|anonymus|unknown|incertus|incerto)\b")
_NOT_A_NAME = re.compile(r"\b(regt|regiment|young lady|a lady|a gentleman|play it)\b|_{3,}")
# Words a credit may hold beside a place that still make it no name: "A Welch Tune", "an Old Reel".
_DESCRIPTORS = frozenset({"a", "an", "the", "old", "new", "air", "airs", "tune", "tunes", "reel", "jig",
                          "song", "melody", "negro", "negroe", "gaelic", "highland", "lowland", "of", "from"})


@dataclass(frozen=True)
class Credit:
    """What a composer credit names. kind: composer (a catalog row) | traditional | anonymous |
    collector (the tune's source, not its author) | origin (a people or place: "Irish.") |
    unidentified (initials, notes) | name (someone the catalog lacks) | none (no credit)."""

    kind: str
    composer: Composer | None = None
    origin: str | None = None


@lru_cache(maxsize=65536)
def composer_credit(text: str | None, informants: bool = False) -> Credit:
    """Read a credit. `informants`: the collection credits the musicians it learnt tunes from
    (O'Neill's), so a name that is not a catalog composer is a collector, not an author."""
    if not text or not text.strip():
        return Credit("none")
    low = fold(text)
    if _COLLECTOR.search(low):
        return Credit("collector")
    if _TRADITIONAL.search(low):
        return Credit("traditional", origin=origin_of(text))
    if _ANONYMOUS.search(low):
        return Credit("anonymous", origin=origin_of(text))
    # An informant's bare surname ("Carey.") is no evidence for a composer of that name.
    composer = match_composer(text, exact=not informants)
    if composer is not None:
        return Credit("composer", composer)
    if informants:
        return Credit("collector")
    if _NOT_A_NAME.search(low):
        return Credit("unidentified")
    place = origin_of(text)
    words = [w for w in re.findall(r"[a-z]+", fold_joined(text)) if w not in _DESCRIPTORS]
    if all(w in COUNTRIES or w in REGIONS or " ".join(words) in COUNTRIES for w in words):
        return Credit("origin", origin=place) if place else Credit("traditional")
    if all(len(w) <= 2 for w in words):
        return Credit("unidentified")  # initials only: "J.H.", "F.H.B."
    return Credit("name")
