"""Collections of music21's bundled corpus (by top folder): what their files share (folk material,
a period, a genre, an origin, informant credits)."""

from __future__ import annotations

from dataclasses import dataclass

@dataclass(frozen=True)
class Collection:
    folk: bool = False  # traditional material: no composer means Traditional
    period: str | None = None
    genre: str | None = None  # when nothing more specific is declared
    origin: str | None = None
    informants: bool = False  # C: names the musician a tune was collected from
    file_genres: tuple[tuple[str, str], ...] = ()  # (file-name prefix, genre)


MUSIC21_COLLECTIONS: dict[str, Collection] = {
    "airdsAirs": Collection(folk=True),
    "essenFolksong": Collection(folk=True, genre="folk song"),
    "miscFolk": Collection(folk=True),
    "nottingham-dataset": Collection(folk=True, file_genres=(
        ("reels", "reel"), ("jigs", "jig"), ("hpps", "hornpipe"), ("waltzes", "waltz"),
        ("slip", "slip jig"), ("morris", "morris dance"), ("playford", "country dance"), ("xmas", "carol"))),
    "oneills1850": Collection(folk=True, origin="Ireland", informants=True),  # O'Neill's Music of Ireland
    "ryansMammoth": Collection(folk=True),
    "trecento": Collection(period="Medieval"),
    "bach": Collection(genre="chorale"),  # the bwv files there are four-part chorale settings
    "monteverdi": Collection(genre="madrigal"),
    "palestrina": Collection(genre="mass"),  # mass movements
    "demos": Collection(),
    "leadSheet": Collection(),
    "theoryExercises": Collection(),
}


def music21_collection(source: str | None, path: str | None) -> str | None:
    """The top folder of a music21 corpus file ("bach" for "bach/bwv66.6.mxl"), or None when the
    record does not come from music21's corpus."""
    if not path:
        return None
    file_path = path.replace("\\", "/").split("#")[0]
    if source == "music21":
        relative = file_path
    elif "/music21/corpus/" in file_path:
        relative = file_path.split("/music21/corpus/", 1)[1]
    else:
        return None
    parts = [p for p in relative.split("/") if p]
    return parts[0] if len(parts) > 1 else None
