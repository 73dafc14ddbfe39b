"""ABC files as text: split a file into tunes, and read a tune's header fields.

The notes of a tune are rendered by abc2midi (see `parse.py`); this module only deals with the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Header fields we keep, by ABC letter, with the column name each gets.
HEADER_FIELDS: dict[str, str] = {
    "T": "title",
    "C": "composer",
    "O": "origin",
    "R": "rhythm",
    "M": "meter",
    "L": "unit_length",
    "Q": "tempo",
    "K": "key",
    "Z": "transcription",
    "S": "source",
    "N": "notes",
}

_TUNE_START = re.compile(rb"^X:", re.MULTILINE)
_FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")
_COMMENT = re.compile(r"(?<!\\)%")  # `%` starts a comment unless escaped as `\%`


@dataclass(frozen=True)
class AbcTune:
    """One tune of an ABC file: its 1-based position in the file and its bytes.

    `content` is the file-level header (the lines before the first `X:`) followed by the tune, so
    each tune stands alone with the defaults it inherits.
    """

    index: int
    content: bytes


def decode_abc(data: bytes) -> str:
    """ABC in the wild is UTF-8 or Latin-1; Latin-1 never fails, so it is the fallback."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_tunes(data: bytes) -> list[AbcTune]:
    """Split an ABC file into its tunes; a file without any `X:` line is returned whole."""
    starts = [m.start() for m in _TUNE_START.finditer(data)]
    if not starts:
        return [AbcTune(1, data)]
    header = data[: starts[0]]
    if header.strip():
        header = header if header.endswith(b"\n") else header + b"\n"
    else:
        header = b""
    ends = starts[1:] + [len(data)]
    return [AbcTune(i + 1, header + data[s:e]) for i, (s, e) in enumerate(zip(starts, ends))]


def without_comment(text: str) -> str:
    """The text before its `%` comment (`\\%` is a literal percent sign), unstripped."""
    m = _COMMENT.search(text)
    return text[: m.start()] if m else text


def parse_header(text: str) -> dict[str, str]:
    """Header fields of one tune (file header included), up to and including its first `K:` line.

    Repeated fields (several `T:` or `C:` lines) are joined with "; ". Keys are the column names of
    HEADER_FIELDS; fields that are absent are absent from the result.
    """
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = _FIELD_LINE.match(line)
        if not m:
            continue
        letter, value = m.group(1), without_comment(m.group(2)).strip()
        name = HEADER_FIELDS.get(letter)
        if name and value:
            values.setdefault(name, []).append(value)
        if letter == "K":
            break
    return {name: "; ".join(vs) for name, vs in values.items()}
