"""Key estimation from notes alone, vectorised.

`key_of_notes` scores the 24 major and minor keys with a handful of tonic-relative cues and takes the
best: how well the piece's pitch-class histograms (duration-weighted, note counts, the opening four
quarters) correlate with the key's profile, whether the final top note is the tonic or the mode's
third, whether the first bass note is the tonic or the fifth. The cues' weights were fitted by
`python bench/key_accuracy.py --fit` on one half of music21's ABC tunes (a conditional-logit model,
so `confidence` is the chosen key's probability under it) and checked on the other half.

Profiles: Krumhansl-Kessler (probe-tone ratings), Aarden-Essen (note counts in the Essen folk
collection) and Temperley (Kostka-Payne textbook excerpts). Their values are published facts.

Declared keys (MIDI key signatures, ABC `K:`) are never an input here, so accuracy against them
measures the estimator; `key_signature_name` and `abc_key` read them, for columns and for that check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

PROFILES: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "krumhansl": (
        np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
        np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
    ),
    "aarden": (
        np.array([17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624,
                  8.15494, 0.232998, 4.95122]),
        np.array([18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621,
                  1.93186, 7.37619, 1.75623]),
    ),
    "temperley": (
        np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400]),
        np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330]),
    ),
}


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, 0 = C
    minor: bool
    confidence: float  # key_of_notes: the key's probability under the fitted model, in (0, 1]

    @property
    def name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"


# --------------------------------------------------------------------------------------------------
# key_of_notes: several cues per candidate key, weighted

# Candidate key k: tonic k % 12, minor when k >= 12.
_TONIC = np.tile(np.arange(12), 2)
_THIRD = np.repeat([4, 3], 12)  # semitones from tonic to the mode's third
# _ROTATE[t, i] = (t + i) % 12: h[_ROTATE] lists h from each candidate tonic upwards, so every key's
# correlation is the same sum in the same order, and transposing the notes permutes the scores exactly.
_ROTATE = (np.arange(12)[:, None] + np.arange(12)[None, :]) % 12


def _centred_unit(profile: np.ndarray) -> np.ndarray:
    p = profile - profile.mean()
    return p / np.linalg.norm(p)


OPENING_QUARTERS = 4.0  # the opening that states the key: notes starting this close to the first onset

# The cues, in the order of KEY_WEIGHTS; each is a number per candidate key.
KEY_CUES = (
    "temperley_durations",  # correlation of the duration-weighted histogram with Temperley's profile
    "krumhansl_durations",  # ... with Krumhansl-Kessler's
    "temperley_counts",  # note counts (short notes count as much as long ones) with Temperley's
    "temperley_opening",  # the opening's duration-weighted histogram with Temperley's
    "final_top_is_tonic",  # highest note of the last onset: tunes end on the tonic...
    "final_top_is_third",  # ... or its third, which also tells the mode
    "first_bass_is_tonic",  # lowest note of the first onset: tunes start on the tonic...
    "first_bass_is_fifth",  # ... or an upbeat on the fifth
)
# Fitted by `python bench/key_accuracy.py --fit` on the tuning half of the tunes (BENCHMARKS.md).
KEY_WEIGHTS = np.array([3.837, 1.918, 3.798, 2.775, 2.257, 0.838, 0.463, 0.991])

# The correlation cues: which histogram (0 durations, 1 counts, 2 opening) against which profile,
# as (cue, mode, degree) rows centred and scaled so that a dot product is a Pearson correlation.
_CORRELATED = np.array([0, 0, 1, 2])
_CUE_PROFILES = np.array([
    [_centred_unit(profile) for profile in PROFILES[name]]
    for name in ("temperley", "krumhansl", "temperley", "temperley")
])


def key_cues(pitch: np.ndarray, onset_q: np.ndarray, duration_q: np.ndarray) -> np.ndarray | None:
    """(24, len(KEY_CUES)) cue values of each candidate key for one piece's pitched notes; None
    without notes."""
    pitch = np.asarray(pitch, dtype=np.int64)
    if pitch.size == 0:
        return None
    onset = np.asarray(onset_q, dtype=np.float64)
    duration = np.maximum(np.asarray(duration_q, dtype=np.float64), 0.0)
    pc = pitch % 12
    first, last = onset.min(), onset.max()
    opening = onset < first + OPENING_QUARTERS
    h = np.empty((3, 12))
    h[0] = np.bincount(pc, weights=duration, minlength=12)
    h[1] = np.bincount(pc, minlength=12)
    h[2] = np.bincount(pc[opening], weights=duration[opening], minlength=12)
    h -= h.sum(axis=1, keepdims=True) / 12
    norm = np.sqrt((h * h).sum(axis=1, keepdims=True))
    h = np.divide(h, norm, out=np.zeros_like(h), where=norm > 0)  # a flat histogram correlates 0
    rotated = h[_CORRELATED][:, _ROTATE]  # (cue, tonic, degree)
    cues = np.empty((24, len(KEY_CUES)))
    cues[:, :4] = np.einsum("ctd,cmd->cmt", rotated, _CUE_PROFILES).reshape(4, 24).T
    final_from_tonic = (int(pitch[onset == last].max()) - _TONIC) % 12
    first_from_tonic = (int(pitch[onset == first].min()) - _TONIC) % 12
    cues[:, 4] = final_from_tonic == 0
    cues[:, 5] = final_from_tonic == _THIRD
    cues[:, 6] = first_from_tonic == 0
    cues[:, 7] = first_from_tonic == 7
    return cues


def key_of_notes(
    pitch: np.ndarray, onset_q: np.ndarray, duration_q: np.ndarray, weights: np.ndarray | None = None
) -> Key | None:
    """The most likely major or minor key of pitched notes (sorted by onset; onsets and durations in
    quarters); None without notes. `weights` overrides KEY_WEIGHTS (the fit uses it)."""
    cues = key_cues(pitch, onset_q, duration_q)
    if cues is None:
        return None
    scores = cues @ (KEY_WEIGHTS if weights is None else weights)
    best = int(np.argmax(scores))
    probability = 1.0 / float(np.exp(scores - scores[best]).sum())
    return Key(best % 12, best >= 12, probability)


# --------------------------------------------------------------------------------------------------
# Declared keys: MIDI key signatures (spelled as the signature spells its tonic) and ABC `K:` fields

_MAJOR_BY_FIFTHS = ("Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#")
_MINOR_BY_FIFTHS = ("Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#")


def key_signature_name(sharps: int, minor: bool) -> str | None:
    """A MIDI key signature (sharps, -7..7, and mode) as a name like 'D minor'."""
    if not -7 <= sharps <= 7:
        return None
    names = _MINOR_BY_FIFTHS if minor else _MAJOR_BY_FIFTHS
    return f"{names[sharps + 7]} {'minor' if minor else 'major'}"


_ABC_KEY = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)")
_TONICS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MAJOR_MODES = {"", "maj", "major", "ion", "ionian"}
_MINOR_MODES = {"m", "min", "minor", "aeo", "aeolian"}


def abc_key(field: str) -> Key | None:
    """An ABC `K:` field as a major or minor key; None for modes (dorian...), `none` or nonsense."""
    m = _ABC_KEY.match(field or "")
    if not m:
        return None
    mode = m.group(3).lower()
    if mode in _MAJOR_MODES:
        minor = False
    elif mode in _MINOR_MODES or (len(mode) >= 3 and mode[:3] in ("min", "aeo")):
        minor = True
    else:
        return None
    tonic = (_TONICS[m.group(1).upper()] + {"#": 1, "b": -1, "": 0}[m.group(2)]) % 12
    return Key(tonic, minor, 1.0)


def mirex_score(estimate: Key, truth: Key) -> float:
    """MIREX key weighting: 1 same key, 0.5 a fifth away (same mode), 0.3 relative, 0.2 parallel."""
    if estimate.tonic == truth.tonic and estimate.minor == truth.minor:
        return 1.0
    if estimate.minor == truth.minor and (estimate.tonic - truth.tonic) % 12 in (5, 7):
        return 0.5
    relative = (truth.tonic + (3 if truth.minor else -3)) % 12
    if estimate.minor != truth.minor and estimate.tonic == relative:
        return 0.3
    if estimate.minor != truth.minor and estimate.tonic == truth.tonic:
        return 0.2
    return 0.0
