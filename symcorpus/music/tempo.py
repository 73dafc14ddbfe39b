"""The tempo of a piece: declared by its tempo events, or estimated from when its notes sound.

Performance MIDI (a recorded pianist) declares a placeholder tempo, usually MIDI's default 120 bpm,
and its ticks do not follow the beat, so the declared tempo says nothing about the music. For such
pieces `estimate_tempo` finds the beat from the note onsets in seconds, and `tempo_source` decides
which tempo a piece may be described by (see its docstring for the rule).

The estimate is the *tactus*: the beat a listener taps, in beats per minute. It is not the
quarter-note rate: a jig notated 6/8 beats in dotted quarters, a reel in cut time in half notes, and
a performance carries no notation that could say which note value is the beat. How it is found:

1. Onset strength: every note is an impulse at its onset, weighted by its velocity and by a
   duration accent (a long note marks a beat more than a short one), blurred by a Gaussian of 40 ms
   (performers place notes 10-30 ms off the beat) on a 20 ms grid.
2. Periodicity: the autocorrelation of that signal, normalised to 1 at lag 0, summed over the first
   8 multiples of each candidate beat period (weights 1/sqrt(k)). A period the music repeats at,
   and at whose multiples bars and phrases repeat, scores high; lags reach 8 beats, so a tempo that
   drifts by a few percent over the piece still scores at its mean.
3. Octave choice: every period that divides a true beat period evenly (the subdivision) and every
   multiple of it (the bar) score high too. The candidate kept maximises salience times a
   log-normal preference for tapping near 100 bpm (0.7 octave wide), the rate listeners prefer
   (Parncutt 1994; Moelants 2002). Where two metrical levels are equally supported, the one nearer
   100 bpm wins: a slow cut-time air whose notated beat is the half note at 66 is reported at its
   quarter-note rate, 132; a quick 2/4 tune at 150 may come out at the half-note rate, 75. Such an
   estimate is off by an octave (x2 or x0.5) against the notation, and always nearer 100 bpm than
   the notated beat: `octave_nearer_preference` says whether a given pair is of that kind.

`confidence` is the periodicity score itself: the mean normalised autocorrelation at the beat and
its multiples, from 0 (onsets with no regular pulse) to 1 (a metronome). Below `MIN_CONFIDENCE`, or
with fewer than `MIN_ONSETS` distinct onsets or less than `MIN_SPAN_S` of music, there is no
estimate (None). bench/tempo_accuracy.py measures accuracy and speed against library peers.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.fft  # noqa: F401 - numpy loads it on first use, which in an isolated child is every batch
import symusic

from symcorpus.music.notes import TempoMap, note_table

FRAME_RATE = 50.0  # onset-strength frames per second
BLUR_S = 0.04  # sd of each onset's Gaussian: timing noise of a performer
MIN_BPM, MAX_BPM = 30.0, 300.0
BPM_STEP_OCTAVES = 0.005  # candidate tempi 0.35% apart
MULTIPLES = np.arange(1, 9)  # lags scored for a period T: T, 2T, ... 8T
MULTIPLE_WEIGHTS = 1.0 / np.sqrt(MULTIPLES)
PREFERRED_BPM = 100.0  # centre of the tapping preference
PREFERENCE_OCTAVES = 0.7  # its width (sd in octaves)
MIN_ONSETS = 8  # distinct onsets (50 ms apart) needed for an estimate
MIN_SPAN_S = 4.0
MIN_CONFIDENCE = 0.05  # below: no regular pulse (onsets placed at random often score about this much)
ONSET_MERGE_S = 0.05  # onsets closer than this count as one for MIN_ONSETS

CANDIDATE_BPM = MIN_BPM * 2.0 ** np.arange(0.0, math.log2(MAX_BPM / MIN_BPM) + 1e-9, BPM_STEP_OCTAVES)
PREFERENCE = np.exp(-0.5 * (np.log2(CANDIDATE_BPM / PREFERRED_BPM) / PREFERENCE_OCTAVES) ** 2)
# Lag (in frames) of every multiple of every candidate period, computed once, as the frame before
# it and the share of the frame after it (for linear interpolation).
_LAGS = (60.0 / CANDIDATE_BPM)[:, None] * MULTIPLES[None, :] * FRAME_RATE
_LAG_FRAME = _LAGS.astype(np.int64)
_LAG_FRAC = _LAGS - _LAG_FRAME
MAX_LAG = int(_LAG_FRAME.max()) + 1

# Where a piece's tempo comes from.
DECLARED, ESTIMATED, PLACEHOLDER = "declared", "estimated", "placeholder"
TEMPO_SOURCES = (DECLARED, ESTIMATED, PLACEHOLDER)
PLACEHOLDER_QPM = 120.0  # MIDI's default tempo, which recorders and converters write regardless
# Tempo ratios between metrical levels: a declared tempo at one of these to the estimate agrees with it.
METRICAL_RATIOS = (1.0, 2.0, 0.5, 3.0, 1 / 3, 1.5, 2 / 3)
AGREEMENT = 0.04  # relative tolerance for "the same tempo"


@dataclass(frozen=True)
class TempoEstimate:
    bpm: float  # tactus beats per minute
    confidence: float  # periodicity at that beat, 0..1


@dataclass(frozen=True)
class PieceTempo:
    source: str  # one of TEMPO_SOURCES
    bpm: float | None  # None for a placeholder: it says nothing about the music
    confidence: float | None  # the estimate's confidence where one was made


def onset_strength(onset_s: np.ndarray, weight: np.ndarray, frame_rate: float = FRAME_RATE) -> np.ndarray:
    """Weighted onset impulses on a frame grid from the first onset, each split between its two
    neighbouring frames (so no onset moves by rounding). Unblurred: callers blur as they need."""
    position = (onset_s - onset_s.min()) * frame_rate
    frame = position.astype(np.int64)
    frac = position - frame
    size = int(frame.max()) + 2
    return np.bincount(frame, weight * (1.0 - frac), size) + np.bincount(frame + 1, weight * frac, size)


def onset_weights(velocity: np.ndarray | None, duration_s: np.ndarray | None, n: int) -> np.ndarray:
    """Salience of each note: louder and longer notes mark the beat more (log of the duration in
    tenths of a second, capped at 2 s, as accents saturate)."""
    weight = np.ones(n) if velocity is None else np.asarray(velocity, dtype=np.float64) / 100.0
    if duration_s is not None:
        weight = weight * (1.0 + np.log2(1.0 + np.clip(duration_s, 0.0, 2.0) / 0.1))
    return weight


def autocorrelation(signal: np.ndarray, max_lag: int, blur_frames: float) -> np.ndarray:
    """Autocorrelation of the mean-removed, Gaussian-blurred signal for lags 0..max_lag (at most half
    its length), each lag divided by its overlap, normalised to 1 at lag 0."""
    x = signal - signal.mean()
    n = len(x)
    size = 1 << (n + max_lag).bit_length()  # zero padding past max_lag: no wrap-around
    spectrum = np.fft.rfft(x, size)
    power = spectrum.real**2 + spectrum.imag**2
    power *= _blur(size, blur_frames)
    lags = min(max_lag, n // 2)
    r = np.fft.irfft(power, size)[: lags + 1]
    r /= n - np.arange(lags + 1)
    return r / r[0] if r[0] > 0 else r


@functools.lru_cache(maxsize=16)
def _blur(size: int, blur_frames: float) -> np.ndarray:
    """The spectrum's Gaussian factor for an FFT of `size` frames: both copies of the signal blurred,
    a Gaussian of sd * sqrt(2). Sizes are powers of two, so a few serve every piece."""
    freq = np.arange(size // 2 + 1) / size  # cycles per frame
    factor = np.exp(-((2 * np.pi * freq * blur_frames) ** 2))
    factor.flags.writeable = False  # shared between calls
    return factor


def beat_salience(r: np.ndarray) -> np.ndarray:
    """Per candidate tempo, the weighted mean of the autocorrelation at the period's multiples
    (lags past the end of `r` count as 0: no evidence)."""
    padded = np.zeros(MAX_LAG + 2)
    padded[: min(len(r), MAX_LAG + 2)] = r[: MAX_LAG + 2]
    values = padded[_LAG_FRAME] * (1.0 - _LAG_FRAC) + padded[_LAG_FRAME + 1] * _LAG_FRAC
    return values @ MULTIPLE_WEIGHTS / MULTIPLE_WEIGHTS.sum()


def estimate_tempo(
    onset_s: np.ndarray,
    velocity: np.ndarray | None = None,
    duration_s: np.ndarray | None = None,
) -> TempoEstimate | None:
    """The tactus of notes sounding at `onset_s` (seconds, any order), or None when they show no
    regular pulse. `velocity` and `duration_s`, per note, sharpen the choice of metrical level."""
    onset_s = np.asarray(onset_s, dtype=np.float64)
    if len(onset_s) < MIN_ONSETS:
        return None
    distinct = np.unique(np.floor(onset_s / ONSET_MERGE_S))
    if len(distinct) < MIN_ONSETS or onset_s.max() - onset_s.min() < MIN_SPAN_S:
        return None
    signal = onset_strength(onset_s, onset_weights(velocity, duration_s, len(onset_s)))
    salience = np.maximum(beat_salience(autocorrelation(signal, MAX_LAG, BLUR_S * FRAME_RATE)), 0.0)
    best = int(np.argmax(salience * PREFERENCE))
    confidence = float(salience[best])
    if confidence < MIN_CONFIDENCE:
        return None
    # Sub-step refinement: the vertex of a parabola through the peak and its neighbours.
    bpm = float(CANDIDATE_BPM[best])
    if 0 < best < len(salience) - 1:
        a, b, c = salience[best - 1 : best + 2]
        curvature = a - 2 * b + c
        if curvature < 0:
            bpm *= 2.0 ** (BPM_STEP_OCTAVES * 0.5 * (a - c) / curvature)
    return TempoEstimate(round(float(bpm), 2), round(min(confidence, 1.0), 4))


def score_onsets(score: symusic.Score, table: np.ndarray | None = None,
                 tempo: TempoMap | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onsets and durations in seconds (through the score's tempo map, `tempo` when the caller has
    it) and velocities of every note."""
    table = note_table(score) if table is None else table
    tempo = TempoMap.of(score) if tempo is None else tempo
    onset_s = tempo.seconds(table["onset"])
    duration_s = tempo.seconds(table["onset"] + np.maximum(table["duration"], 0)) - onset_s
    return onset_s, duration_s, table["velocity"]


def estimate_score_tempo(score: symusic.Score, table: np.ndarray | None = None,
                         tempo: TempoMap | None = None) -> TempoEstimate | None:
    """`estimate_tempo` of a score's notes (drums included: they carry the beat)."""
    onset_s, duration_s, velocity = score_onsets(score, table, tempo)
    return estimate_tempo(onset_s, velocity, duration_s)


def octave_nearer_preference(estimate_bpm: float, true_bpm: float, tolerance: float = AGREEMENT) -> bool:
    """Whether an estimate is the documented octave choice: twice or half the true beat rate (within
    `tolerance`) and nearer the preferred tempo than the true rate is."""
    for factor in (2.0, 0.5):
        if abs(estimate_bpm / (true_bpm * factor) - 1.0) <= tolerance:
            return abs(math.log2(estimate_bpm / PREFERRED_BPM)) < abs(math.log2(true_bpm / PREFERRED_BPM))
    return False


def is_placeholder_tempo(declared_qpm: float | None) -> bool:
    """No tempo event, or exactly MIDI's default 120 bpm: what a file says when nobody set a tempo."""
    return declared_qpm is None or abs(declared_qpm - PLACEHOLDER_QPM) < 1e-3


def agrees(declared_qpm: float, estimate_bpm: float) -> bool:
    """Whether a declared tempo is the estimate's at some metrical level (x1, x2, x3, x1.5 ...)."""
    return any(abs(declared_qpm / (estimate_bpm * ratio) - 1.0) <= AGREEMENT for ratio in METRICAL_RATIOS)


def tempo_source(declared_qpm: float | None, timing: str | None, estimate: TempoEstimate | None) -> PieceTempo:
    """Which tempo describes a piece, and from where.

    `declared_qpm` is the tempo event in force at the first note (None: the file has no tempo
    event); `timing` is the features' "quantized" or "expressive"; `estimate` is
    `estimate_tempo`'s result for the notes (None: no pulse found, or not estimated).

    The rule:
      - quantized timing (onsets on a metrical grid of ticks): the ticks are the notation, so the
        declared tempo is the music's -> `declared`, its bpm in quarter notes. A file with no tempo
        event (or an ABC tune without Q:, a score without a metronome mark) is `placeholder`: every
        player would play it at MIDI's default 120, but nobody chose that tempo, and MidiCaps too
        states only a tempo event the file has. Its seconds follow from that default, so no
        estimate is made either.
      - expressive timing (onsets off any grid: a recorded performance), with an estimate:
        `estimated`, the tactus bpm, unless the file declares a tempo other than the 120
        placeholder that the estimate confirms at some metrical level (a performance recorded to a
        click): then `declared`.
      - expressive timing without an estimate: `declared` when the file sets a tempo other than
        120 (someone chose it); otherwise `placeholder`, with no bpm: 120 or no tempo event on a
        performance says nothing about the music.
      - no timing (no notes): `declared` for a tempo event other than 120, else `placeholder`.
    """
    if timing == "quantized":
        if declared_qpm is None:
            return PieceTempo(PLACEHOLDER, None, None)
        return PieceTempo(DECLARED, float(declared_qpm), None)
    set_by_someone = not is_placeholder_tempo(declared_qpm)
    if timing == "expressive" and estimate is not None:
        if set_by_someone and agrees(float(declared_qpm), estimate.bpm):
            return PieceTempo(DECLARED, float(declared_qpm), estimate.confidence)
        return PieceTempo(ESTIMATED, estimate.bpm, estimate.confidence)
    if set_by_someone:
        return PieceTempo(DECLARED, float(declared_qpm), None)
    return PieceTempo(PLACEHOLDER, None, None)


def declared_tempo(score: symusic.Score, table: np.ndarray | None = None,
                   tempo: TempoMap | None = None) -> float | None:
    """The tempo event in force at the first note, or None when the score has no tempo event."""
    if len(score.tempos) == 0:
        return None
    table = note_table(score) if table is None else table
    tempo = TempoMap.of(score) if tempo is None else tempo
    first = int(table["onset"][0]) if len(table) else 0
    return float(tempo.qpm[tempo.index_at(first)])


def piece_tempo(score: symusic.Score, table: np.ndarray, timing: str | None, declared: bool = True,
                tempo: TempoMap | None = None) -> PieceTempo:
    """`tempo_source` for a score: `table` is its note_table, `timing` its features' timing, `tempo`
    its TempoMap when the caller has it. `declared=False`: the score's tempo events are a renderer's
    default, not the file's (an ABC tune without Q:, a MusicXML score without a metronome mark). The
    estimate is made only where the rule uses it (expressive timing)."""
    estimate = estimate_score_tempo(score, table, tempo) if timing == "expressive" else None
    return tempo_source(declared_tempo(score, table, tempo) if declared else None, timing, estimate)


def tempo_features(tempo: PieceTempo) -> dict[str, Any]:
    """The features' tempo fields: `tempo_source`, `tempo_used_bpm` (what labels and captions
    state: a declared quarter-note tempo or an estimated beat, null for a placeholder) and
    `tempo_confidence` (the estimate's, where one was made)."""
    return {"tempo_source": tempo.source,
            "tempo_used_bpm": None if tempo.bpm is None else round(float(tempo.bpm), 2),
            "tempo_confidence": tempo.confidence}
