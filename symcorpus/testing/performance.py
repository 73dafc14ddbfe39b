"""Re-time a quantized piece the way a human performer would, and write it as performance MIDI.

Performance MIDI (a recorded piano, the Maestro kind) has the notes in seconds on a tick grid that
says nothing: one 120 bpm tempo event, a 4/4 signature, ticks that no longer line up with the beat.
`perform` makes such a file from a real score, so tests and benchmarks know the tempo the notes were
played at and can check what a tempo estimator recovers from them.

What it adds, all from one seeded generator (same seed, same bytes):
  - a performed tempo `tempo_factor` times the written one, drifting slowly around its mean by up to
    `drift` (a few sinusoids of 4-16 bars' period in log tempo);
  - optional rubato: a slowing over the last bar of every 4-bar phrase and over the last 2 bars;
  - onset jitter: a shared offset per chord plus a smaller one per note (chords are not struck as one);
  - shorter or longer articulation, velocity noise and a slow dynamic swell;
  - a silence before the first note.

`performed_tunes` makes a labelled set from ABC tunes whose Q: field names the beat (`Q:3/8=120`:
a dotted-quarter beat at 120), so the true beat rate of each performance is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

from symcorpus.music.abc_text import decode_abc, parse_header, split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.music.notes import TempoMap, note_table

PLACEHOLDER_QPM = 120.0  # the tempo performance MIDI declares whatever was played
STEP_Q = 1 / 24  # resolution of the tempo curve, in quarters
PHRASE_BARS = 4


@dataclass(frozen=True)
class Performance:
    midi: bytes
    # Quarters per minute as played, from the first onset to the last (jitter aside): the truth an
    # estimate is checked against.
    mean_qpm: float


def _drift_curve(q: np.ndarray, bar_q: float, drift: float, rng: np.random.Generator) -> np.ndarray:
    """Slow zero-mean wander of log tempo, at most `drift` in size."""
    curve = np.zeros_like(q)
    for _ in range(3):
        period = rng.uniform(4, 16) * bar_q
        curve += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * q / period + rng.uniform(0, 2 * np.pi))
    peak = np.abs(curve).max() if len(curve) else 0.0
    return curve * (drift / peak) if peak > 0 else curve


def _rubato_curve(q: np.ndarray, end_q: float, bar_q: float, rubato: float) -> np.ndarray:
    """Fractional lengthening of each quarter: a ritardando into every phrase end and the last bars."""
    phrase_q = PHRASE_BARS * bar_q
    into_last_bar = np.clip((q % phrase_q) / bar_q - (PHRASE_BARS - 1), 0, 1)
    into_ending = np.clip((q - (end_q - 2 * bar_q)) / (2 * bar_q), 0, 1)
    return rubato * (into_last_bar**2 + 2 * into_ending**2)


def perform(
    score: symusic.Score,
    seed: int,
    *,
    tempo_factor: float = 1.0,
    drift: float = 0.03,
    jitter_s: float = 0.02,
    velocity_sd: float = 10.0,
    rubato: float = 0.0,
    tpq: int = 480,
) -> Performance:
    """`score` played `tempo_factor` times its written tempo with a human's timing, as a performance
    MIDI file (one 120 bpm tempo event, 4/4, `tpq` ticks per quarter)."""
    rng = np.random.default_rng(seed)
    table = note_table(score)
    if len(table) == 0:
        raise ValueError("a score without notes cannot be performed")
    tempo = TempoMap.of(score)
    signatures = score.time_signatures.numpy()
    if len(signatures["time"]):
        first = int(np.argmin(signatures["time"]))
        bar_q = 4.0 * signatures["numerator"][first] / max(int(signatures["denominator"][first]), 1)
    else:
        bar_q = 4.0

    onset_q = table["onset"] / tempo.tpq
    offset_q = (table["onset"] + np.maximum(table["duration"], 1)) / tempo.tpq
    end_q = float(offset_q.max())
    # Seconds at each point of a fine quarter grid: the written tempo, scaled, drifting, slowing.
    edges = np.arange(0.0, end_q + 2 * STEP_Q, STEP_Q)
    middle = edges[:-1] + STEP_Q / 2
    written_qpm = tempo.qpm[tempo.index_at((middle * tempo.tpq).astype(np.int64))]
    seconds_per_q = 60.0 / (written_qpm * tempo_factor) * np.exp(-_drift_curve(middle, bar_q, drift, rng))
    seconds_per_q *= 1.0 + _rubato_curve(middle, end_q, bar_q, rubato)
    seconds_at = np.concatenate(([0.0], np.cumsum(seconds_per_q * STEP_Q)))

    def seconds(q: np.ndarray) -> np.ndarray:
        return np.interp(q, edges, seconds_at)

    first_q, last_q = float(onset_q.min()), float(onset_q.max())
    span_s = float(seconds(np.array([last_q]))[0] - seconds(np.array([first_q]))[0])
    mean_qpm = (last_q - first_q) / span_s * 60.0 if span_s > 0 else 60.0 / seconds_per_q[0]

    # Notes struck together share most of their timing error.
    _, chord = np.unique(table["onset"], return_inverse=True)
    onset_s = rng.uniform(0.2, 1.5) + seconds(onset_q)
    onset_s += rng.normal(0.0, jitter_s, chord.max() + 1)[chord] + rng.normal(0.0, jitter_s / 4, len(table))
    onset_s = np.maximum(onset_s, 0.0)
    articulation = rng.uniform(0.75, 1.0)
    duration_s = (seconds(offset_q) - seconds(onset_q)) * articulation + rng.normal(0.0, jitter_s / 2, len(table))
    duration_s = np.maximum(duration_s, 0.03)
    swell = 8.0 * np.sin(2 * np.pi * onset_q / (rng.uniform(4, 12) * bar_q) + rng.uniform(0, 2 * np.pi))
    velocity = np.clip(np.rint(table["velocity"] + swell + rng.normal(0.0, velocity_sd, len(table))), 1, 127)

    ticks_per_second = PLACEHOLDER_QPM / 60.0 * tpq
    out = symusic.Score(tpq)
    out.tempos.append(symusic.Tempo(0, PLACEHOLDER_QPM))
    out.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    for index, source in enumerate(score.tracks):
        mine = np.flatnonzero(table["track"] == index)
        if len(mine) == 0:
            continue
        mine = mine[np.argsort(onset_s[mine], kind="stable")]
        track = symusic.Track(source.name, source.program, source.is_drum)
        track.notes = symusic.Note.from_numpy(
            np.rint(onset_s[mine] * ticks_per_second).astype(np.int32),
            np.maximum(np.rint(duration_s[mine] * ticks_per_second), 1).astype(np.int32),
            table["pitch"][mine].astype(np.int8),
            velocity[mine].astype(np.int8),
        )
        out.tracks.append(track)
    return Performance(out.dumps_midi(), float(mean_qpm))


# --------------------------------------------------------------------------------------------------
# Pieces whose real tempo is known: ABC tunes whose Q: field names the beat


_Q_FIELD = re.compile(r"\s*(\d+)/(\d+)\s*=\s*(\d+(?:\.\d+)?)\s*")


def notated_beat(q_field: str) -> tuple[float, float] | None:
    """An ABC tempo field `L/D=N` (e.g. `3/8=120`, a dotted-quarter beat) as (quarters per beat,
    beats per minute); None when it names no beat unit (`Q:120`) or is not of that form."""
    match = _Q_FIELD.fullmatch(q_field)
    if not match:
        return None
    quarters = 4.0 * int(match.group(1)) / max(int(match.group(2)), 1)
    return (quarters, float(match.group(3))) if quarters > 0 else None


@dataclass(frozen=True)
class PerformedTune:
    name: str  # "<collection file>#<tune index>"
    meter: str | None
    original: bytes  # the quantized MIDI, at the notated tempo
    performance: Performance
    beat_quarters: float  # the notated beat, in quarters (1.5: a dotted quarter)
    notated_bpm: float  # the notated beats per minute (the N of Q:L/D=N)

    @property
    def true_bpm(self) -> float:
        """The beat rate as played: the performed quarters per minute over the beat's length."""
        return self.performance.mean_qpm / self.beat_quarters


def performed_tunes(abc_files: list[Path], count: int, seed: int = 0) -> list[PerformedTune]:
    """`count` tunes with a notated beat from `abc_files`, spread evenly over them, each rendered by
    our converter and performed in a style drawn from `seed`: 0.85-1.15 times the notated tempo,
    1-5% drift, 10-30 ms jitter, and rubato of 5-15% on half of them."""
    candidates = []
    for path in abc_files:
        for tune in split_tunes(path.read_bytes()):
            header = parse_header(decode_abc(tune.content))
            beat = notated_beat(header.get("tempo", ""))
            if beat is not None:
                candidates.append((f"{path.name}#{tune.index}", header.get("meter"), tune.content, beat))
    if len(candidates) < count:
        raise ValueError(f"{len(candidates)} tunes with a notated beat, {count} asked for")
    rng = np.random.default_rng(seed)
    out = []
    for name, meter, content, beat in (candidates[i * len(candidates) // count] for i in range(count)):
        original = to_midi(content, "abc")
        style = {
            "tempo_factor": float(rng.uniform(0.85, 1.15)),
            "drift": float(rng.uniform(0.01, 0.05)),
            "jitter_s": float(rng.uniform(0.01, 0.03)),
            "rubato": float(rng.uniform(0.05, 0.15)) if rng.random() < 0.5 else 0.0,
        }
        performance = perform(symusic.Score.from_midi(original), int(rng.integers(2**31)), **style)
        out.append(PerformedTune(name, meter, original, performance, *beat))
    return out
