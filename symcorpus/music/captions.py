"""Captions: one to three English sentences that state the facts of a piece's tags, and only those.

- `caption_tags(fields, labels)`: the JSON-able dict of every fact a caption will state, from the
  corpus columns (features flattened in) and the labels. Absent facts are absent keys.
- `write_caption(tags, piece_id)`: the caption; its phrasing (sentence frames, word order, lead-ins)
  is picked from a BLAKE2 hash of the id, so the same id always reads the same and ids differ.
- `read_caption(caption)`: the facts parsed back, equal to `tags` for every caption we write.

Parsing back works because each fact has one fixed surface form, whatever frame carries it: a key
is "D minor", a metre "6/8 time", a declared tempo "120 bpm" (or "180 quarter notes per minute"
where the metre's beat is not the quarter) and an estimated one "around 96 beats per minute", plus
its Italian word, a duration "1:04", a chord progression an en-dash chain "C–G–Am–F", an instrument list ends its sentence after one of a
few lead-ins, and every label is a phrase of a closed vocabulary (composers.csv names, GENRES,
ORIGINS...). The frames themselves use none of those words.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any

from symcorpus.music.labels import (
    GENRES,
    INSTRUMENTATIONS,
    LENGTH_CLASSES,
    ORIGINS,
    PERIODS,
    TEMPO_WORDS,
    composers,
    length_class,
    tempo_word,
)

MAX_INSTRUMENTS = 4  # named in a caption; more are "and others"

TEXTURES: tuple[str, ...] = ("monophonic", "light", "moderate", "dense")
TIMINGS: tuple[str, ...] = ("quantized", "expressive")
TEMPO_SOURCES: tuple[str, ...] = ("declared", "estimated")  # the ones a caption states (tempo.py)

# Every tag a caption may state, in the order `read_caption` returns them.
TAG_KEYS: tuple[str, ...] = (
    "genre", "period", "composer", "origin", "instrumentation", "key", "time_signature",
    "tempo_bpm", "tempo_source", "tempo_word", "instruments", "more_instruments", "drums", "duration_seconds",
    "length_class", "texture", "timing", "chord_progression",
)

PERIOD_SURFACE = {
    "Medieval": "medieval", "Renaissance": "Renaissance", "Baroque": "Baroque",
    "Classical": "Classical-era", "Romantic": "Romantic-era", "20th century": "20th-century",
    "Traditional": "traditional",
}
INSTRUMENTATION_SURFACE = {
    "Keyboard": "for keyboard", "Chamber": "for chamber ensemble", "Orchestral": "for orchestra",
    "Art Song": "for solo voice and accompaniment", "Choral": "for choir",
    "Vocal-Orchestral": "for voices and orchestra", "Solo melody": "as an unaccompanied melody",
    "Band": "for band", "Folk ensemble": "for folk ensemble",
}
TEXTURE_SURFACE = {
    "monophonic": "a single melodic line", "light": "a light texture",
    "moderate": "a moderately full texture", "dense": "a dense texture",
}
TIMING_SURFACE = {"quantized": "quantized timing", "expressive": "expressive timing"}
_ORIGINS_WITH_THE = frozenset({"Netherlands", "United States", "Soviet Union", "West Indies"})

_KEY = re.compile(r"\b([A-G][b#]?) (major|minor)\b")
_TIME = re.compile(r"(?<![\w/])(\d+/\d+) time\b")
_BPM = re.compile(r"\b(\d+) (?:bpm|quarter notes per minute)\b")
_BEATS = re.compile(r"\baround (\d+) beats per minute\b")
_DURATION = re.compile(r"(?<![\w:])(\d+):([0-5]\d)(?![\w:])")
_CHORD = r"[A-G][#b]?(?:maj7|m7b5|m7|m|7|dim|aug|sus2|sus4)?"
_CHAIN = re.compile(rf"(?<![\w–]){_CHORD}(?:–{_CHORD})+(?![\w–])")
_INSTRUMENT_LEADS = ("It features", "The instruments are", "It is scored for", "You can hear",
                     "Its sound comes from")
_INSTRUMENTS = re.compile(
    r"(?<![\w])(" + "|".join(re.escape(lead) for lead in _INSTRUMENT_LEADS) + r") ([^.;]+)(?=\.(?:\s|$)|;|$)",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------------------------------
# Tags


def texture_class(polyphony_mean: float | None, polyphony_max: int | None) -> str | None:
    """monophonic (never two notes at once), light (< 2.5 sounding notes on average), moderate
    (< 4.5), dense."""
    if polyphony_max is not None and _finite(polyphony_max) and polyphony_max <= 1:
        return "monophonic"
    if polyphony_mean is None or not _finite(polyphony_mean) or polyphony_mean <= 0:
        return None
    return "light" if polyphony_mean < 2.5 else "moderate" if polyphony_mean < 4.5 else "dense"


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@functools.cache  # built once: the composer table has hundreds of names, and every piece asks
def _vocabulary() -> dict[str, frozenset[str]]:
    return {
        "genre": frozenset(GENRES), "period": frozenset(PERIODS), "composer": frozenset(c.name for c in composers()),
        "origin": frozenset(ORIGINS), "instrumentation": frozenset(INSTRUMENTATIONS),
    }


def caption_tags(fields: dict[str, Any], labels: dict[str, Any]) -> dict[str, Any]:
    """Every fact the caption of a piece states. `fields`: corpus columns with the features
    flattened in (key, time_signature, tempo_bpm, duration_seconds, instruments, has_drums, format,
    abc, polyphony_mean, polyphony_max, timing, chord_progression...); `labels`: piece_labels().

    A tempo is stated when the file declares one or the notes gave an estimate (features'
    `tempo_source` declared or estimated, the bpm `tempo_used_bpm`), never a placeholder (MIDI's
    default 120, an ABC tune without `Q:`), nor when the labels carry tempo_word None. Rows without
    `tempo_source` (summarised before it) state `tempo_bpm` as declared, except ABC without `Q:`.
    Instruments are stated only when the file chose them (`instruments` is None when it set no
    program), never for ABC. A chord progression needs two different chords."""
    tags: dict[str, Any] = {}
    vocabulary = _vocabulary()
    for name in ("genre", "period", "composer", "origin", "instrumentation"):
        value = labels.get(name)
        if isinstance(value, str) and value in vocabulary[name]:
            tags[name] = value

    pitched = fields.get("n_pitched_notes")
    for candidate in (fields.get("key"), fields.get("key_signature")) if pitched != 0 else ():
        if isinstance(candidate, str) and _KEY.fullmatch(candidate):
            tags["key"] = candidate
            break
    signature = fields.get("time_signature")
    if isinstance(signature, str) and re.fullmatch(r"\d+/\d+", signature):
        tags["time_signature"] = signature

    source = fields.get("tempo_source")
    if source is None:
        abc = fields.get("abc") or {}
        source = None if fields.get("format") == "abc" and not abc.get("tempo") else "declared"
        bpm = fields.get("tempo_bpm")
    else:
        bpm = fields.get("tempo_used_bpm")
    if source in TEMPO_SOURCES and _finite(bpm) and float(bpm) > 0:
        word = labels["tempo_word"] if "tempo_word" in labels else tempo_word(float(bpm))
        if word in TEMPO_WORDS:
            tags["tempo_bpm"] = int(round(float(bpm)))
            tags["tempo_source"] = source
            tags["tempo_word"] = word

    instruments = [i for i in fields.get("instruments") or [] if isinstance(i, str) and i.strip()]
    if instruments and fields.get("format") != "abc":
        tags["instruments"] = instruments[:MAX_INSTRUMENTS]
        if len(instruments) > MAX_INSTRUMENTS:
            tags["more_instruments"] = True
    if fields.get("has_drums"):
        tags["drums"] = True

    seconds = fields.get("duration_seconds")
    if _finite(seconds) and float(seconds) >= 0:
        tags["duration_seconds"] = int(round(float(seconds)))
    length = labels.get("length_class") or (length_class(float(seconds)) if _finite(seconds) else None)
    if length in LENGTH_CLASSES:
        tags["length_class"] = length

    texture = texture_class(fields.get("polyphony_mean"), fields.get("polyphony_max"))
    if texture and not (texture == "monophonic" and tags.get("instrumentation") == "Solo melody"):
        tags["texture"] = texture
    if fields.get("timing") in TIMINGS:
        tags["timing"] = fields["timing"]
    progression = fields.get("chord_progression")
    if isinstance(progression, str):
        chords = progression.split()
        # One chord held ("C C C C") is no progression.
        if len(set(chords)) >= 2 and all(re.fullmatch(_CHORD, c) for c in chords):
            tags["chord_progression"] = " ".join(chords)
    return {key: tags[key] for key in TAG_KEYS if key in tags}


# --------------------------------------------------------------------------------------------------
# Writing


class _Picker:
    """Deterministic choices from a hash of the piece id (stable across runs and machines,
    unlike Python's salted hash())."""

    def __init__(self, piece_id: str) -> None:
        self.seed = piece_id.encode("utf-8", "surrogatepass")
        self.draws = 0

    def __call__(self, options: Sequence[Any]) -> Any:
        self.draws += 1
        digest = hashlib.blake2b(self.seed + b"\x00" + str(self.draws).encode(), digest_size=8).digest()
        return options[int.from_bytes(digest, "big") % len(options)]


def _a(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _capital(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _identity(t: dict[str, Any], pick: _Picker) -> str:
    """What the piece is: genre or a plain noun, period, origin, composer, instrumentation, key
    and metre."""
    plain_nouns = ("tune", "piece") if t.get("period") == "Traditional" else ("work", "composition", "piece")
    noun = t.get("genre") or pick(plain_nouns)
    phrase = f"{PERIOD_SURFACE[t['period']]} {noun}" if "period" in t else noun
    modifiers = []
    if "origin" in t:
        origin = t["origin"]
        modifiers.append(f"from {'the ' if origin in _ORIGINS_WITH_THE else ''}{origin}")
    if "composer" in t:
        modifiers.insert(pick((0, len(modifiers))), f"by {t['composer']}")
    if "instrumentation" in t:
        surface = INSTRUMENTATION_SURFACE[t["instrumentation"]]
        # "for choir" reads well anywhere; "as an unaccompanied melody" only last
        modifiers.insert(pick((0, len(modifiers))) if surface.startswith("for ") else len(modifiers), surface)
    described = " ".join([_a(phrase)] + modifiers)

    key = t.get("key") and pick(("in {}", "in the key of {}")).format(t["key"])
    metre = t.get("time_signature") and f"in {t['time_signature']} time"
    if key and metre:
        setting = pick((f"{key} and {metre[3:]}", f"{key}, {metre}", f"{metre} and {key}"))
    else:
        setting = key or metre
    if not setting:
        return _capital(pick(("{}.", "This is {}.", "Here we have {}.")).format(described))
    frames = ("{d}, {s}.", "This is {d}, written {s}.", "Here we have {d}, set {s}.",
              "Written {s}, this is {d}.", "{d}, cast {s}.")
    return _capital(pick(frames).format(d=described, s=setting))


def quarter_is_the_beat(time_signature: str | None) -> bool:
    """Whether a metre beats in quarter notes (2/4, 3/4, 4/4, 5/4...; MIDI's 4/4 when none is given),
    so a declared tempo, counted in quarters, is in beats per minute too. Not for 6/8, 2/2, 6/4."""
    if not time_signature:
        return True
    numerator, denominator = (int(x) for x in time_signature.split("/"))
    return denominator == 4 and not (numerator % 3 == 0 and numerator > 3)


def _tempo_phrase(t: dict[str, Any]) -> str:
    """A declared tempo counts quarter notes; an estimate counts the beat a listener taps."""
    bpm = t["tempo_bpm"]
    if t.get("tempo_source") == "estimated":
        return f"around {bpm} beats per minute"
    return f"{bpm} bpm" if quarter_is_the_beat(t.get("time_signature")) else f"{bpm} quarter notes per minute"


def _tempo_and_instruments(t: dict[str, Any], pick: _Picker) -> str | None:
    tempo = None
    if "tempo_bpm" in t:
        phrase, word = _tempo_phrase(t), t["tempo_word"]
        tempo = pick((
            f"It moves at {phrase}, {_a(word)} pace",
            f"The tempo is {word}, at {phrase}",
            f"It is taken at {phrase} ({word})",
            f"Its pace of {phrase} reads as {word}",
        ))
    listing = None
    if "instruments" in t or "drums" in t:
        items = list(t.get("instruments", []))
        if items:
            listing = _listing(items + ["others"] if t.get("more_instruments") else items)
            if t.get("drums"):
                listing += ", plus drums"
        else:
            listing = "drums alone"
        several = len(items) > 1 or bool(items and t.get("drums"))
        leads = _INSTRUMENT_LEADS if several else tuple(x for x in _INSTRUMENT_LEADS if "are" not in x)
        listing = f"{pick(leads)} {listing}"
    if tempo and listing:
        joined = listing[0].lower() + listing[1:]
        return pick((f"{tempo}, and {joined}.", f"{tempo}; {joined}."))
    return f"{tempo or listing}." if tempo or listing else None


def _duration(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def _shape(t: dict[str, Any], pick: _Picker) -> str | None:
    """Length, texture, timing and harmony."""
    duration = _duration(t["duration_seconds"]) if "duration_seconds" in t else None
    length = t.get("length_class")
    if duration and length:
        main = pick((f"It lasts {duration}, {_a(length)}", f"At {duration}, it is {_a(length)}",
                     f"Running {duration}, it makes {_a(length)}", f"It is {_a(length)} lasting {duration}"))
    elif duration:
        main = f"It lasts {duration}"
    elif length:
        main = f"It is {_a(length)}"
    else:
        main = None
    qualities = []
    if "texture" in t:
        qualities.append(TEXTURE_SURFACE[t["texture"]])
    if "timing" in t:
        qualities.append(TIMING_SURFACE[t["timing"]])
    clauses = [f"with {' and '.join(pick((qualities, qualities[::-1])))}"] if qualities else []
    if "chord_progression" in t:
        chain = t["chord_progression"].replace(" ", "–")
        clauses.append(pick((f"built on a recurring {chain} progression", f"circling the progression {chain}",
                             f"whose most common progression is {chain}")))
    if main is None and not clauses:
        return None
    sentence = main or "It unfolds"
    for i, clause in enumerate(clauses):
        sentence += (" " if main is None and i == 0 and clause.startswith("with") else ", ") + clause
    return sentence + "."


def write_caption(tags: dict[str, Any], piece_id: str) -> str:
    """The caption of a piece: every fact of `tags`, phrased by a hash of `piece_id`."""
    pick = _Picker(piece_id)
    first = _identity(tags, pick)
    rest = [s for s in (_tempo_and_instruments(tags, pick), _shape(tags, pick)) if s]
    return " ".join([first] + pick((rest, rest[::-1])))


# --------------------------------------------------------------------------------------------------
# Reading


def _phrases() -> list[tuple[re.Pattern[str], str, str]]:
    """(pattern, fact, value) for every label value's surface phrase, longest first so that a
    phrase inside a longer one ("song" in "love song") is not read on its own."""
    table: dict[str, tuple[str, str]] = {}

    def add(phrase: str, fact: str, value: str) -> None:
        key = phrase.lower()
        if key in table and table[key] != (fact, value):
            raise ValueError(f"caption phrase {phrase!r} means both {table[key]} and {(fact, value)}")
        table[key] = (fact, value)

    for value in GENRES:
        add(value, "genre", value)
    for value, surface in PERIOD_SURFACE.items():
        add(surface, "period", value)
    for composer in composers():
        add(composer.name, "composer", composer.name)
    for value in ORIGINS:
        add(value, "origin", value)
    for value, surface in INSTRUMENTATION_SURFACE.items():
        add(surface, "instrumentation", value)
    for value in TEMPO_WORDS:
        add(value, "tempo_word", value)
    for value in LENGTH_CLASSES:
        add(value, "length_class", value)
    for value, surface in TEXTURE_SURFACE.items():
        add(surface.split(" ", 1)[1], "texture", value)  # without its article
    for value, surface in TIMING_SURFACE.items():
        add(surface, "timing", value)
    return [
        (re.compile(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", re.IGNORECASE), fact, value)
        for phrase, (fact, value) in sorted(table.items(), key=lambda kv: -len(kv[0]))
    ]


_PHRASES: list[tuple[re.Pattern[str], str, str]] | None = None


def read_caption(caption: str) -> dict[str, Any]:
    """The facts a caption states, in the shape of `caption_tags`. A label stated twice with
    different values comes back as the list of its values (never so in captions we write)."""
    global _PHRASES
    if _PHRASES is None:
        _PHRASES = _phrases()
    taken: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= a or m.start() >= b for a, b in taken)

    def find(pattern: re.Pattern[str]) -> re.Match[str] | None:
        for m in pattern.finditer(caption):
            if free(m):
                taken.append(m.span())
                return m
        return None

    facts: dict[str, Any] = {}
    m = find(_INSTRUMENTS)
    if m:
        listing = m.group(2).strip()
        if listing == "drums alone":
            facts["drums"] = True
        else:
            if listing.endswith(", plus drums"):
                facts["drums"] = True
                listing = listing[: -len(", plus drums")]
            if listing.endswith(" and others"):
                facts["more_instruments"] = True
                items = listing[: -len(" and others")].split(", ")
            else:
                head, _, last = listing.rpartition(" and ")
                items = (head.split(", ") if head else []) + [last]
            facts["instruments"] = items
    if m := find(_CHAIN):
        facts["chord_progression"] = m.group(0).replace("–", " ")
    if m := find(_KEY):
        facts["key"] = f"{m.group(1)} {m.group(2)}"
    if m := find(_TIME):
        facts["time_signature"] = m.group(1)
    if m := find(_BEATS):
        facts["tempo_bpm"], facts["tempo_source"] = int(m.group(1)), "estimated"
    elif m := find(_BPM):
        facts["tempo_bpm"], facts["tempo_source"] = int(m.group(1)), "declared"
    if m := find(_DURATION):
        facts["duration_seconds"] = int(m.group(1)) * 60 + int(m.group(2))
    # Longest phrases first; each match claims its span, so "song" inside "love song" is not read.
    for pattern, fact, value in _PHRASES:
        for m in pattern.finditer(caption):
            if free(m):
                taken.append(m.span())
                if fact not in facts:
                    facts[fact] = value
                elif facts[fact] != value and value not in facts[fact]:
                    previous = facts[fact] if isinstance(facts[fact], list) else [facts[fact]]
                    facts[fact] = previous + [value]
    return {key: facts[key] for key in TAG_KEYS if key in facts}

