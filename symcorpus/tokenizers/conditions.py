"""Condition tokens: one family per label, filled from the corpus columns, and the prompt syntax.

A piece's conditions are one token per family, in FAMILIES order, except `instruments`, which has
`max_instruments` slots (its instruments in vocabulary order, then `<none>`). A missing label is the
family's `<unknown>` token, so conditions always have the same length and layout.

Prompts name the same values: `period=Romantic composer=Chopin key="E minor" time_signature=3/4
tempo=Andante instruments=piano,violin`. Families left out are `<unknown>`, as for a piece without
that label. Values match case- and accent-blind; a composer may be named by a catalog alias or by a
word of the name that only one composer has; an unknown family or value is a ValueError that names
it and lists the nearest values.
"""

from __future__ import annotations

import difflib
import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from symcorpus.music.instruments import DRUMS, GM_PROGRAMS
from symcorpus.music.keys import PITCH_NAMES, key_signature_name
from symcorpus.music.labels import (
    GENRES, INSTRUMENTATIONS, LENGTH_CLASSES, PERIODS, TEMPO_WORDS, composers, length_class, match_composer,
    tempo_word,
)

FAMILIES: tuple[str, ...] = (
    "period", "composer", "instrumentation", "genre", "key", "time_signature", "tempo", "instruments",
    "length",
)
UNKNOWN = "<unknown>"
NONE = "<none>"  # an empty instrument slot

# Prompt words for families, besides their own names.
FAMILY_ALIASES = {
    "tempo_word": "tempo", "tempo_bin": "tempo", "length_class": "length", "meter": "time_signature",
    "ts": "time_signature", "instrument": "instruments", "style": "genre",
}

# Everyday names for General MIDI instruments (prompts say "piano", not "Acoustic Grand Piano").
INSTRUMENT_ALIASES = {
    "piano": "Acoustic Grand Piano", "grand piano": "Acoustic Grand Piano", "guitar": "Acoustic Guitar (nylon)",
    "classical guitar": "Acoustic Guitar (nylon)", "bass": "Acoustic Bass", "double bass": "Contrabass",
    "drums": DRUMS, "drum kit": DRUMS, "organ": "Church Organ", "strings": "String Ensemble 1",
    "choir": "Choir Aahs", "voice": "Voice Oohs", "harp": "Orchestral Harp", "horn": "French Horn",
    "sax": "Alto Sax", "saxophone": "Alto Sax", "electric piano": "Electric Piano 1",
    "electric guitar": "Electric Guitar (clean)", "synth": "Lead 1 (square)",
}


def key_names() -> list[str]:
    names = {f"{p} {m}" for p in PITCH_NAMES for m in ("major", "minor")}
    names |= {key_signature_name(sharps, minor) for sharps in range(-7, 8) for minor in (False, True)}
    return sorted(names)


COMMON_TIME_SIGNATURES = ("2/2", "3/2", "4/2", "2/4", "3/4", "4/4", "5/4", "6/4", "3/8", "6/8", "7/8", "9/8",
                          "12/8")


def known_values() -> dict[str, list[str]]:
    """Values every vocabulary holds, whatever the corpus has: the labels' closed vocabularies
    (periods, catalog composers, instrumentations, genres, tempo words, length classes), keys, common
    time signatures and General MIDI instruments."""
    return {
        "period": list(PERIODS),
        "composer": [c.name for c in composers()],
        "instrumentation": list(INSTRUMENTATIONS),
        "genre": list(GENRES),
        "key": key_names(),
        "time_signature": list(COMMON_TIME_SIGNATURES),
        "tempo": list(TEMPO_WORDS),
        "instruments": list(GM_PROGRAMS) + [DRUMS],
        "length": list(LENGTH_CLASSES),
    }


def fold(text: str) -> str:
    """Case-, accent- and spacing-blind form of a value, for matching."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(text.replace("_", " ").split())


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def piece_values(row: Mapping[str, Any], max_instruments: int) -> dict[str, Any]:
    """A corpus row's value per family (None when missing; a list for instruments).

    Reads `labels` (period, composer, instrumentation, genre, tempo_word, length_class), `key` (or the
    declared `key_signature`), `time_signature`, `tempo_bpm`, `duration_seconds`, `instruments`,
    `has_drums`; any of them may be absent.
    """
    labels = row.get("labels") or {}
    values: dict[str, Any] = {f: _clean(labels.get(f)) for f in ("period", "composer", "instrumentation", "genre")}
    values["key"] = _clean(row.get("key")) or _clean(row.get("key_signature"))
    values["time_signature"] = _clean(row.get("time_signature"))
    tempo = _clean(labels.get("tempo_word"))
    # A tempo_word of None is the annotator's verdict (a placeholder tempo); only labels without
    # the field fall back to the declared tempo.
    if "tempo_word" not in labels and row.get("tempo_bpm") is not None:
        tempo = tempo_word(float(row["tempo_bpm"]))
    values["tempo"] = tempo
    length = _clean(labels.get("length_class"))
    if length is None and row.get("duration_seconds") is not None:
        length = length_class(float(row["duration_seconds"]))
    values["length"] = length
    instruments = row.get("instruments")
    if instruments is None:  # the file chose no programs (or the column is missing): unknown
        values["instruments"] = None
    else:
        names = [n for n in (instruments or []) if n]
        drums = [DRUMS] if row.get("has_drums") else []
        values["instruments"] = names[: max(0, max_instruments - len(drums))] + drums
    return values


@dataclass
class ConditionVocab:
    """Condition tokens from id `offset` on: per family `<unknown>` first (instruments: `<none>`
    next), then its values."""

    values: dict[str, list[str]]
    max_instruments: int
    offset: int = 0

    def __post_init__(self) -> None:
        self.ids: dict[str, dict[str, int]] = {}
        self._folded: dict[str, dict[str, str]] = {}
        next_id = self.offset
        for family in FAMILIES:
            names = self.values[family]
            self.ids[family] = {name: next_id + i for i, name in enumerate(names)}
            self._folded[family] = {fold(n): n for n in names if not n.startswith("<")}
            next_id += len(names)
        self.size = next_id  # first id after the condition tokens

    @classmethod
    def build(cls, counts: Mapping[str, Mapping[str, int]], max_instruments: int, min_count: int = 1,
              offset: int = 0) -> ConditionVocab:
        """The known values plus the corpus' (family -> value -> pieces) seen at least `min_count`
        times, ordered by folded name: the same counts in any order give the same vocabulary."""
        known = known_values()
        values: dict[str, list[str]] = {}
        for family in FAMILIES:
            seen = {v for v, n in counts.get(family, {}).items() if v and n >= min_count}
            names = sorted(seen | set(known.get(family, [])), key=lambda v: (fold(v), v))
            specials = [UNKNOWN, NONE] if family == "instruments" else [UNKNOWN]
            values[family] = specials + [v for v in names if v not in specials]
        return cls(values, max_instruments, offset)

    @property
    def length(self) -> int:
        """Condition tokens per piece."""
        return len(FAMILIES) - 1 + self.max_instruments

    def names(self) -> list[str]:
        """`family=value` of every condition token, in id order."""
        return [f"{family}={name}" for family in FAMILIES for name in self.values[family]]

    def unknown(self, family: str) -> int:
        return self.ids[family][UNKNOWN]

    def slots(self) -> tuple[list[int], list[int]]:
        """Per condition slot, in encoding order: its family's index in FAMILIES and that family's
        unknown token (instruments fill max_instruments slots)."""
        family_of: list[int] = []
        unknown: list[int] = []
        for i, family in enumerate(FAMILIES):
            n = self.max_instruments if family == "instruments" else 1
            family_of += [i] * n
            unknown += [self.unknown(family)] * n
        return family_of, unknown

    def family_slots(self, family: str) -> list[int]:
        """Positions of `family`'s tokens among a row's condition tokens."""
        index = FAMILIES.index(family)
        return [i for i, f in enumerate(self.slots()[0]) if f == index]

    def encode_values(self, values: Mapping[str, Any]) -> list[int]:
        """Condition tokens of a piece's family values (see `piece_values`); values outside the
        vocabulary are unknown."""
        out: list[int] = []
        for family in FAMILIES:
            value = values.get(family)
            ids = self.ids[family]
            if family == "instruments":
                out += self._instrument_slots(value)
                continue
            out.append(ids.get(value, ids[UNKNOWN]) if value is not None else ids[UNKNOWN])
        return out

    def _instrument_slots(self, names: Iterable[str] | None) -> list[int]:
        ids = self.ids["instruments"]
        if names is None:
            return [ids[UNKNOWN]] * self.max_instruments
        chosen = sorted({ids[n] for n in names if n in ids})[: self.max_instruments]
        return chosen + [ids[NONE]] * (self.max_instruments - len(chosen))

    def encode_row(self, row: Mapping[str, Any]) -> list[int]:
        return self.encode_values(piece_values(row, self.max_instruments))

    # ---------------------------------------------------------------------------------------------
    # Prompts

    def encode_prompt(self, prompt: str) -> list[int]:
        """Condition tokens of a prompt like `composer=Chopin key="E minor" instruments=piano`."""
        return self.encode_values(self.parse_prompt(prompt))

    def parse_prompt(self, prompt: str) -> dict[str, Any]:
        try:
            parts = shlex.split(prompt)
        except ValueError as e:
            raise ValueError(f"prompt: {e} (quote values with spaces: key=\"E minor\")") from None
        values: dict[str, Any] = {}
        for part in parts:
            if "=" not in part:
                raise ValueError(f"prompt: {part!r} is not family=value (families: {', '.join(FAMILIES)})")
            name, value = part.split("=", 1)
            family = FAMILY_ALIASES.get(name.strip().lower(), name.strip().lower())
            if family not in FAMILIES:
                near = difflib.get_close_matches(family, FAMILIES, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise ValueError(f"prompt: unknown condition family {name!r}{hint} (families: {', '.join(FAMILIES)})")
            if family in values:
                raise ValueError(f"prompt: {family} given twice")
            if family == "instruments":
                names = [v for v in re.split(r"[,+]", value) if v.strip()]
                values[family] = [self.match(family, v) for v in names]
            else:
                values[family] = self.match(family, value)
        return values

    def match(self, family: str, value: str) -> str:
        """The vocabulary value a prompt value means, or a ValueError naming family and value."""
        folded = fold(value)
        if folded in ("unknown", "<unknown>", "any", ""):
            return UNKNOWN
        table = self._folded[family]
        if folded in table:
            return table[folded]
        if family == "instruments" and folded in INSTRUMENT_ALIASES:
            return INSTRUMENT_ALIASES[folded]
        if family == "composer":
            # The catalog's aliases, as the corpus labels were matched ("Bach" is J. S. Bach).
            composer = match_composer(value)
            if composer is not None and fold(composer.name) in table:
                return table[fold(composer.name)]
        if family == "key":
            key = folded.replace("-", " ").replace(" min", " minor").replace(" maj", " major")
            key = re.sub(r"\b(minor|major)\w*", r"\1", key)
            if key in table:
                return table[key]
        if family in ("composer", "instruments"):
            # One word (or run of words) of a longer name, when only one name has it.
            pattern = re.compile(rf"(^|\W){re.escape(folded)}($|\W)")
            hits = [name for f, name in table.items() if pattern.search(f)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise ValueError(f"prompt: {family}={value!r} is ambiguous: {', '.join(sorted(hits)[:8])}")
        near = difflib.get_close_matches(folded, list(table), n=3, cutoff=0.5)
        hint = f"; nearest: {', '.join(table[n] for n in near)}" if near else ""
        raise ValueError(f"prompt: {family}={value!r} is not in the vocabulary{hint}")

    def to_json(self) -> dict[str, Any]:
        return {"families": list(FAMILIES), "max_instruments": self.max_instruments, "offset": self.offset,
                "values": self.values}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConditionVocab:
        if list(data["families"]) != list(FAMILIES):
            raise ValueError(f"condition families {data['families']} differ from this code's {list(FAMILIES)}")
        return cls({f: list(v) for f, v in data["values"].items()}, int(data["max_instruments"]), int(data["offset"]))
