"""The labels of one piece: the composition of the label modules over what a piece declares and
what its source states."""

from __future__ import annotations

import pyarrow as pa

from symcorpus.music.labels.composers import TRADITIONAL, match_composer
from symcorpus.music.labels.credits import composer_credit
from symcorpus.music.labels.inputs import LabelInput
from symcorpus.music.labels.genres import genre_of
from symcorpus.music.labels.instrumentation import instrumentation_of
from symcorpus.music.labels.music21_corpus import MUSIC21_COLLECTIONS, music21_collection
from symcorpus.music.labels.places import origin_of
from symcorpus.music.labels.stated import stated_composer, stated_genre, stated_instrumentation, stated_period
from symcorpus.music.labels.tempo import length_class, tempo_word

LABEL_NAMES = ("period", "composer", "instrumentation", "genre", "origin", "tempo_word", "length_class")
# The labels a source may state (labels/stated.py), each with a `<name>_from` field: "source" when the
# value rests on what the source states (its period, genre or instrumentation, its composer, or the
# catalog's period of that composer), "inferred" when on what the file declares; null with the label.
SOURCED = ("period", "composer", "instrumentation", "genre")
SOURCE, INFERRED = "source", "inferred"
LABELS = pa.struct([pa.field(name, pa.string()) for name in LABEL_NAMES + tuple(f"{n}_from" for n in SOURCED)])


def piece_labels(info: LabelInput) -> dict[str, str | None]:
    """The LABELS of one piece (keys period, composer, instrumentation, genre, origin, tempo_word,
    length_class and the `_from` of the first four; each a string or None).

    What the source states wins where it names one of our values: its composer (a catalog row)
    over a credit in the file, its genre and instrumentation over ours. The period is the
    composer's, so that a composer always comes with one period; else the stated period; else
    Traditional for folk material; else a collection's period (the trecento)."""
    stated = info.source_labels or {}
    collection = music21_collection(info.source, info.path)
    hints = MUSIC21_COLLECTIONS.get(collection or "")
    credit = composer_credit(info.composer, hints.informants if hints else False)
    composer, composer_from = stated_composer(stated.get("composer")), SOURCE
    if composer is None:
        composer, composer_from = credit.composer, INFERRED
        if composer is None and collection and credit.kind in ("none", "name", "unidentified"):
            composer = match_composer(collection)  # music21's composer folders: "bach", "schumann_clara"
    folk_source = info.format == "abc" or (hints is not None and hints.folk)
    period_stated = stated_period(stated.get("period"))
    period_from = INFERRED
    if composer is not None and (composer.period is not None or period_stated is None):
        period, period_from = composer.period, composer_from
    elif period_stated is not None:
        period, period_from = period_stated, SOURCE
    elif credit.kind in ("traditional", "origin", "collector"):
        period = TRADITIONAL
    elif hints is not None and hints.period:
        period = hints.period
    elif credit.kind in ("anonymous", "none") and folk_source:
        period = TRADITIONAL
    else:
        period = None
    instrumentation, instrumentation_from = stated_instrumentation(stated.get("instrumentation")), SOURCE
    if instrumentation is None:
        instrumentation, instrumentation_from = instrumentation_of(info, folk=period == TRADITIONAL), INFERRED
    genre, genre_from = stated_genre(stated.get("genre")), SOURCE
    if genre is None:
        genre, genre_from = genre_of(info, collection), INFERRED
    return {
        "period": period,
        "composer": composer.name if composer else None,
        "instrumentation": instrumentation,
        "genre": genre,
        "origin": origin_of(info.origin) or credit.origin or (hints.origin if hints else None),
        "tempo_word": tempo_word(info.tempo_bpm),
        "length_class": length_class(info.duration_seconds),
        "period_from": period_from if period is not None else None,
        "composer_from": composer_from if composer is not None else None,
        "instrumentation_from": instrumentation_from if instrumentation is not None else None,
        "genre_from": genre_from if genre is not None else None,
    }
