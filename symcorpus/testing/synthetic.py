"""Multi-track MIDI pieces of Lakh MIDI's size and shape, made from a seed: the scale benchmark's
corpus (bench/make_corpus.py), where real corpora of that size cannot be shipped.

A piece is a song: a key, a chord progression per section, 2-4 sections arranged in a form with
repeats (so bars recur, as in pop and rock transcriptions), and 1-10 tracks in roles (melody, bass,
chords, arpeggio, pad, counter-melody, drums), each with a rhythm bank and a General MIDI program.
Sizes follow Lakh's: ~3,500 notes and ~27 KB on average, a long tail both ways; resolutions from 96
to 960 ticks per quarter; tempo changes and ritardandos; a few time-signature changes; some pieces
played (onsets jittered, velocities and lengths varied) instead of quantized.

`planted(...)` makes a duplicate of a piece of each kind the deduplication must catch: byte copies,
the same notes re-encoded (symcorpus.testing.variants' same-notes kinds) and near copies (notes
dropped or added, trimmed, an intro). Everything is deterministic given the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import symusic

from symcorpus.testing.variants import MUST_MATCH

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
RESOLUTIONS = ([96, 120, 192, 220, 240, 384, 480, 960], [0.10, 0.08, 0.08, 0.03, 0.06, 0.15, 0.45, 0.05])
METERS = ([(4, 4), (3, 4), (6, 8), (2, 4), (12, 8), (2, 2)], [0.72, 0.1, 0.07, 0.05, 0.03, 0.03])
# Roles after the first (melody); drums join with DRUMS_SHARE.
ROLES = ["bass", "chords", "arpeggio", "pad", "counter", "chords", "melody", "arpeggio", "pad"]
PROGRAMS = {
    "melody": [0, 4, 24, 25, 26, 29, 30, 40, 56, 61, 65, 66, 71, 73, 80, 81],
    "counter": [0, 11, 22, 40, 41, 42, 57, 60, 68, 70, 71, 74],
    "bass": [32, 33, 34, 35, 36, 38, 39, 43],
    "chords": [0, 1, 2, 4, 5, 16, 18, 24, 25, 27, 28, 46],
    "arpeggio": [0, 4, 6, 8, 11, 24, 46, 88, 98],
    "pad": [48, 49, 50, 52, 61, 88, 89, 90, 91, 94, 95],
}
DRUMS_SHARE = 0.7
PLAYED_SHARE = 0.15  # pieces played rather than quantized
MAX_SECONDS = 600  # Lakh: ~4 minutes on average, a few pieces run to 10 and more

# Kinds of planted duplicates and the dedup level that must catch each (dedup.transpose_invariant:
# a transposed copy has the same notes).
SAME_NOTES = ("transposed", "tempo_scaled", "reticked", "instruments_changed", "tracks_split", "tracks_merged",
              "velocities_humanized")
NEAR = ("notes_dropped_5pct", "notes_added_5pct", "trimmed_10pct", "intro_added")
PLANTED_KINDS = {"exact_copy": "exact", **{k: "notes" for k in SAME_NOTES}, **{k: "near" for k in NEAR}}


@dataclass
class _Part:
    """One track's notes in quarters, before the song is laid out."""

    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray


def _chord(scale: np.ndarray, tonic: int, degree: int, size: int = 3) -> np.ndarray:
    """Pitch classes (plus octave offsets) of the chord on `degree` of the scale: stacked thirds."""
    steps = degree + 2 * np.arange(size)
    return tonic + scale[steps % 7] + 12 * (steps // 7)


def _rhythm(rng: np.random.Generator, bar_q: float, grid_q: float, hits: int, strong: bool) -> np.ndarray:
    """Sorted onsets (quarters) of one bar on a grid, `hits` of them; `strong`: the downbeat is one."""
    cells = max(int(round(bar_q / grid_q)), 1)
    hits = int(np.clip(hits, 1, cells))
    chosen = rng.choice(cells, size=hits, replace=False)
    if strong and 0 not in chosen:
        chosen[0] = 0
    return np.unique(chosen) * grid_q


def _until_next(onsets: np.ndarray, bar_q: float, legato: float) -> np.ndarray:
    return np.maximum(np.diff(np.append(onsets, bar_q)) * legato, 1 / 16)


def _section_part(rng: np.random.Generator, role: str, chords: list[np.ndarray], bar_q: float,
                  scale: np.ndarray, tonic: int, density: float) -> _Part:
    """The notes of one track over one pass of a section (one chord per bar), in section time."""
    onsets, durations, pitches, velocities = [], [], [], []
    grid = 0.5 if role in ("bass", "chords", "pad") else (0.25 if rng.random() < 0.6 else 1 / 3)
    bank = [_rhythm(rng, bar_q, grid, int(rng.integers(2, 9) * density), strong=True) for _ in range(2)]
    melody_state = int(rng.integers(0, 7)) + 7 * 5  # scale step, octave 5
    for bar, chord in enumerate(chords):
        start = bar * bar_q
        rhythm = bank[bar % 2]
        if role == "bass":
            pitch = (chord[0] % 12) + 36 + np.where(rng.random(len(rhythm)) < 0.25, 7, 0)
            o, d, p = rhythm, _until_next(rhythm, bar_q, 0.9), pitch
        elif role in ("chords", "pad"):
            hits = rhythm[:2] if role == "chords" else np.array([0.0])
            voicing = 48 + (chord % 12) + (12 if role == "pad" else 0)
            legato = 0.95 if role == "pad" else 0.8
            o = np.repeat(hits, len(voicing))
            d = np.repeat(_until_next(hits, bar_q, legato), len(voicing))
            p = np.tile(voicing, len(hits))
        elif role == "arpeggio":
            step = 0.5 if density < 1.2 else 0.25
            o = np.arange(0, bar_q - 1e-9, step)
            tones = np.concatenate([chord, chord + 12]) % 12 + 60
            p = tones[np.arange(len(o)) % len(tones)]
            d = np.full(len(o), step * 0.9)
        else:  # melody, counter: a walk over the scale, landing on chord tones on the downbeat
            moves = rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3, 4], size=len(rhythm))
            steps = melody_state + np.cumsum(moves)
            steps = np.clip(steps, 7 * 4, 7 * 6 + 4)
            melody_state = int(steps[-1])
            p = tonic + scale[steps % 7] + 12 * (steps // 7) - (12 if role == "counter" else 0)
            p[0] = (chord[0] % 12) + 12 * (p[0] // 12)
            o, d = rhythm, _until_next(rhythm, bar_q, float(rng.uniform(0.6, 1.0)))
        base = 70 + int(rng.integers(-15, 25))
        onsets.append(start + o)
        durations.append(d)
        pitches.append(p)
        velocities.append(np.clip(base + rng.integers(-8, 9, size=len(o)), 1, 127))
    return _Part(np.concatenate(onsets), np.concatenate(durations), np.concatenate(pitches).astype(np.int64),
                 np.concatenate(velocities).astype(np.int64))


def _drum_part(rng: np.random.Generator, n_bars: int, bar_q: float, beat_q: float) -> _Part:
    """Kick, snare, hats and a crash at the section's start, one pattern per section."""
    eighths = np.arange(0, bar_q - 1e-9, 0.5 if rng.random() < 0.7 else 0.25)
    beats = np.arange(0, bar_q - 1e-9, beat_q)
    kick = beats[::2] if len(beats) > 1 else beats
    kick = np.union1d(kick, rng.choice(eighths, size=min(2, len(eighths)), replace=False))
    snare = beats[1::2]
    bar_o = np.concatenate([kick, snare, eighths])
    bar_p = np.concatenate([np.full(len(kick), 36), np.full(len(snare), 38), np.full(len(eighths), 42)])
    bar_v = np.concatenate([np.full(len(kick), 100), np.full(len(snare), 96), np.full(len(eighths), 70)])
    o = (bar_o[None, :] + bar_q * np.arange(n_bars)[:, None]).ravel()
    p, v = np.tile(bar_p, n_bars), np.tile(bar_v, n_bars)
    o, p, v = np.append(o, 0.0), np.append(p, 49), np.append(v, 110)
    v = np.clip(v + rng.integers(-10, 11, size=len(v)), 1, 127)
    return _Part(o, np.full(len(o), 0.25), p.astype(np.int64), v.astype(np.int64))


def piece(seed: int | tuple[int, ...]) -> bytes:
    """One multi-track song as Standard MIDI File bytes; the same seed gives the same bytes."""
    rng = np.random.default_rng(seed)
    tpq = int(rng.choice(RESOLUTIONS[0], p=RESOLUTIONS[1]))
    meter = METERS[0][rng.choice(len(METERS[0]), p=METERS[1])]
    bar_q = 4 * meter[0] / meter[1]
    beat_q = 1.5 if meter[1] == 8 and meter[0] % 3 == 0 else 4 / meter[1]
    tonic, scale = int(rng.integers(0, 12)), (MAJOR if rng.random() < 0.7 else MINOR)
    n_tracks = int(np.clip(rng.geometric(0.2), 1, 10))
    drums = n_tracks >= 2 and rng.random() < DRUMS_SHARE
    roles = (["melody"] + list(rng.permutation(ROLES)))[: n_tracks - drums]
    density = float(rng.uniform(0.6, 1.6))
    target_notes = int(np.clip(rng.lognormal(np.log(3300), 0.55), 300, 25_000))

    # Sections: bars, progression, another meter now and then; each track's notes per pass.
    sections = []
    for _ in range(int(rng.integers(2, 5))):
        s_meter = meter if rng.random() > 0.08 else METERS[0][int(rng.integers(0, len(METERS[0])))]
        s_bar_q = 4 * s_meter[0] / s_meter[1]
        n_bars = int(rng.choice([4, 8, 8, 16]))
        degrees = np.concatenate([[0], rng.choice([0, 1, 2, 3, 4, 5, 6], size=n_bars - 1, p=[.1, .08, .07, .25, .25, .2, .05])])
        chords = [_chord(scale, tonic, int(d), 4 if rng.random() < 0.2 else 3) for d in degrees]
        parts = [_section_part(rng, role, chords, s_bar_q, scale, tonic, density) for role in roles]
        if drums:
            parts.append(_drum_part(rng, n_bars, s_bar_q, beat_q))
        sections.append((s_meter, s_bar_q * n_bars, parts))
    per_pass = np.array([sum(len(p.onset) for p in parts) for _, _, parts in sections])

    # The form: sections in an order with repeats, until the piece holds its notes or lasts
    # MAX_SECONDS at its first tempo (a sparse arrangement makes a shorter piece, not an endless one).
    qpm = float(np.round(rng.uniform(60, 180), 2))
    max_quarters = MAX_SECONDS * qpm / 60
    form, total, quarters = [0], per_pass[0], sections[0][1]
    while total < target_notes and quarters + sections[form[-1]][1] <= max_quarters:
        nxt = form[-1] if rng.random() < 0.3 else int(rng.integers(0, len(sections)))
        form.append(nxt)
        total += per_pass[nxt]
        quarters += sections[nxt][1]

    score = symusic.Score(tpq)
    tracks = [[] for _ in range(len(roles) + drums)]
    score.tempos.append(symusic.Tempo(0, qpm))
    if rng.random() < 0.3:
        key = int((tonic * 7 + 6) % 12 - 6) if scale is MAJOR else int(((tonic + 3) * 7 + 6) % 12 - 6)
        score.key_signatures.append(symusic.KeySignature(0, key, 0 if scale is MAJOR else 1))
    at, current_meter = 0.0, None
    for index in form:
        s_meter, length_q, parts = sections[index]
        tick = int(round(at * tpq))
        if s_meter != current_meter:
            score.time_signatures.append(symusic.TimeSignature(tick, *s_meter))
            current_meter = s_meter
        if at > 0 and rng.random() < 0.15:
            qpm = float(np.round(qpm * rng.uniform(0.85, 1.15), 2))
            score.tempos.append(symusic.Tempo(tick, qpm))
        for t, part in enumerate(parts):
            vary = rng.random(len(part.pitch)) < (0.04 if roles[min(t, len(roles) - 1)] == "melody" else 0.0)
            pitch = part.pitch + vary * rng.choice([-2, -1, 1, 2], size=len(part.pitch))
            tracks[t].append((part.onset + at, part.duration, pitch, part.velocity))
        at += length_q
    if rng.random() < 0.1:  # a ritardando over the last 4 beats, one tempo event per eighth
        for i in range(8):
            tick = int(round((at - 4 + i * 0.5) * tpq))
            score.tempos.append(symusic.Tempo(max(tick, 0), float(np.round(qpm * (1 - 0.04 * (i + 1)), 2))))

    played = rng.random() < PLAYED_SHARE
    names = roles + (["drums"] if drums else [])
    for t, chunks in enumerate(tracks):
        onset, duration, pitch, velocity = (np.concatenate(c) for c in zip(*chunks))
        if played:
            onset = onset + rng.normal(0, 0.02, size=len(onset))
            duration = duration * rng.uniform(0.7, 1.0, size=len(onset))
            velocity = velocity + rng.integers(-12, 13, size=len(onset))
        ticks = np.maximum(np.rint(onset * tpq), 0).astype(np.int32)
        lengths = np.maximum(np.rint(duration * tpq), 1).astype(np.int32)
        order = np.lexsort((pitch, ticks))
        is_drum = names[t] == "drums"
        program = 0 if is_drum else int(rng.choice(PROGRAMS[names[t]]))
        track = symusic.Track(names[t].title() if rng.random() < 0.6 else "", program, is_drum)
        track.notes = symusic.Note.from_numpy(ticks[order], lengths[order],
                                              np.clip(pitch[order], 0, 127).astype(np.int8),
                                              np.clip(velocity[order], 1, 127).astype(np.int8))
        score.tracks.append(track)
    return score.dumps_midi()


def planted(original: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """A duplicate of `original` of one of PLANTED_KINDS."""
    if kind == "exact_copy":
        return original
    return MUST_MATCH[kind](original, rng)
