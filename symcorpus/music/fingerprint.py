"""Fingerprints for deduplication: a hash of the note content, and MinHash signatures of note n-grams.

- `notes_hash`: equal for two pieces with the same notes, whatever their tempo, ticks per beat,
  programs, channels, track layout, velocities or meta events (optionally whatever their key).
- `shingles`: the k-grams of (pitch interval, inter-onset ratio) tokens over all pitched notes
  merged in time order, repeats counted. Intervals ignore transposition; ratios of consecutive
  onset steps ignore tempo and rhythmic scale; merging tracks ignores layout; near-simultaneous
  onsets are one chord, so a performer's spread and a coarser resolution change nothing.
- `MinHasher`: one-permutation MinHash signatures of those shingle sets (O(n + k) per piece);
  `band_hashes` for LSH.

Plain numpy, and numba for the loops over notes and shingles (music/loops.py), no Spark:
the dedup stage calls these per record inside mapInArrow.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from symcorpus.arrays import GOLDEN_GAMMA, mix64
from symcorpus.music import compiled_loops

_U64 = np.uint64


def notes_hash(notes: np.ndarray, *, transpose_invariant: bool = False, grid: int = 48) -> str:
    """Hash of the note content of notes with fields onset_q, duration_q, pitch, is_drum (as
    music/notes.canonical_notes or quarter_notes give them).

    Onsets and durations in quarters on a grid of 1/`grid` quarter, measured from the first note;
    drum notes keep their own space. Velocity, program, track, tempo and ticks per beat are ignored.
    """
    if len(notes) == 0:
        return hashlib.blake2b(b"", digest_size=16).hexdigest()
    onset, pitch, duration = compiled_loops().grid_columns(
        np.ascontiguousarray(notes["onset_q"], dtype=np.float64), np.ascontiguousarray(notes["duration_q"], dtype=np.float64),
        np.ascontiguousarray(notes["pitch"], dtype=np.int64), np.ascontiguousarray(notes["is_drum"], dtype=np.bool_),
        grid, transpose_invariant)
    return hashlib.blake2b(_sorted_rows(onset, pitch, duration).tobytes(), digest_size=16).hexdigest()


def _sorted_rows(onset: np.ndarray, pitch: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """(onset, pitch, duration) rows (int64) sorted by onset, then pitch, then duration.

    Packed into one int64 key when the values fit (onsets under 2**32 grid steps, pitches in 0-511,
    durations under 2**22): one sort of a plain array instead of a three-key lexsort. Equal rows are
    interchangeable, so both ways give the same rows.
    """
    key = compiled_loops().packed_rows(onset, pitch, duration)
    if len(key) == len(onset):
        key.sort(kind="stable")  # rows come nearly sorted (by onset): timsort's runs
        return compiled_loops().unpacked_rows(key)
    order = np.lexsort((duration, pitch, onset))
    return np.ascontiguousarray(np.stack([onset[order], pitch[order], duration[order]], axis=1))


# Onsets closer than this (in quarters) sound together: a chord played with a human spread, or
# re-encoded at another resolution, gives the same tokens as the chord written at one instant.
TOGETHER_Q = 1 / 32


def melodic_tokens(notes: np.ndarray) -> np.ndarray:
    """One token per step between consecutive pitched notes: (interval, inter-onset ratio class).

    Notes whose onsets follow each other by under TOGETHER_Q form one chord, taken from its lowest
    note up, at the chord's first onset. The ratio compares each step between chords with the
    previous one (log2, half-octave classes; notes of one chord are their own class). It is local:
    tempo, rhythmic scale and edits elsewhere in the piece (an intro, dropped notes) leave a token
    unchanged. A global reference such as the piece's median step would shift every token when an
    edit moves the median. `notes` must be sorted by onset (as canonical_notes and quarter_notes are).
    """
    return compiled_loops().melodic_tokens(np.ascontiguousarray(notes["onset_q"], dtype=np.float64),
                                   np.ascontiguousarray(notes["pitch"], dtype=np.int64),
                                   np.ascontiguousarray(notes["is_drum"], dtype=np.bool_), TOGETHER_Q)


# Repeats a shingle may have before it weighs more than one, and the factor each further unit of weight
# takes: 12-47 repeats weigh 2, 48-191 weigh 3. A tune printed once and with its repeats written out
# (every count doubled) keep nearly every weight (test_fingerprint: Jaccard > 0.9).
REPEATS_PER_WEIGHT = 4
FIRST_WEIGHTED_REPEAT = 12


def shingle_hashes(notes: np.ndarray, k: int = 4) -> np.ndarray:
    """The piece's shingles as distinct uint64 hashes (in no useful order): its k-grams of melodic
    tokens, each with a weight that grows with the log of its repeats (1 + floor(log4(count / 3))
    from FIRST_WEIGHTED_REPEAT repeats on, 1 below): a k-gram of weight w gives w hashes, so the
    Jaccard similarity of two such sets (and MinHash over them) is the weighted Jaccard similarity of
    the k-grams.

    Repeats counted sublinearly, neither as a set nor as a multiset. As a multiset, a tune printed
    once and the same tune with its repeats written out (O'Neill's and Ryan's Walker Street reel in
    music21's corpus) would stand at a half; counts under FIRST_WEIGHTED_REPEAT weigh one, so they
    share every hash. As a plain set, an edit spread over a song's repeats (5% of notes dropped
    or added) makes new k-grams in every pass of a chorus played 20 times while the chorus' own
    k-grams count once: a 6,400-note song and its edited copy fell to 0.31. Weighted, the recurring
    material outweighs the one-off k-grams the edits make (0.31 -> 0.40 for that pair).
    """
    tokens = melodic_tokens(notes)
    if len(tokens) == 0:
        return np.empty(0, dtype=_U64)
    loops = compiled_loops()
    hashed = loops.kgram_hashes(tokens, min(k, len(tokens)))  # a very short piece is one shingle
    hashed.sort()  # numpy's sort: several times numba's on thousands of hashes
    return loops.weighted_set(hashed, FIRST_WEIGHTED_REPEAT, REPEATS_PER_WEIGHT)


def shingles(notes: np.ndarray, k: int = 4) -> np.ndarray:
    """The piece's shingle set as hashes (uint64): see `shingle_hashes`."""
    return shingle_hashes(notes, k)


# Bump when fingerprints of the same notes change: parse caches hold fingerprints (spark/cache.py).
# 2: chords of near-simultaneous onsets, shingles with repeats counted, one-permutation MinHash.
# 3: shingles a set again (repeats not counted).
# 4: shingles weighted by the log of their repeats; the packed signature keeps its empty bins (the
#    similarity estimate leaves out bins empty in both pieces), the bands are densified.
FINGERPRINT_VERSION = 4
_EMPTY = 2**32 - 1  # every value of an empty set's signature
_PROBES = 64  # densification attempts per empty bin before the nearest filled bin to the right


class MinHasher:
    """MinHash signatures of shingle sets: `num_perm` uint32 values whose agreement between two sets
    estimates their Jaccard similarity, in one pass over the set (O(n + k) for n shingles).

    One-permutation hashing (Li, Owen, Zhang 2012): one hash per shingle; its high bits pick one of
    `num_perm` bins, its low 32 bits are the value, and each bin keeps its smallest value. A bin no
    shingle fell into borrows the value of the first filled bin along a probe sequence that depends
    only on the bin and the attempt, so two sets that leave the same bins empty borrow alike and
    each position still agrees with probability equal to the Jaccard similarity (optimal
    densification, Shrivastava 2017). After `_PROBES` misses (only sets of a handful of shingles) a
    bin takes the next filled bin to its right. Earlier versions used `num_perm` hash functions over
    every shingle (O(n k)): 30 times slower on Lakh-size pieces for the same estimates.
    """

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.salt = rng.integers(0, 2**63, dtype=np.int64).astype(_U64)
        # Densification probes: row b holds the bins that bin b's attempts look at, in order.
        attempts = np.arange(_PROBES, dtype=_U64)[:, None] * _U64(num_perm) + np.arange(num_perm, dtype=_U64)
        self.probes = np.ascontiguousarray(self._bin(mix64(attempts ^ self.salt)).astype(np.int64).T)

    def _bin(self, h: np.ndarray) -> np.ndarray:
        """The bin of each 64-bit hash: its high 32 bits scaled to [0, num_perm) (no modulo bias)."""
        return ((h >> _U64(32)) * _U64(self.num_perm)) >> _U64(32)

    def signature(self, shingle_set: np.ndarray) -> np.ndarray:
        """uint32 signature (as int64 for Arrow), densified; all 2**32-1 for an empty set. Every value
        is a minimum, so a shingle given twice counts once."""
        return self.densified(self.sparse_signature(shingle_set))

    def sparse_signature(self, shingle_set: np.ndarray) -> np.ndarray:
        """The signature before densification (int64): 2**32-1 in every bin no shingle fell into.
        What `packed_similarities` compares (pack_signature); `densified` gives what LSH bands need."""
        return compiled_loops().sparse_signature(np.ascontiguousarray(shingle_set, dtype=_U64), self.salt, self.num_perm)

    def densified(self, sparse: np.ndarray) -> np.ndarray:
        """A sparse signature with every empty bin filled (optimal densification); all 2**32-1 stays
        so for an empty set."""
        return compiled_loops().densified(np.ascontiguousarray(sparse, dtype=np.int64), self.probes)


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One int64 per LSH band: pieces sharing any band hash are candidate pairs."""
    return compiled_loops().band_hashes(np.ascontiguousarray(signature, dtype=np.int64), bands, rows, _band_powers(rows))


@functools.lru_cache(maxsize=4)
def _band_powers(rows: int) -> np.ndarray:
    """A band's row weights: powers of the golden gamma, wrapping."""
    with np.errstate(over="ignore"):
        powers = GOLDEN_GAMMA ** np.arange(1, rows + 1, dtype=_U64)
    powers.flags.writeable = False  # shared between calls
    return powers


def pack_signature(signature: np.ndarray) -> bytes:
    """A signature as little-endian uint32 bytes: one compact value per piece in Spark."""
    return np.asarray(signature, dtype="<u4").tobytes()


def packed_similarities(sigs_a: list[bytes], sigs_b: list[bytes]) -> np.ndarray:
    """Estimated Jaccard similarity of each pair of packed sparse signatures, in one vectorised step.

    The one-permutation estimator of Li, Owen and Zhang (2012): bins equal and filled, over bins
    filled in either piece. A bin empty in both says nothing about the pair; counting it as a match
    (as comparing densified signatures does) copies other bins' outcomes into it, and for pieces of
    fewer shingles than bins (most folk tunes: 50-200 against 240) the estimate strayed by 0.1 from
    the exact similarity. Two empty pieces are equal (1.0).
    """
    if not sigs_a:
        return np.empty(0)
    a = np.frombuffer(b"".join(sigs_a), dtype="<u4").reshape(len(sigs_a), -1)
    b = np.frombuffer(b"".join(sigs_b), dtype="<u4").reshape(len(sigs_b), -1)
    return sparse_similarities(a, b)


def sparse_similarities(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`packed_similarities` of sparse signatures as arrays (rows of `a` against rows of `b`, which
    broadcast): the Li-Owen-Zhang estimate of each pair's Jaccard similarity."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    both_empty = ((a == _EMPTY) & (b == _EMPTY)).sum(axis=1)
    matches = (a == b).sum(axis=1) - both_empty
    informative = a.shape[1] - both_empty
    return np.where(informative > 0, matches / np.maximum(informative, 1), 1.0)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two shingle sets (for tests and benchmarks)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
