"""What labelling reads of one piece: the input every label module takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class LabelInput:
    """What labelling reads of one piece. Every field may be None or empty."""

    source: str | None = None
    path: str | None = None
    format: str | None = None
    title: str | None = None
    composer: str | None = None  # raw: ABC C: or the score's composer metadata
    origin: str | None = None  # ABC O:
    rhythm: str | None = None  # ABC R:
    part_names: list[str] = field(default_factory=list)  # score parts with notes; not read for MIDI
    instruments: list[str] = field(default_factory=list)  # General MIDI names, drums excluded
    instrument_families: list[str] = field(default_factory=list)
    has_drums: bool | None = None
    n_tracks: int | None = None
    tempo_bpm: float | None = None  # declared, or estimated for a performance; None for a placeholder
    duration_seconds: float | None = None
    time_signature: str | None = None
    # What the piece's source states (the `source_labels` column): period, composer, instrumentation,
    # genre, mood, each a string or None (labels/stated.py reads them).
    source_labels: Mapping[str, str | None] = field(default_factory=dict)
