"""Variants of a real piece, as a data team meets them in the wild: the same music re-encoded,
re-orchestrated, edited or excerpted. The dedup benchmark and tests make families of these.

Every function takes and returns Standard MIDI File bytes and is deterministic given its `rng`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import symusic


def _score(midi: bytes) -> symusic.Score:
    return symusic.Score.from_midi(midi)


def transpose(midi: bytes, semitones: int) -> bytes:
    """Every pitched note moved by `semitones` (drums untouched), clipped to the MIDI range."""
    score = _score(midi)
    for track in score.tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            note.pitch = min(127, max(0, note.pitch + semitones))
    return score.dumps_midi()


def scale_tempo(midi: bytes, factor: float) -> bytes:
    """Same notes in ticks, every tempo multiplied by `factor` (faster when > 1)."""
    score = _score(midi)
    if len(score.tempos) == 0:
        score.tempos.append(symusic.Tempo(0, 120.0))
    for tempo in score.tempos:
        tempo.qpm = tempo.qpm * factor
    return score.dumps_midi()


def _pitched_tracks(score: symusic.Score) -> list:
    return [t for t in score.tracks if not t.is_drum and len(t.notes)]


def _keep_notes(track, keep: Callable) -> None:
    """Keep only the notes of `track` for which keep(note) is true."""
    kept = [n for n in track.notes if keep(n)]
    track.notes.clear()
    for n in kept:
        track.notes.append(n)


def retick(midi: bytes, tpq: int) -> bytes:
    """Re-encoded at another ticks-per-quarter resolution."""
    return _score(midi).resample(tpq, min_dur=1).dumps_midi()


def change_instruments(midi: bytes, rng: np.random.Generator) -> bytes:
    score = _score(midi)
    for track in _pitched_tracks(score):
        track.program = int(rng.integers(0, 128))
    return score.dumps_midi()


def split_tracks(midi: bytes) -> bytes:
    """Each pitched track split in two at its median pitch (as a piano part into two hands)."""
    score = _score(midi)
    for track in list(_pitched_tracks(score)):
        pitches = np.array([n.pitch for n in track.notes])
        cut = np.median(pitches)
        low = symusic.Track(name=f"{track.name} low", program=track.program, is_drum=False)
        for n in track.notes:
            if n.pitch < cut:
                low.notes.append(n.copy())
        _keep_notes(track, lambda n: n.pitch >= cut)
        if len(low.notes):
            score.tracks.append(low)
    return score.dumps_midi()


def merge_tracks(midi: bytes) -> bytes:
    """All pitched tracks merged into one (programs lost, as in a piano reduction)."""
    score = _score(midi)
    merged = symusic.Track(name="merged", program=0, is_drum=False)
    for track in _pitched_tracks(score):
        for n in track.notes:
            merged.notes.append(n.copy())
    merged.notes.sort()
    score.tracks = [t for t in score.tracks if t.is_drum] + [merged]
    return score.dumps_midi()


def drop_notes(midi: bytes, rng: np.random.Generator, fraction: float = 0.05) -> bytes:
    score = _score(midi)
    for track in _pitched_tracks(score):
        _keep_notes(track, lambda n: rng.random() >= fraction)
    return score.dumps_midi()


def add_notes(midi: bytes, rng: np.random.Generator, fraction: float = 0.05) -> bytes:
    """Extra notes near existing ones: a neighbouring pitch, at an existing onset."""
    score = _score(midi)
    for track in _pitched_tracks(score):
        notes = list(track.notes)
        for _ in range(max(1, int(len(notes) * fraction))):
            base = notes[int(rng.integers(0, len(notes)))]
            pitch = int(np.clip(base.pitch + rng.choice([-2, -1, 1, 2, 3, 4]), 0, 127))
            track.notes.append(symusic.Note(base.time, base.duration, pitch, base.velocity))
        track.notes.sort()
    return score.dumps_midi()


def humanize_velocities(midi: bytes, rng: np.random.Generator) -> bytes:
    score = _score(midi)
    for track in score.tracks:
        for n in track.notes:
            n.velocity = int(np.clip(n.velocity + rng.normal(0, 12), 1, 127))
    return score.dumps_midi()


def trim(midi: bytes, fraction: float = 0.1, at_end: bool = True) -> bytes:
    """The last (or first) `fraction` of the piece's length cut away."""
    score = _score(midi)
    end = score.end()
    cut = end * (1 - fraction) if at_end else end * fraction
    for track in score.tracks:
        _keep_notes(track, lambda n: n.time < cut if at_end else n.time >= cut)
    return score.dumps_midi()


def add_intro(midi: bytes, rng: np.random.Generator, quarters: int = 8) -> bytes:
    """`quarters` of new material (a rising figure on the tonic area) before the piece starts."""
    score = _score(midi)
    shift = quarters * score.tpq
    score = score.shift_time(shift)
    tracks = _pitched_tracks(score)
    if tracks:
        first = min(tracks[0].notes, key=lambda n: n.time)
        for i in range(quarters * 2):
            pitch = int(np.clip(first.pitch + [0, 4, 7, 12, 7, 4][i % 6] + int(rng.integers(-1, 2)), 0, 127))
            tracks[0].notes.append(symusic.Note(i * score.tpq // 2, score.tpq // 2, pitch, 70))
        tracks[0].notes.sort()
    # Tempo and meta events moved with the notes; the intro plays at the piece's first tempo.
    return score.dumps_midi()


# Variants that must be found as duplicates of their original, by name.
MUST_MATCH: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "transposed": lambda m, rng: transpose(m, int(rng.choice([-5, -3, -2, 2, 3, 4, 7]))),
    "tempo_scaled": lambda m, rng: scale_tempo(m, float(rng.choice([0.8, 0.9, 1.15, 1.3]))),
    "reticked": lambda m, rng: retick(m, int(rng.choice([96, 192, 384, 960]))),
    "instruments_changed": change_instruments,
    "tracks_split": lambda m, rng: split_tracks(m),
    "tracks_merged": lambda m, rng: merge_tracks(split_tracks(m)),
    "notes_dropped_5pct": drop_notes,
    "notes_added_5pct": add_notes,
    "velocities_humanized": humanize_velocities,
    "trimmed_10pct": lambda m, rng: trim(m, 0.1, at_end=bool(rng.integers(0, 2))),
    "intro_added": add_intro,
}
