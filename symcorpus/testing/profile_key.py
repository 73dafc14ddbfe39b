"""The single-profile key estimator `key_of_notes` replaced, kept as the baseline that
bench/key_accuracy.py and tests/test_keys.py measure it against: the key whose rotated profile best
correlates with a duration-weighted pitch-class histogram."""

from __future__ import annotations

import numpy as np

from symcorpus.music.keys import PROFILES, Key


def _key_matrix(profile: str) -> np.ndarray:
    """24 x 12: row k < 12 is the major key on tonic k, row 12 + k the minor key on tonic k,
    each rotated profile centred and scaled so that a dot product is a Pearson correlation."""
    major, minor = PROFILES[profile]
    rows = [np.roll(major, k) for k in range(12)] + [np.roll(minor, k) for k in range(12)]
    keys = np.array(rows, dtype=np.float64)
    keys -= keys.mean(axis=1, keepdims=True)
    return keys / np.linalg.norm(keys, axis=1, keepdims=True)


_KEY_MATRICES = {name: _key_matrix(name) for name in PROFILES}

DEFAULT_PROFILE = "temperley"  # best of the three on music21's folk tunes (BENCHMARKS.md)
DEFAULT_FINAL_WEIGHT = 0.1  # a share of the histogram's total added for the last note


def pitch_class_histogram(
    pitch: np.ndarray, duration_q: np.ndarray, final_weight: float = DEFAULT_FINAL_WEIGHT
) -> np.ndarray:
    """Duration-weighted pitch-class histogram; `final_weight` adds the last note's pitch class
    (as a share of the total), since tunes end on their tonic far more often than anywhere else."""
    histogram = np.bincount(np.asarray(pitch) % 12, weights=np.asarray(duration_q, dtype=np.float64), minlength=12)
    if final_weight and len(pitch) and histogram.sum() > 0:
        histogram[int(pitch[-1]) % 12] += final_weight * histogram.sum()
    return histogram


def estimate_key(histogram: np.ndarray, profile: str = DEFAULT_PROFILE) -> Key | None:
    """The key whose profile best correlates with `histogram`; None for an empty histogram."""
    h = np.asarray(histogram, dtype=np.float64)
    h = h - h.mean()
    norm = np.linalg.norm(h)
    if norm == 0:
        return None
    scores = _KEY_MATRICES[profile] @ (h / norm)
    best, runner_up = np.argsort(scores)[::-1][:2]
    return Key(int(best % 12), bool(best >= 12), float(scores[best] - scores[runner_up]))
