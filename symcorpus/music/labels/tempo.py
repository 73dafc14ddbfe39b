"""Tempo words and length classes: MidiCaps' bins, so captions and conditions compare with
MidiCaps-trained models.

MidiCaps rounds the BPM and counts the cut-offs it exceeds: 40 is Grave, 41 Largo. Its Italian names
sit a little slower than the textbook ranges (Andante 76-108, Moderato 108-120, Allegro 120-156),
e.g. 100 BPM is Moderato here; we keep its bins for comparability.
"""

from __future__ import annotations

TEMPO_CUTS: tuple[int, ...] = (40, 60, 70, 90, 110, 140, 160, 210)
TEMPO_WORDS: tuple[str, ...] = (
    "Grave", "Largo", "Adagio", "Andante", "Moderato", "Allegro", "Vivace", "Presto", "Prestissimo",
)
LENGTH_CUTS: tuple[int, ...] = (30, 120, 300)  # seconds
LENGTH_CLASSES: tuple[str, ...] = ("short fragment", "short piece", "medium-length piece", "long piece")


def _bin(value: float | None, cuts: tuple[int, ...], names: tuple[str, ...]) -> str | None:
    if value is None or not value == value or value in (float("inf"), float("-inf")) or value <= 0:
        return None
    rounded = round(value)
    return names[sum(rounded > cut for cut in cuts)]


def tempo_word(bpm: float | None) -> str | None:
    """Italian tempo word for a tempo per minute (declared quarters, or an estimated beat): <=40 Grave, <=60 Largo, <=70 Adagio, <=90 Andante,
    <=110 Moderato, <=140 Allegro, <=160 Vivace, <=210 Presto, faster Prestissimo (MidiCaps)."""
    return _bin(bpm, TEMPO_CUTS, TEMPO_WORDS)


def length_class(seconds: float | None) -> str | None:
    """<=30 s short fragment, <=120 s short piece, <=300 s medium-length piece, longer long piece
    (MidiCaps' classes, renamed because most of a symbolic corpus is not song)."""
    return _bin(seconds, LENGTH_CUTS, LENGTH_CLASSES)
