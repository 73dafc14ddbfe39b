"""What a source states about a piece (the `source_labels` column: Aria-MIDI's composer and
`music_period`, GigaMIDI's scraped genres, PDMX's composer and genres, XMIDI's and MidiCaps's
genres, a manifest's fields) read as our labels.

A stated composer is read like any credit and counts when it names a catalog composer. A stated
period, genre or instrumentation counts when it is one of our label values, or a word of a corpus
vocabulary that means one of them (the tables below); any other word names no label of ours and
stays only in `source_labels`. The corpora's vocabularies are those docs/corpora.md lists: Aria-MIDI
genres classical, pop, rock, soundtrack, jazz, blues, ragtime, folk, ambient, atonal; XMIDI genres
rock, pop, country, jazz, classical, traditional; MidiCaps's and GigaMIDI's genres are style names
of the same kind (electronic, pop, rock, classical...).
"""

from __future__ import annotations

import re

from symcorpus.music.labels.composers import PERIODS, Composer
from symcorpus.music.labels.credits import composer_credit
from symcorpus.music.labels.folding import fold
from symcorpus.music.labels.genres import GENRES, TITLE_FIRST
from symcorpus.music.labels.instrumentation import INSTRUMENTATIONS

# Corpus words that mean one of our periods; our own period names match by themselves.
PERIOD_ALIASES: dict[str, str] = {
    "middle ages": "Medieval", "medieval period": "Medieval", "medieval era": "Medieval",
    "renaissance period": "Renaissance", "renaissance era": "Renaissance",
    "baroque period": "Baroque", "baroque era": "Baroque",
    "classical period": "Classical", "classical era": "Classical", "classicism": "Classical",
    "romantic period": "Romantic", "romantic era": "Romantic", "romanticism": "Romantic",
    "twentieth century": "20th century", "20th century": "20th century",
}
# Corpus genre words with a clear genre of ours (our genre names, and the form words titles open
# with, "valse", "missa", match by themselves). A style word (classical, pop, rock, jazz, folk,
# traditional, country, soundtrack, ambient, electronic...) names no genre of ours: ours are forms,
# dances and song types.
GENRE_ALIASES: dict[str, str] = {
    "ragtime": "rag", "marches": "march", "waltzes": "waltz", "hymns": "hymn", "carols": "carol",
    "lullabies": "lullaby", "christmas carol": "carol", "madrigals": "madrigal", "motets": "motet",
    "chorales": "chorale", "sonatas": "sonata", "etudes": "etude", "nocturnes": "nocturne",
    "preludes": "prelude", "fugues": "fugue", "mazurkas": "mazurka", "polkas": "polka",
    "polonaises": "polonaise", "reels": "reel", "jigs": "jig", "hornpipes": "hornpipe",
}
# Corpus words with a clear instrumentation of ours (our class names match by themselves).
INSTRUMENTATION_ALIASES: dict[str, str] = {
    "piano": "Keyboard", "solo piano": "Keyboard", "piano solo": "Keyboard", "keyboard solo": "Keyboard",
    "organ": "Keyboard", "harpsichord": "Keyboard",
    "orchestra": "Orchestral", "symphony orchestra": "Orchestral", "string orchestra": "Orchestral",
    "choir": "Choral", "chorus": "Choral", "a cappella choir": "Choral",
    "chamber music": "Chamber", "chamber ensemble": "Chamber", "string quartet": "Chamber",
    "piano trio": "Chamber", "voice and piano": "Art Song", "lied": "Art Song", "art song": "Art Song",
}


def _key(text: str) -> str:
    """A stated word as a table key: folded, punctuation as spaces ("20th-Century" -> "20th century")."""
    return " ".join(re.findall(r"[a-z0-9]+", fold(text)))


def _table(ours: tuple[str, ...], words: dict[str, str]) -> dict[str, str]:
    return {**{_key(value): value for value in ours}, **{_key(w): value for w, value in words.items()}}


_PERIODS = _table(PERIODS, PERIOD_ALIASES)
_GENRES = _table(GENRES, {**TITLE_FIRST, **GENRE_ALIASES})
_INSTRUMENTATIONS = _table(INSTRUMENTATIONS, INSTRUMENTATION_ALIASES)


def stated_period(text: str | None) -> str | None:
    """One of PERIODS when the stated period means it, else None."""
    return _PERIODS.get(_key(text)) if text else None


def stated_genre(text: str | None) -> str | None:
    """One of GENRES when the stated genre means it, else None."""
    return _GENRES.get(_key(text)) if text else None


def stated_instrumentation(text: str | None) -> str | None:
    """One of INSTRUMENTATIONS when the stated instrumentation means it, else None."""
    return _INSTRUMENTATIONS.get(_key(text)) if text else None


def stated_composer(text: str | None) -> Composer | None:
    """The catalog composer a stated composer names, read as any credit is: "Chopin", "Bach, Johann
    Sebastian"; a collector, "Traditional" or a name the catalog lacks give None."""
    credit = composer_credit(text)
    return credit.composer if credit.kind == "composer" else None
