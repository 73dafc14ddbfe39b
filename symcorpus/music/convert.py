"""Any format we parse, as MIDI: tests and benchmarks turn music21's bundled corpus (ABC, MusicXML,
Humdrum) into real MIDI files with it, and `generate` renders sampled ABC."""

from __future__ import annotations

from symcorpus.music.parse import Limits, parse_piece


def to_midi(content: bytes, fmt: str, name: str = "", limits: Limits | None = None) -> bytes:
    """Any format we parse, as Standard MIDI File bytes."""
    piece = parse_piece(content, fmt, limits or Limits(), name=name)
    return piece.rendered_midi if piece.rendered_midi is not None else content
