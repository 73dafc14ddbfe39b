"""Which symbolic-music format a file holds: by extension first, then by its first bytes."""

from __future__ import annotations

import os

MIDI, ABC, MUSICXML, HUMDRUM = "midi", "abc", "musicxml", "humdrum"

EXTENSIONS: dict[str, str] = {
    ".mid": MIDI, ".midi": MIDI, ".kar": MIDI, ".smf": MIDI,
    ".rmi": MIDI,  # RIFF-wrapped MIDI: parse.unwrap_rmid takes out the Standard MIDI File
    ".abc": ABC,
    ".xml": MUSICXML, ".mxl": MUSICXML, ".musicxml": MUSICXML,
    ".krn": HUMDRUM,
}

# How many leading bytes `sniff_format` needs to see.
SNIFF_BYTES = 512


def format_from_name(name: str) -> str | None:
    """Format implied by a file name's extension, or None."""
    return EXTENSIONS.get(os.path.splitext(name)[1].lower())


def sniff_format(head: bytes) -> str | None:
    """Format implied by a file's first bytes, or None when it looks like nothing we read."""
    if head.startswith(b"MThd") or head[:4] == b"RIFF" and head[8:12] == b"RMID":
        return MIDI  # a Standard MIDI File, bare or in a RIFF RMID wrapper ('RIFF' size 'RMID')
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"PK\x03\x04") and b"META-INF" in head:
        return MUSICXML  # compressed MusicXML (.mxl) is a zip with META-INF/container.xml
    if text.startswith(b"<?xml") or text.startswith(b"<!DOCTYPE") or text.startswith(b"<score-"):
        if b"score-partwise" in head or b"score-timewise" in head:
            return MUSICXML
    if text.startswith(b"**kern") or b"\n**kern" in head:
        return HUMDRUM
    for line in text.splitlines()[:20]:
        if line.startswith(b"X:"):
            return ABC
    return None


def detect_format(name: str, head: bytes) -> str | None:
    """Extension wins; a file without a known extension is recognised by content."""
    return format_from_name(name) or sniff_format(head)
