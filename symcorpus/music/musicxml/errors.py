"""What the MusicXML reader raises: it declines a score, or the input is not MusicXML."""

from __future__ import annotations


class UnsupportedMusicXML(Exception):
    """A score this reader does not reproduce faithfully; `reason` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class MalformedMusicXML(ValueError):
    """Input that is not MusicXML at all: bad XML, a broken .mxl archive, the wrong root element."""
