"""Fingerprints for deduplication: a hash of the note content, and MinHash signatures of note n-grams.

- `notes_hash`: equal for two pieces with the same notes, whatever their tempo, ticks per beat,
  programs, channels, track layout, velocities or meta events (optionally whatever their key).
- `shingles`: the k-grams of (pitch interval, inter-onset ratio) tokens over all pitched notes
  merged in time order, repeats counted. Intervals ignore transposition; ratios of consecutive
  onset steps ignore tempo and rhythmic scale; merging tracks ignores layout; near-simultaneous
  onsets are one chord, so a performer's spread and a coarser resolution change nothing.
- `MinHasher`: one-permutation MinHash signatures of those shingle sets (O(n + k) per piece);
  `band_hashes` for LSH.

Plain numpy, no Spark: the dedup stage calls these per record inside mapInArrow.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from symcorpus.arrays import GOLDEN_GAMMA, mix64
from symcorpus.music.notes import pitched_notes

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
    return hashlib.blake2b(_sorted_rows(onset, pitch, duration).tobytes(), digest_size=16).hexdigest()


def _sorted_rows(onset: np.ndarray, pitch: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """(onset, pitch, duration) rows (int64) sorted by onset, then pitch, then duration.

    Packed into one int64 key when the values fit (onsets under 2**32 grid steps, pitches in 0-511,
    durations under 2**22): one sort of a plain array instead of a three-key lexsort. Equal rows are
    interchangeable, so both ways give the same rows.
    """
    if (onset.max() < 2**32 and pitch.min() >= 0 and pitch.max() < 512 and duration.min() >= 0
            and duration.max() < 2**22):
        key = onset << 31
        key |= pitch << 22
        key |= duration
        key.sort(kind="stable")  # rows come nearly sorted (by onset): timsort's runs
        rows = np.empty((len(key), 3), dtype=np.int64)
        np.right_shift(key, 31, out=rows[:, 0])
        np.right_shift(key, 22, out=rows[:, 1])
        rows[:, 1] &= 511
        np.bitwise_and(key, 2**22 - 1, out=rows[:, 2])
        return rows
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
    pitched = pitched_notes(notes)
    if len(pitched) < 2:
        return np.empty(0, dtype=_U64)
    onset, pitch = pitched["onset_q"], pitched["pitch"].astype(np.int64)
    apart = onset[1:] - onset[:-1] > TOGETHER_Q
    chord = np.concatenate([[0], np.cumsum(apart)])
    chord_onset = onset[np.concatenate([[0], np.flatnonzero(apart) + 1])]
    step = pitch[1:] - pitch[:-1]
    if not (apart | (step >= 0)).all():  # a chord's notes not from the lowest up
        order = np.lexsort((pitch, chord))
        pitch, chord = pitch[order], chord[order]
        step = pitch[1:] - pitch[:-1]
    interval = np.clip(step, -48, 48) + 48
    moving = chord[1:] != chord[:-1]
    ioi = chord_onset[chord[1:]] - chord_onset[chord[:-1]]
    # Index of the last step between chords strictly before each step (-1 when there is none yet).
    last = np.maximum.accumulate(np.where(moving, np.arange(len(ioi)), -1))
    previous = np.concatenate([[-1], last[:-1]])
    reference = ioi[np.maximum(previous, 0)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(np.rint(np.log2(ioi / reference) * 2), -8, 8) + 9
    ratio_class = np.where(moving, np.where(previous >= 0, ratio, 18), 0).astype(np.int64)
    return (interval * 32 + ratio_class).astype(_U64)


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
    if len(tokens) < k:  # a very short piece is one shingle
        k = len(tokens)
    n = len(tokens) - k + 1
    combined = tokens[:n].copy()
    with np.errstate(over="ignore"):
        for j in range(1, k):  # polynomial rolling combination of k consecutive tokens
            combined *= _U64(0x100000001B3)
            combined += tokens[j : j + n]
    hashed = mix64(combined)
    if n < FIRST_WEIGHTED_REPEAT:
        return np.unique(hashed)
    hashed.sort()
    first = np.flatnonzero(np.concatenate([[True], hashed[1:] != hashed[:-1]]))
    distinct = hashed[first]
    counts = np.diff(np.append(first, n))
    heavy = counts >= FIRST_WEIGHTED_REPEAT
    if not heavy.any():
        return distinct
    # Weight w: the hash itself and w - 1 more, hash + mix64(copy number), for the heavy ones.
    scaled = counts[heavy] / (FIRST_WEIGHTED_REPEAT / REPEATS_PER_WEIGHT)
    extra = (np.log2(scaled) / np.log2(REPEATS_PER_WEIGHT)).astype(np.int64)
    copies = np.repeat(distinct[heavy], extra)
    number = np.arange(len(copies)) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    with np.errstate(over="ignore"):
        copies += mix64(number.astype(_U64) ^ _U64(0x5851F42D4C957F2D))
    return np.concatenate([distinct, copies])


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
_FIRST_PROBES = 8  # attempts made for every empty bin before all _PROBES for those still empty


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
        signature = np.full(self.num_perm, _EMPTY, dtype=np.int64)
        if len(shingle_set) == 0:
            return signature
        h = mix64(np.asarray(shingle_set, dtype=_U64) ^ self.salt)
        np.minimum.at(signature, self._bin(h).astype(np.intp), (h & _U64(_EMPTY)).astype(np.int64))
        return signature

    def densified(self, sparse: np.ndarray) -> np.ndarray:
        """A sparse signature with every empty bin filled (optimal densification); all 2**32-1 stays
        so for an empty set."""
        filled = sparse != _EMPTY
        if filled.all() or not filled.any():
            return sparse
        return self._densify(sparse, filled)

    def _densify(self, signature: np.ndarray, filled: np.ndarray) -> np.ndarray:
        empty = np.flatnonzero(~filled)
        source = np.empty(len(empty), dtype=np.int64)
        todo = np.arange(len(empty))  # empty bins (positions in `empty`) still without a source
        # A short tune leaves most bins empty, and most find a filled bin within a few attempts: the
        # first _FIRST_PROBES attempts for every empty bin, then every attempt for the few left.
        for attempts in (_FIRST_PROBES, _PROBES):
            tried = self.probes[empty[todo], :attempts]  # (empty bins, attempts)
            hit = filled[tried]
            first = hit.argmax(axis=1)
            found = hit[np.arange(len(todo)), first]
            source[todo[found]] = tried[found, first[found]]
            todo = todo[~found]
            if len(todo) == 0:
                break
        else:  # nearest filled bin to the right, wrapping around
            full_bins = np.flatnonzero(filled)
            source[todo] = full_bins[np.searchsorted(full_bins, empty[todo]) % len(full_bins)]
        out = signature.copy()
        out[empty] = signature[source]
        return out


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One int64 per LSH band: pieces sharing any band hash are candidate pairs."""
    sig = np.asarray(signature, dtype=np.int64)[: bands * rows].astype(_U64).reshape(bands, rows)
    powers, band_numbers = _band_constants(bands, rows)
    with np.errstate(over="ignore"):
        mixed = mix64((sig * powers).sum(axis=1, dtype=_U64) + band_numbers)
    return mixed.view(np.int64)


@functools.lru_cache(maxsize=4)
def _band_constants(bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A band's row weights (powers of the golden gamma, wrapping) and each band's number."""
    with np.errstate(over="ignore"):
        powers = GOLDEN_GAMMA ** np.arange(1, rows + 1, dtype=_U64)
    band_numbers = np.arange(bands, dtype=_U64)
    powers.flags.writeable = band_numbers.flags.writeable = False  # shared between calls
    return powers, band_numbers


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
