"""Fingerprints for deduplication: a hash of the note content, and MinHash signatures of note n-grams.

- `notes_hash`: equal for two pieces with the same notes, whatever their tempo, ticks per beat,
  programs, channels, track layout, velocities or meta events (optionally whatever their key).
- `shingles`: the set of k-grams of (pitch interval, inter-onset ratio) tokens over all pitched
  notes merged in time order. Intervals ignore transposition; ratios of consecutive onset steps
  ignore tempo and rhythmic scale; merging tracks ignores layout.
- `MinHasher`: vectorised MinHash (multiply-shift hashing) over those shingles; `band_hashes` for LSH.

Plain numpy, no Spark: the dedup stage calls these per record inside mapInArrow.
"""

from __future__ import annotations

import hashlib

import numpy as np

from symcorpus.arrays import mix64

_U64 = np.uint64


def notes_hash(notes: np.ndarray, *, transpose_invariant: bool = False, grid: int = 48) -> str:
    """Hash of the note content of notes with fields onset_q, duration_q, pitch, is_drum (as
    music/notes.canonical_notes or quarter_notes give them).

    Onsets and durations in quarters on a grid of 1/`grid` quarter, measured from the first note;
    drum notes keep their own space. Velocity, program, track, tempo and ticks per beat are ignored.
    """
    if len(notes) == 0:
        return hashlib.blake2b(b"", digest_size=16).hexdigest()
    onset = np.rint(notes["onset_q"] * grid).astype(np.int64)
    onset -= onset.min()
    duration = np.rint(notes["duration_q"] * grid).astype(np.int64)
    pitch = notes["pitch"].astype(np.int64)
    drum = notes["is_drum"]
    if transpose_invariant and (~drum).any():
        pitch = np.where(drum, pitch, pitch - pitch[~drum].min())
    pitch = pitch + 256 * drum
    order = np.lexsort((duration, pitch, onset))
    rows = np.stack([onset[order], pitch[order], duration[order]], axis=1)
    return hashlib.blake2b(np.ascontiguousarray(rows).tobytes(), digest_size=16).hexdigest()


def melodic_tokens(notes: np.ndarray) -> np.ndarray:
    """One token per step between consecutive pitched notes: (interval, inter-onset ratio class).

    The ratio compares each inter-onset interval with the previous non-zero one (log2, half-octave
    classes; simultaneous notes are their own class). It is local: tempo, rhythmic scale and edits
    elsewhere in the piece (an intro, dropped notes) leave a token unchanged. A global reference such
    as the piece's median step would shift every token when an edit moves the median.
    `notes` must be sorted by onset, then pitch (as canonical_notes and quarter_notes are).
    """
    pitched = notes[~notes["is_drum"]] if notes["is_drum"].any() else notes
    if len(pitched) < 2:
        return np.empty(0, dtype=_U64)
    interval = np.clip(np.diff(pitched["pitch"].astype(np.int64)), -48, 48) + 48
    ioi = np.diff(pitched["onset_q"])
    moving = ioi > 1e-6
    # Index of the last non-zero step strictly before each step (-1 when there is none yet).
    last = np.maximum.accumulate(np.where(moving, np.arange(len(ioi)), -1))
    previous = np.concatenate([[-1], last[:-1]])
    reference = ioi[np.maximum(previous, 0)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(np.rint(np.log2(ioi / reference) * 2), -8, 8) + 9
    ratio_class = np.where(moving, np.where(previous >= 0, ratio, 18), 0).astype(np.int64)
    return (interval * 32 + ratio_class).astype(_U64)


def shingles(notes: np.ndarray, k: int = 4) -> np.ndarray:
    """The set of hashed k-grams of melodic tokens (uint64, sorted, unique)."""
    tokens = melodic_tokens(notes)
    if len(tokens) == 0:
        return np.empty(0, dtype=_U64)
    if len(tokens) < k:  # a very short piece is one shingle
        k = len(tokens)
    n = len(tokens) - k + 1
    combined = tokens[:n].copy()
    with np.errstate(over="ignore"):
        for j in range(1, k):  # polynomial rolling combination of k consecutive tokens
            combined *= _U64(0x100000001B3)
            combined += tokens[j : j + n]
    return np.unique(mix64(combined))


class MinHasher:
    """MinHash with `num_perm` multiply-shift hash functions: h(x) = (a*x + b) >> 32, a odd."""

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = rng.integers(1, 2**63, size=num_perm, dtype=np.int64).astype(_U64) | _U64(1)
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.int64).astype(_U64)

    def signature(self, shingle_set: np.ndarray) -> np.ndarray:
        """uint32 signature (as int64 for Arrow); all 2**32-1 for an empty set."""
        if len(shingle_set) == 0:
            return np.full(self.num_perm, 2**32 - 1, dtype=np.int64)
        x = (mix64(shingle_set) >> _U64(32))[:, None]
        with np.errstate(over="ignore"):
            h = (x * self.a[None, :] + self.b[None, :]) >> _U64(32)
        return h.min(axis=0).astype(np.int64)


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One int64 per LSH band: pieces sharing any band hash are candidate pairs."""
    sig = np.asarray(signature, dtype=np.int64)[: bands * rows].astype(_U64).reshape(bands, rows)
    with np.errstate(over="ignore"):
        powers = _U64(0x9E3779B97F4A7C15) ** np.arange(1, rows + 1, dtype=_U64)
        mixed = mix64((sig * powers).sum(axis=1, dtype=_U64) + np.arange(bands, dtype=_U64))
    return mixed.view(np.int64)


def pack_signature(signature: np.ndarray) -> bytes:
    """A signature as little-endian uint32 bytes: one compact value per piece in Spark."""
    return np.asarray(signature, dtype="<u4").tobytes()


def packed_similarities(sigs_a: list[bytes], sigs_b: list[bytes]) -> np.ndarray:
    """Estimated similarity of each pair of packed signatures, in one vectorised step."""
    if not sigs_a:
        return np.empty(0)
    a = np.frombuffer(b"".join(sigs_a), dtype="<u4").reshape(len(sigs_a), -1)
    b = np.frombuffer(b"".join(sigs_b), dtype="<u4").reshape(len(sigs_b), -1)
    return (a == b).mean(axis=1)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two shingle sets (for tests and benchmarks)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
