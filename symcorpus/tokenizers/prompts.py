"""Prompts in English: "a lively reel in D major for fiddle" read onto the condition vocabulary.

The caption grammar (music/captions.py) read backwards: a key is "D major", a metre "6/8" (or
"6/8 time"), a tempo "120 bpm" or its Italian word, and labels are phrases of closed vocabularies:
genres, periods (and their caption surfaces, "Romantic-era"), instrumentations (their caption
surfaces, "for choir"), length classes. Beside those, a few everyday words a caption never uses:
tempo adjectives by the Italian words' meanings ("lively" is Vivace, "slow" Adagio), instruments by
General MIDI name or an everyday alias ("fiddle" is GM's Fiddle, "piano" its Acoustic Grand Piano),
"common time", a composer after "by" or as a capitalised name the catalog knows.

Every word must be read or be a filler word ("a", "in", "for", "piece"...): the words left over are
a ValueError that names them, never dropped. Two different values for one family are an error too.
`prompt_values` takes either this or the `family=value` syntax (any `=` chooses the latter).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from symcorpus.music.captions import INSTRUMENTATION_SURFACE, PERIOD_SURFACE
from symcorpus.music.instruments import DRUMS, GM_PROGRAMS
from symcorpus.music.labels import GENRES, LENGTH_CLASSES, TEMPO_WORDS, tempo_word
from symcorpus.tokenizers.conditions import INSTRUMENT_ALIASES, ConditionVocab, fold

# Tempo adjectives, by what the Italian words mean (vivace: lively; adagio: at ease, slow...).
TEMPO_ADJECTIVES = {
    "extremely fast": "Prestissimo", "very fast": "Presto", "very quick": "Presto", "lively": "Vivace",
    "vivacious": "Vivace", "fast": "Allegro", "quick": "Allegro", "brisk": "Allegro", "upbeat": "Allegro",
    "cheerful": "Allegro", "moderate": "Moderato", "moderately paced": "Moderato", "medium tempo": "Moderato",
    "walking pace": "Andante", "flowing": "Andante", "leisurely": "Andante", "slow": "Adagio", "slowly": "Adagio",
    "very slow": "Largo", "broad": "Largo", "solemn": "Grave", "extremely slow": "Grave",
}
LENGTH_WORDS = {"short": "short piece", "brief": "short piece", "medium-length": "medium-length piece",
                "medium length": "medium-length piece", "long": "long piece", "fragment": "short fragment"}
METRE_WORDS = {"common time": "4/4", "cut time": "2/2", "alla breve": "2/2"}
# Everyday instrument names General MIDI lacks, beside conditions.INSTRUMENT_ALIASES.
INSTRUMENT_WORDS = {"tin whistle": "Whistle", "penny whistle": "Whistle", "pipes": "Bagpipe",
                    "uilleann pipes": "Bagpipe", "concertina": "Accordion", "squeezebox": "Accordion",
                    "kettle drums": "Timpani", "harpsichords": "Harpsichord", "horns": "French Horn"}
# Ensembles named by one word: the instruments they are.
ENSEMBLES = {"string quartet": ["Violin", "Viola", "Cello"], "piano trio": ["Acoustic Grand Piano", "Violin", "Cello"]}
FILLERS = frozenset("""
a an the in of for with and or by on at to from as its it is that this some me please i want would like
write compose generate make give create play played playing something piece pieces tune tunes music work
composition song-like style key tempo time meter metre solo duet trio featuring using scored set written
""".split())

_KEY = re.compile(r"\b([a-g])(#|♯|b|♭|[ -]?sharp|[ -]?flat)?[ -]?(major|minor)\b")
_BARE_KEY = re.compile(r"\bin ([A-G])(#|♯|b|♭)?(?![\w#♯♭])")  # "in D": major, written with a capital
_METRE = re.compile(r"(?<![\w/])(\d{1,2}) ?/ ?(\d{1,2})(?: (?:time|meter|metre))?(?![\w/])")
_BPM = re.compile(r"\b(\d{2,3}) ?(?:bpm|beats per minute)\b")
_WORD = re.compile(r"[\w#♯♭'/-]+")
_ACCIDENTAL = {"#": "#", "♯": "#", "sharp": "#", "b": "b", "♭": "b", "flat": "b"}


def _phrases() -> list[tuple[str, str, str]]:
    """(phrase, family, value) of every fixed phrase, longest first."""
    table: dict[str, tuple[str, str]] = {}
    for surface, value in [(s, v) for v, s in INSTRUMENTATION_SURFACE.items()] + [(v, v) for v in INSTRUMENTATION_SURFACE]:
        table.setdefault(fold(surface), ("instrumentation", value))
    for value, surface in PERIOD_SURFACE.items():
        table[fold(surface)] = ("period", value)
        table[fold(value)] = ("period", value)
    for value in TEMPO_WORDS:
        table[fold(value)] = ("tempo", value)
    for phrase, value in TEMPO_ADJECTIVES.items():
        table[phrase] = ("tempo", value)
    for value in LENGTH_CLASSES:
        table[fold(value)] = ("length", value)
    for phrase, value in LENGTH_WORDS.items():
        table[phrase] = ("length", value)
    for phrase, value in METRE_WORDS.items():
        table[phrase] = ("time_signature", value)
    for value in GENRES:
        table.setdefault(fold(value), ("genre", value))
        table.setdefault(fold(value) + "s", ("genre", value))
    instruments = {fold(n): n for n in GM_PROGRAMS} | {fold(DRUMS): DRUMS} | dict(INSTRUMENT_ALIASES) | INSTRUMENT_WORDS
    for phrase, value in instruments.items():
        for form in (phrase, phrase + "s"):
            table.setdefault(form, ("instruments", value))
    for phrase, values in ENSEMBLES.items():
        table[phrase] = ("instruments", "+".join(values))
    return sorted(((p, f, v) for p, (f, v) in table.items()), key=lambda x: -len(x[0]))


_PHRASES: list[tuple[re.Pattern[str], str, str]] | None = None


def _phrase_patterns() -> list[tuple[re.Pattern[str], str, str]]:
    global _PHRASES
    if _PHRASES is None:
        _PHRASES = [(re.compile(r"(?<![\w-])" + re.escape(p) + r"(?![\w-])"), f, v) for p, f, v in _phrases()]
    return _PHRASES


class _Reading:
    """The text, which of its characters have been read, and the values found (family -> values)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.low = fold(text).replace("’", "'")
        if len(self.low) != len(text):  # folding changed the length (an accent): read the folded text
            self.text = self.low
        self.read = [False] * len(self.low)
        self.found: dict[str, list[tuple[str, str]]] = {}

    def free(self, m: re.Match[str]) -> bool:
        return not any(self.read[m.start():m.end()])

    def take(self, m: re.Match[str], family: str, value: str) -> None:
        self.read[m.start():m.end()] = [True] * (m.end() - m.start())
        self.found.setdefault(family, []).append((value, self.text[m.start():m.end()]))

    def scan(self, pattern: re.Pattern[str], family: str, value: Callable[[re.Match[str]], str | None],
             text: str | None = None) -> None:
        for m in pattern.finditer(text if text is not None else self.low):
            if self.free(m) and (v := value(m)) is not None:
                self.take(m, family, v)

    def unread_words(self) -> list[str]:
        words = []
        for m in _WORD.finditer(self.low):
            if not any(self.read[m.start():m.end()]) and m.group(0).strip("'-") not in FILLERS:
                words.append(self.text[m.start():m.end()])
        return words


def _key_value(m: re.Match[str]) -> str:
    accidental = _ACCIDENTAL[m.group(2).strip(" -")] if m.group(2) else ""
    return f"{m.group(1).upper()}{accidental} {m.group(3)}"


def _composer(vocab: ConditionVocab, reading: _Reading) -> None:
    """A composer after "by" (the longest run of up to four words that names one), or a capitalised
    word or run the composer vocabulary knows."""
    words = list(_WORD.finditer(reading.text))
    for i, w in enumerate(words):
        starts_run = reading.low[w.start():w.end()] == "by" or w.group(0)[:1].isupper()
        if not starts_run:
            continue
        first = i + 1 if reading.low[w.start():w.end()] == "by" else i
        for j in range(min(len(words), first + 4), first, -1):
            span = (words[first].start(), words[j - 1].end())
            if any(reading.read[span[0]:span[1]]):
                continue
            run = reading.text[span[0]:span[1]]
            try:
                name = vocab.match("composer", run)
            except ValueError:
                continue
            # Every word of the run must be a word of the name: "Baroque fugue by Bach" is not a credit.
            if not name.startswith("<") and set(re.findall(r"\w+", fold(run))) <= set(re.findall(r"\w+", fold(name))):
                m = re.compile(re.escape(reading.low[span[0]:span[1]])).search(reading.low, span[0])
                reading.take(m, "composer", name)
                break


def parse_english(vocab: ConditionVocab, text: str) -> dict[str, Any]:
    """The condition values (family -> value; instruments: a list) an English prompt names.
    ValueError naming the words it cannot read, a value outside the vocabulary, or a family given
    two different values."""
    reading = _Reading(" ".join(text.split()))
    reading.scan(_KEY, "key", _key_value)
    reading.scan(_BARE_KEY, "key", lambda m: f"{m.group(1)}{_ACCIDENTAL[m.group(2)] if m.group(2) else ''} major",
                 text=reading.text)
    reading.scan(_METRE, "time_signature", lambda m: f"{m.group(1)}/{m.group(2)}")
    reading.scan(_BPM, "tempo", lambda m: tempo_word(float(m.group(1))))
    _composer(vocab, reading)  # before the phrases: "by Bach" is not the genre "air" in "Bach Air"
    for pattern, family, value in _phrase_patterns():
        reading.scan(pattern, family, lambda m, v=value: v)
    unread = reading.unread_words()
    if unread:
        raise ValueError(f"prompt: cannot read {', '.join(repr(w) for w in unread)} in {text!r} (name a key, "
                         "metre, tempo, genre, period, composer, instrumentation, instruments or length; "
                         "or write family=value)")
    values: dict[str, Any] = {}
    for family, found in reading.found.items():
        if family == "instruments":
            names = [n for value, _ in found for n in value.split("+")]
            values[family] = [vocab.match(family, n) for n in dict.fromkeys(names)]
            continue
        distinct = dict.fromkeys(value for value, _ in found)
        if len(distinct) > 1:
            said = " and ".join(f"{words!r} ({value})" for value, words in found)
            raise ValueError(f"prompt: two values for {family}: {said}")
        values[family] = vocab.match(family, next(iter(distinct)))
    return values


def prompt_values(vocab: ConditionVocab, prompt: str) -> dict[str, Any]:
    """A prompt's condition values: `family=value` words when it has an '=', else English."""
    if "=" in prompt:
        return vocab.parse_prompt(prompt)
    return parse_english(vocab, prompt)


__all__ = ["FILLERS", "TEMPO_ADJECTIVES", "parse_english", "prompt_values"]
