"""An ABC tune read as music: the header fields that change the music, and each voice's bars.

`parse_tune` reads one tune (the text of a corpus record: file header lines, then the tune) into its
kept header lines and the music of each voice:
- ASCII only (accents folded, other characters dropped), tabs to spaces; the text after the tune's
  first blank line (free text between tunes) is not part of the tune;
- header fields kept are those that change the music: L M Q K V P U (and `%%score` / `%%staves`);
  X T C W w Z and every other information field (N B S O R H D F A G I ...), lyrics, comments and
  `%%MIDI` lines are dropped; `K:none` becomes `K:C`; quoted text annotations longer than
  `max_annotation` characters are dropped;
- music goes to the voice of the last `V:` field or inline `[V:...]` (voice "1" without any).

`split_bars` cuts a voice's music after each bar line. `voice_bar_counts` is what the quality filter
checks (NotaGen's rule: every voice has as many bars as the others); the ABC tokenizer interleaves
the voices bar by bar (tokenizers/abc.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from symcorpus.errors import ReasonError
from symcorpus.music.abc_text import without_comment

KEEP_FIELDS = frozenset("LMQKVPU")
KEEP_DIRECTIVES = ("%%score", "%%staves")
DEFAULT_VOICE = "1"

_FIELD = re.compile(r"^([A-Za-z+]):\s*(.*)$")
_INLINE_VOICE = re.compile(r"\[V:\s*([^\]\s]+)[^\]]*\]")
_DECORATION = re.compile(r"!([^!|\n]{1,40})!|\+([^+|\s]{1,40})\+")
_SPACES = re.compile(r" {2,}")
_KEY_NONE = re.compile(r"^(\s*)none\b", re.IGNORECASE)


class AbcError(ReasonError):
    """A tune that cannot be read as voices and bars (reasons no_tune, no_body; the ABC tokenizer
    adds no_music and unequal_bar_counts)."""


def to_ascii(text: str) -> str:
    """Accents folded (e -> e), tabs to spaces, anything else outside printable ASCII dropped."""
    folded = unicodedata.normalize("NFKD", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))
    return "".join(c for c in folded if c == "\n" or " " <= c <= "~")


def _drop_long_annotations(music: str, limit: int) -> str:
    return re.sub(r'"([^"]*)"', lambda m: "" if len(m.group(1)) > limit else m.group(0), music)


def _key_value(value: str) -> str:
    return _KEY_NONE.sub(lambda m: m.group(1) + "C", value)


# --------------------------------------------------------------------------------------------------
# Bars


def _barline_end(music: str, i: int) -> int:
    """End of the bar line starting at i, or i when there is none: | || |] [| |: :| :: :|: |1 :|2"""
    n = len(music)
    c = music[i]
    nxt = music[i + 1] if i + 1 < n else ""
    if not (c == "|" or (c == ":" and nxt in ("|", ":")) or (c == "[" and nxt == "|")):
        return i
    j = i
    while j < n:
        ch = music[j]
        if ch in ":|" or (ch == "]" and music[j - 1] == "|") or (ch == "[" and j + 1 < n and music[j + 1] == "|"):
            j += 1
        else:
            break
    if music[j - 1] == "|":  # a variant ending (|1, :|2, |1,3) belongs to its bar line
        while j < n and (music[j].isdigit() or (music[j] in ",-" and j + 1 < n and music[j + 1].isdigit())):
            j += 1
    return j


def split_bars(music: str) -> list[str]:
    """A voice's music cut after each bar line; quoted strings, decorations, inline fields and grace
    notes are never cut. A bar line with nothing before it opens the next bar (`|: abc|`)."""
    bars: list[str] = []
    current: list[str] = []
    i, n = 0, len(music)
    while i < n:
        c = music[i]
        skip_to = -1
        if c == '"':
            end = music.find('"', i + 1)
            skip_to = n if end < 0 else end + 1
        elif c in "!+":
            m = _DECORATION.match(music, i)
            if m:
                skip_to = m.end()
        elif c == "{":
            end = music.find("}", i + 1)
            skip_to = n if end < 0 else end + 1
        elif c == "[" and i + 2 < n and music[i + 1].isalpha() and music[i + 2] == ":":
            end = music.find("]", i + 1)
            skip_to = n if end < 0 else end + 1
        if skip_to > 0:
            current.append(music[i:skip_to])
            i = skip_to
            continue
        end = _barline_end(music, i)
        if end > i:
            content = "".join(current).strip()
            if content and not _only_barlines(content):
                bars.append(_SPACES.sub(" ", content) + music[i:end])
                current = []
            else:
                current = [content + music[i:end]]
            i = end
            continue
        current.append(c)
        i += 1
    tail = "".join(current).strip()
    if tail:
        if _only_barlines(tail) and bars:
            bars[-1] += tail
        else:
            bars.append(_SPACES.sub(" ", tail))
    return bars


def _only_barlines(text: str) -> bool:
    return all(c in ":|[] 0123456789,-" for c in text)


# --------------------------------------------------------------------------------------------------
# A tune as header and voices


@dataclass
class VoicedTune:
    """A tune split into its kept header lines (K: last) and the music of each voice."""

    header: list[str] = field(default_factory=list)
    voice_defs: dict[str, str] = field(default_factory=dict)  # id -> the V: line that declares it
    voices: dict[str, list[str]] = field(default_factory=dict)  # id -> music pieces, in order
    multi_voice: bool = False


def parse_tune(text: str, max_annotation: int = 40) -> VoicedTune:
    """Kept header fields and per-voice music of one tune (see the module docstring)."""
    lines = to_ascii(text).split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("X:")), None)
    if start is None:
        raise AbcError("no_tune", "no X: line")
    file_header = lines[:start]
    body = lines[start:]
    end = next((i for i, line in enumerate(body) if not line.strip()), len(body))
    tune = VoicedTune()
    current = DEFAULT_VOICE
    pending: dict[str, list[str]] = {}  # inline fields waiting for a voice's next music
    in_header = True
    for raw in [line for line in file_header if line.strip()] + body[:end]:
        stripped = raw.strip()
        if stripped.startswith("%"):
            if in_header and stripped.startswith(KEEP_DIRECTIVES):
                tune.header.append(stripped)
            continue
        line = without_comment(raw).rstrip()
        if not line.strip():
            continue
        m = _FIELD.match(line)
        if m:
            letter, value = m.group(1), m.group(2).strip()
            if letter == "V":
                voice = value.split()[0] if value.split() else DEFAULT_VOICE
                tune.multi_voice = True
                if voice not in tune.voice_defs:
                    tune.voice_defs[voice] = f"V:{value}"
                current = voice
                continue
            if letter not in KEEP_FIELDS:
                continue
            if letter == "K":
                value = _key_value(value)
            if in_header:
                tune.header.append(f"{letter}:{value}")
                if letter == "K":
                    in_header = False
            else:
                pending.setdefault(current, []).append(f"[{letter}:{value}]")
            continue
        if in_header:
            continue  # music before K: is not music
        music = _drop_long_annotations(line.rstrip().rstrip("\\"), max_annotation)
        # Inline voice switches split a line between voices.
        pos = 0
        for vm in _INLINE_VOICE.finditer(music):
            _add_music(tune, current, music[pos : vm.start()], pending)
            current = vm.group(1)
            tune.multi_voice = True
            if current not in tune.voice_defs:
                tune.voice_defs[current] = f"V:{current}"
            pos = vm.end()
        _add_music(tune, current, music[pos:], pending)
    if in_header:
        raise AbcError("no_body", "tune has no K: field, so no body")
    return tune


def _add_music(tune: VoicedTune, voice: str, music: str, pending: dict[str, list[str]]) -> None:
    if not music.strip():
        return
    prefix = "".join(pending.pop(voice, []))
    tune.voices.setdefault(voice, []).append(prefix + music.strip())


def voice_bars(tune: VoicedTune) -> dict[str, list[str]]:
    """Bars of every voice that has music, in the order voices were declared or first used."""
    order = list(tune.voice_defs) + [v for v in tune.voices if v not in tune.voice_defs]
    return {v: split_bars(" ".join(tune.voices[v])) for v in order if v in tune.voices}


def voice_bar_counts(text: str) -> dict[str, int]:
    """Bars per voice of an ABC tune ({"1": n} without V: fields): the quality filter's
    `abc_voice_bars`. Empty when the tune cannot be read."""
    try:
        return {v: len(bars) for v, bars in voice_bars(parse_tune(text)).items()}
    except AbcError:
        return {}


def unequal_voices_reason(counts: dict[str, int]) -> str | None:
    if len(set(counts.values())) > 1:
        return "voices have unequal bar counts (" + ", ".join(f"{v}={n}" for v, n in counts.items()) + ")"
    return None
