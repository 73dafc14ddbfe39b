"""Chord recognition from notes by template matching, vectorised over windows (bars or beats).

Each window gets a duration-weighted pitch-class histogram (the part of each note that overlaps the
window), with the window's lowest note weighted up since the bass usually carries the root. Every
window is then scored against all 120 chord templates (12 roots x 10 qualities) in one matrix
product: weight on chord tones, minus weight off them, minus a penalty per chord tone not sounding,
plus a bonus when the bass is the root (which is what tells Csus4 from Fsus2, or picks one root of an
augmented triad). A window with too few pitch classes, or whose best chord explains too little of
it, is "N".
"""

from __future__ import annotations

import numpy as np

from symcorpus.music import compiled_loops
from symcorpus.music.keys import PITCH_NAMES  # the one spelling table: C C# D Eb E F F# G Ab A Bb B
from symcorpus.music.notes import pitched_notes

# Quality suffix -> intervals above the root. Order breaks ties: simpler chords first.
QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "m": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "dim": (0, 3, 6),
    "m7b5": (0, 3, 6, 10),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
}
NO_CHORD = "N"

# Chord k = quality (k // 12) on root (k % 12).
CHORD_NAMES: tuple[str, ...] = tuple(PITCH_NAMES[r] + q for q in QUALITIES for r in range(12))

BASS_WEIGHT = 0.5  # the bass note counts 1.5 times its sounding time
PRESENT_SHARE = 0.05  # a pitch class under this share of a window is not "sounding" (for misses)
MISS_PENALTY = 0.25  # per chord tone not sounding
ROOT_BONUS = 0.1  # when the window's bass is the chord's root
SEVENTH_COST = 0.2  # a four-note chord must earn its extra tone (over ~10% of the weight)
TIE_BREAK = 1e-3  # per rank in QUALITIES: prefers a triad over a seventh that scores the same
MIN_PITCH_CLASSES = 2  # fewer sounding pitch classes name no chord
MIN_SCORE = 0.2  # the best score under this (chord tones under ~60% of the weight) is "N"


def _weights() -> np.ndarray:
    """(37, 120) template weights for [histogram (12) | sounding flags (12) | bass one-hot (13)].

    score = sum_in(h) - sum_out(h) - MISS_PENALTY * (size - sounding chord tones) + ROOT_BONUS * [bass
    is root] - SEVENTH_COST * (size - 3) - TIE_BREAK * rank. With h summing to 1, sum_in - sum_out is
    2 * sum_in - 1. Every window has exactly one bass column set (column 36: no bass), so the constant
    terms ride on the bass rows and the whole score is one matrix product.
    """
    w = np.zeros((37, len(CHORD_NAMES)))
    for qi, intervals in enumerate(QUALITIES.values()):
        for root in range(12):
            k = qi * 12 + root
            for interval in intervals:
                pc = (root + interval) % 12
                w[pc, k] = 2.0
                w[12 + pc, k] = MISS_PENALTY
            w[24:37, k] = -1.0 - MISS_PENALTY * len(intervals) - SEVENTH_COST * (len(intervals) - 3) - TIE_BREAK * qi
            w[24 + root, k] += ROOT_BONUS
    return w


_W = _weights()
_BLOCK = 128  # rows per matrix product: OpenBLAS starts threads past ~2**18 multiply-adds, which
# on a busy machine (one Spark or Ray worker per core) costs milliseconds instead of microseconds


def window_of(starts: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """The window (index into sorted `starts`) each onset falls in; onsets before the first start
    count in the first window."""
    window = starts.searchsorted(onset, side="right") - 1
    return np.maximum(window, 0, out=window)


def window_histograms(
    onset: np.ndarray, offset: np.ndarray, pitch: np.ndarray, starts: np.ndarray, ends: np.ndarray,
    first: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per window, the pitch-class histogram of overlap durations (bass weighted up) and the bass
    pitch class (-1 where nothing sounds). Notes (integer ticks) sorted by onset; windows sorted,
    non-overlapping [start, end). `first`: window_of(starts, onset), when the caller has it."""
    n_windows = len(starts)
    if n_windows == 0 or len(onset) == 0:
        return np.zeros((n_windows, 12)), np.full(n_windows, -1, dtype=np.int64)
    # The windows each note overlaps: its first, and how many from there (zero-length notes: none).
    first = window_of(starts, onset) if first is None else first
    span = starts.searchsorted(offset, side="left") - first
    return compiled_loops().window_histograms(
        np.ascontiguousarray(onset, dtype=np.int64), np.ascontiguousarray(offset, dtype=np.int64),
        np.ascontiguousarray(pitch, dtype=np.int64), np.ascontiguousarray(starts, dtype=np.float64),
        np.ascontiguousarray(ends, dtype=np.float64), np.ascontiguousarray(first, dtype=np.int64), span, BASS_WEIGHT)


def recognize(hist: np.ndarray, bass: np.ndarray) -> np.ndarray:
    """Best chord index per window (into CHORD_NAMES), -1 for no chord: one matrix product of
    [histogram | sounding flags | bass one-hot] against every template."""
    n = len(hist)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    features = np.zeros((n, 37))
    total = hist.sum(axis=1, keepdims=True)
    np.divide(hist, total, out=features[:, :12], where=total > 0)
    sounding = np.greater_equal(features[:, :12], PRESENT_SHARE, out=features[:, 12:24])
    features[np.arange(n), np.where(bass >= 0, 24 + bass, 36)] = 1.0
    scores = np.empty((n, len(CHORD_NAMES)))
    for i in range(0, n, _BLOCK):
        np.matmul(features[i : i + _BLOCK], _W, out=scores[i : i + _BLOCK])
    best = scores.argmax(axis=1)
    ok = (sounding.sum(axis=1) >= MIN_PITCH_CLASSES) & (scores[np.arange(n), best] >= MIN_SCORE)
    return np.where(ok, best, -1)


_NAMES_AND_N = np.array((*CHORD_NAMES, NO_CHORD), dtype=object)


def chord_names(indices: np.ndarray) -> list[str]:
    """Chord indices (-1 = no chord) as names."""
    return _NAMES_AND_N[np.asarray(indices, dtype=np.int64)].tolist()  # -1 picks the trailing "N"


def window_chord_indices(table: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Chord index per window (-1 = "N") for a note table (ticks, notes.TABLE_DTYPE); drums ignored.
    The note tokenizer's chord per beat (tokenizers/notes.py)."""
    pitched = pitched_notes(table)
    onset = pitched["onset"]
    hist, bass = window_histograms(onset, onset + pitched["duration"], pitched["pitch"], starts, ends)
    return recognize(hist, bass)


def windows(starts: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive [start, end) windows from grid starts (ticks); the last one closes at `end`."""
    starts = np.asarray(starts, dtype=np.float64)
    if len(starts) == 0:
        return starts, starts
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = max(float(end), starts[-1])
    return starts, ends


def progression_of_indices(indices: np.ndarray, length: int = 4) -> str | None:
    """The most frequent run of `length` consecutive chords (indices into CHORD_NAMES, -1 = "N")
    with no "N" in it, as "C G Am F"; ties go to the run heard first. None when no such run exists."""
    indices = np.asarray(indices, dtype=np.int64)
    m = len(indices) - length + 1
    if length < 1 or m < 1:
        return None
    if length > 8:  # past 120**8 a run no longer fits one int64
        return _progression_by_rows(indices, length)
    misses = np.concatenate(([0], (indices < 0).cumsum()))
    valid = (misses[length:] == misses[:m]).nonzero()[0]  # runs without "N"
    if len(valid) == 0:
        return None
    codes = np.zeros(len(valid), dtype=np.int64)
    for j in range(length):
        codes = codes * len(CHORD_NAMES) + indices[valid + j]
    order = codes.argsort(kind="stable")  # stable: a group's first element is its first run
    ordered = codes[order]
    group_starts = np.concatenate(([True], ordered[1:] != ordered[:-1])).nonzero()[0]
    sizes = np.append(group_starts[1:], len(ordered)) - group_starts
    first = order[group_starts]
    start = valid[first[sizes == sizes.max()].min()]
    return " ".join(CHORD_NAMES[k] for k in indices[start : start + length].tolist())


def _progression_by_rows(indices: np.ndarray, length: int) -> str | None:
    runs = np.lib.stride_tricks.sliding_window_view(indices, length)
    runs = runs[(runs >= 0).all(axis=1)]
    if len(runs) == 0:
        return None
    _, first, counts = np.unique(runs, axis=0, return_index=True, return_counts=True)
    best = first[counts == counts.max()].min()
    return " ".join(CHORD_NAMES[k] for k in runs[best].tolist())
