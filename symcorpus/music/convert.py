"""Converters that make MIDI from other formats, and derived copies of a piece.

Tests and benchmarks use these to turn music21's bundled corpus (ABC, MusicXML, Humdrum) into real
MIDI files, and the dedup benchmark to make variants (transposed, tempo-scaled...) of real pieces.
"""

from __future__ import annotations

import symusic

from symcorpus.music.parse import Limits, parse_piece


def to_midi(content: bytes, fmt: str, name: str = "", limits: Limits | None = None) -> bytes:
    """Any format we parse, as Standard MIDI File bytes."""
    piece = parse_piece(content, fmt, limits or Limits(), name=name)
    return piece.rendered_midi if piece.rendered_midi is not None else content


def transpose(midi: bytes, semitones: int) -> bytes:
    """Every pitched note moved by `semitones` (drums untouched), clipped to the MIDI range."""
    score = symusic.Score.from_midi(midi)
    for track in score.tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            note.pitch = min(127, max(0, note.pitch + semitones))
    return score.dumps_midi()


def scale_tempo(midi: bytes, factor: float) -> bytes:
    """Same notes in ticks, every tempo multiplied by `factor` (faster when > 1)."""
    score = symusic.Score.from_midi(midi)
    if len(score.tempos) == 0:
        score.tempos.append(symusic.Tempo(0, 120.0))
    for tempo in score.tempos:
        tempo.qpm = tempo.qpm * factor
    return score.dumps_midi()
