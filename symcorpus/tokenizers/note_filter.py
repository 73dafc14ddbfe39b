"""Notes left out before tokenizing, as a corpus recipe asks (AMD's preprocessing: Amadeus keeps
MIDI pitches 12-119 and skips notes whose length rounds to nothing on its grid; it drops those
notes, it does not reject the piece). Both are off by default: every note is tokenized."""

from __future__ import annotations

import numpy as np
import symusic

from symcorpus.config import TokenizeSettings


def drop_notes(score: symusic.Score, settings: TokenizeSettings) -> int:
    """Remove from `score`, in place, the notes outside `settings.pitch_range` (drums too, as
    Amadeus does) and, with `settings.drop_zero_length`, those shorter than half a grid step (their
    duration would round to zero). Returns how many notes were removed."""
    low, high = settings.pitch_range
    keep_all_pitches = low <= 0 and high >= 127
    if keep_all_pitches and not settings.drop_zero_length:
        return 0
    tpq = max(int(score.ticks_per_quarter), 1)
    removed = 0
    for track in score.tracks:
        if not track.note_num():
            continue
        notes = track.notes.numpy()
        keep = np.ones(len(notes["pitch"]), dtype=bool)
        if not keep_all_pitches:
            keep &= (notes["pitch"] >= low) & (notes["pitch"] <= high)
        if settings.drop_zero_length:
            # 2 * grid * duration < tpq: the duration rounds (half up) to 0 grid steps.
            keep &= notes["duration"].astype(np.int64) * (2 * settings.grid) >= tpq
        if not keep.all():
            removed += int((~keep).sum())
            track.notes = track.notes.from_numpy(*(notes[k][keep] for k in ("time", "duration", "pitch", "velocity")))
    return removed
