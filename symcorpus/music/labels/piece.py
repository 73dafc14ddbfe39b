"""The labels of one piece: the composition of the label modules over what a piece declares."""

from __future__ import annotations

import pyarrow as pa

from symcorpus.music.labels.composers import TRADITIONAL, match_composer
from symcorpus.music.labels.credits import composer_credit
from symcorpus.music.labels.inputs import LabelInput
from symcorpus.music.labels.genres import genre_of
from symcorpus.music.labels.instrumentation import instrumentation_of
from symcorpus.music.labels.music21_corpus import MUSIC21_COLLECTIONS, music21_collection
from symcorpus.music.labels.places import origin_of
from symcorpus.music.labels.tempo import length_class, tempo_word

LABELS = pa.struct(
    [
        pa.field(name, pa.string())
        for name in ("period", "composer", "instrumentation", "genre", "origin", "tempo_word", "length_class")
    ]
)


def piece_labels(info: LabelInput) -> dict[str, str | None]:
    """The LABELS of one piece (keys period, composer, instrumentation, genre, origin, tempo_word,
    length_class; each a string or None)."""
    collection = music21_collection(info.source, info.path)
    hints = MUSIC21_COLLECTIONS.get(collection or "")
    credit = composer_credit(info.composer, hints.informants if hints else False)
    composer = credit.composer
    if composer is None and collection and credit.kind in ("none", "name", "unidentified"):
        composer = match_composer(collection)  # music21's composer folders: "bach", "schumann_clara"
    folk_source = info.format == "abc" or (hints is not None and hints.folk)
    if composer is not None:
        period = composer.period
    elif credit.kind in ("traditional", "origin", "collector"):
        period = TRADITIONAL
    elif hints is not None and hints.period:
        period = hints.period
    elif credit.kind in ("anonymous", "none") and folk_source:
        period = TRADITIONAL
    else:
        period = None
    return {
        "period": period,
        "composer": composer.name if composer else None,
        "instrumentation": instrumentation_of(info, folk=period == TRADITIONAL),
        "genre": genre_of(info, collection),
        "origin": origin_of(info.origin) or credit.origin or (hints.origin if hints else None),
        "tempo_word": tempo_word(info.tempo_bpm),
        "length_class": length_class(info.duration_seconds),
    }
