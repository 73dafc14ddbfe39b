"""The loops over notes of fingerprint.py, chords.py and features.py, compiled by numba: one pass
each instead of a dozen numpy calls, which on a folk tune of 100-300 notes cost more in call
overhead than in work. Sorting stays with numpy, several times faster than numba's on thousands of
values.

Imported on first use (music.compiled_loops), not with its callers: numba and the compiled
functions take ~0.7 s to load, which the driver, that never runs them, should not pay. The compiled
code is cached next to this file (numba's `cache=True`), so only the first process of a fresh
checkout compiles (seconds); Spark's Python daemon loads it once before it forks its workers
(spark/daemon.py). Callers pass C-contiguous arrays of fixed dtypes, so each function has one
compiled version.

Each function gives exactly what the numpy it replaced gave (integers, and the same IEEE float steps
in the same order): fingerprints, chords and bar hashes do not change with it.
"""

from __future__ import annotations

import numba
import numpy as np

_U64 = np.uint64
# SplitMix64's multipliers, as arrays.mix64 has them. Not imported from there: arrays imports pyarrow,
# which starts a thread, and Spark's daemon loads this module before it forks (spark/daemon.py).
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_ROLL = _U64(0x100000001B3)  # the rolling combination's multiplier
_COPY_SALT = _U64(0x5851F42D4C957F2D)  # hash + mix64(copy number ^ salt): a weighted shingle's copies
EMPTY = 2**32 - 1  # the largest uint32, which no value beats: an empty bin of a sparse signature

# The callers' tuning constants (fingerprint.py's, chords.BASS_WEIGHT) come in as arguments: numba
# bakes a global into the compiled code, and its cache would not see a change made in another file.


@numba.njit(cache=True, inline="always")
def _mix(z):
    z ^= z >> _U64(30)
    z *= _M1
    z ^= z >> _U64(27)
    z *= _M2
    z ^= z >> _U64(31)
    return z


@numba.njit(cache=True)
def grid_columns(onset_q: np.ndarray, duration_q: np.ndarray, pitch: np.ndarray, drum: np.ndarray, grid: int,
                 transpose_invariant: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fingerprint.notes_hash's columns (int64): onsets from the first one and durations on the grid,
    pitches (from the lowest pitched one when `transpose_invariant`), drums at pitch + 256."""
    n = len(onset_q)
    onset = np.empty(n, dtype=np.int64)
    duration = np.empty(n, dtype=np.int64)
    pitches = np.empty(n, dtype=np.int64)
    lowest = np.iinfo(np.int64).max
    for i in range(n):
        onset[i] = np.int64(np.rint(onset_q[i] * grid))
        duration[i] = np.int64(np.rint(duration_q[i] * grid))
        if not drum[i] and pitch[i] < lowest:
            lowest = pitch[i]
    onset -= onset.min()
    shift = lowest if transpose_invariant and lowest != np.iinfo(np.int64).max else 0
    for i in range(n):
        pitches[i] = pitch[i] + 256 if drum[i] else pitch[i] - shift
    return onset, pitches, duration


@numba.njit(cache=True)
def packed_rows(onset: np.ndarray, pitch: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Each (onset, pitch, duration) row as one int64 (onset << 31 | pitch << 22 | duration), which
    sorts as the rows do; an empty array when a value does not fit (fingerprint._sorted_rows)."""
    n = len(onset)
    key = np.empty(n, dtype=np.int64)
    for i in range(n):
        if not (onset[i] < 2**32 and 0 <= pitch[i] < 512 and 0 <= duration[i] < 2**22):
            return np.empty(0, dtype=np.int64)
        key[i] = (onset[i] << 31) | (pitch[i] << 22) | duration[i]
    return key


@numba.njit(cache=True)
def unpacked_rows(key: np.ndarray) -> np.ndarray:
    """The (n, 3) int64 rows of `packed_rows` keys."""
    rows = np.empty((len(key), 3), dtype=np.int64)
    for i in range(len(key)):
        rows[i, 0] = key[i] >> 31
        rows[i, 1] = (key[i] >> 22) & 511
        rows[i, 2] = key[i] & (2**22 - 1)
    return rows


@numba.njit(cache=True)
def band_hashes(signature: np.ndarray, bands: int, rows: int, powers: np.ndarray) -> np.ndarray:
    """fingerprint.band_hashes: per band, mix64 of its rows' values times `powers` (wrapping) plus
    the band's number, as int64."""
    out = np.empty(bands, dtype=np.int64)
    for band in range(bands):
        total = _U64(0)
        for r in range(rows):
            total += _U64(signature[band * rows + r]) * powers[r]
        out[band] = np.int64(_mix(total + _U64(band)))
    return out


@numba.njit(cache=True)
def melodic_tokens(onset: np.ndarray, pitch: np.ndarray, drum: np.ndarray, together_q: float) -> np.ndarray:
    """fingerprint.melodic_tokens over the columns onset_q (float64), pitch (int64), is_drum (bool)."""
    kept = np.flatnonzero(~drum)
    m = len(kept)
    if m < 2:
        return np.empty(0, dtype=np.uint64)
    on = onset[kept]
    pitches = pitch[kept]
    # Chords: runs of onsets each under together_q after the one before; a chord's onset is its first.
    chord = np.empty(m, dtype=np.int64)
    chord_onset = np.empty(m, dtype=np.float64)
    chord[0], chord_onset[0], n_chords = 0, on[0], 1
    for j in range(1, m):
        if on[j] - on[j - 1] > together_q:
            chord_onset[n_chords] = on[j]
            n_chords += 1
        chord[j] = n_chords - 1
    # Each chord from its lowest note up (an insertion sort: chords are a few notes).
    start = 0
    for j in range(1, m + 1):
        if j == m or chord[j] != chord[start]:
            for a in range(start + 1, j):
                value, b = pitches[a], a - 1
                while b >= start and pitches[b] > value:
                    pitches[b + 1] = pitches[b]
                    b -= 1
                pitches[b + 1] = value
            start = j
    tokens = np.empty(m - 1, dtype=np.uint64)
    previous_ioi = -1.0  # the last step between chords before this one (none yet)
    for j in range(m - 1):
        interval = min(max(pitches[j + 1] - pitches[j], -48), 48) + 48
        if chord[j + 1] == chord[j]:
            ratio_class = 0
        else:
            ioi = chord_onset[chord[j + 1]] - chord_onset[chord[j]]
            if previous_ioi < 0:
                ratio_class = 18
            elif ioi == previous_ioi:
                ratio_class = 9  # log2(1) is exactly 0: the usual step, without the log
            else:
                ratio_class = int(min(max(np.rint(np.log2(ioi / previous_ioi) * 2), -8.0), 8.0)) + 9
            previous_ioi = ioi
        tokens[j] = _U64(interval * 32 + ratio_class)
    return tokens


@numba.njit(cache=True)
def kgram_hashes(tokens: np.ndarray, k: int) -> np.ndarray:
    """mix64 of each k-gram's polynomial rolling combination of tokens (uint64), in token order."""
    n = len(tokens) - k + 1
    hashed = np.empty(n, dtype=np.uint64)
    for i in range(n):
        combined = tokens[i]
        for j in range(1, k):
            combined = combined * _ROLL + tokens[i + j]
        hashed[i] = _mix(combined)
    return hashed


@numba.njit(cache=True)
def weighted_set(hashed: np.ndarray, first_weighted: int, per_weight: int) -> np.ndarray:
    """From sorted k-gram hashes: each distinct hash once (in order), then, for each one repeated
    `first_weighted` times or more, its extra copies: floor(log_per_weight(count / (first_weighted
    / per_weight))) of them (fingerprint.shingle_hashes)."""
    n = len(hashed)
    distinct = np.empty(n, dtype=np.uint64)
    counts = np.empty(n, dtype=np.int64)
    d = 0
    distinct[0], counts[0] = hashed[0], 1
    for i in range(1, n):
        if hashed[i] != hashed[i - 1]:
            d += 1
            distinct[d], counts[d] = hashed[i], 1
        else:
            counts[d] += 1
    n_distinct = d + 1
    if n < first_weighted:
        return distinct[:n_distinct].copy()
    extra = np.zeros(n_distinct, dtype=np.int64)
    for d in range(n_distinct):
        if counts[d] >= first_weighted:
            scaled = counts[d] / (first_weighted / per_weight)
            extra[d] = int(np.log2(scaled) / np.log2(per_weight))
    out = np.empty(n_distinct + extra.sum(), dtype=np.uint64)
    out[:n_distinct] = distinct[:n_distinct]
    o = n_distinct
    for d in range(n_distinct):
        for number in range(1, extra[d] + 1):
            out[o] = distinct[d] + _mix(_U64(number) ^ _COPY_SALT)
            o += 1
    return out


@numba.njit(cache=True)
def sparse_signature(shingles: np.ndarray, salt: np.uint64, num_perm: int) -> np.ndarray:
    """fingerprint.MinHasher.sparse_signature: each shingle's mixed hash picks a bin with its high
    32 bits and offers its low 32 bits as the value; a bin keeps its smallest (EMPTY if none)."""
    signature = np.full(num_perm, EMPTY, dtype=np.int64)
    for i in range(len(shingles)):
        h = _mix(shingles[i] ^ salt)
        b = ((h >> _U64(32)) * _U64(num_perm)) >> _U64(32)
        value = np.int64(h & _U64(EMPTY))
        if value < signature[b]:
            signature[b] = value
    return signature


@numba.njit(cache=True)
def densified(sparse: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """fingerprint.MinHasher.densified for a signature with filled and empty bins: each empty bin
    takes the value of the first filled bin along its row of `probes`, else of the nearest filled
    bin to its right (wrapping). A signature with no empty bin, or no filled one, comes back as is."""
    num_perm = len(sparse)
    n_filled = np.count_nonzero(sparse != EMPTY)
    if n_filled == 0 or n_filled == num_perm:
        return sparse
    out = sparse.copy()
    for b in range(num_perm):
        if sparse[b] != EMPTY:
            continue
        source = -1
        for attempt in range(probes.shape[1]):
            if sparse[probes[b, attempt]] != EMPTY:
                source = probes[b, attempt]
                break
        j = b
        while source < 0:
            j = (j + 1) % num_perm
            if sparse[j] != EMPTY:
                source = j
        out[b] = sparse[source]
    return out


@numba.njit(cache=True)
def window_histograms(onset: np.ndarray, offset: np.ndarray, pitch: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                      first: np.ndarray, span: np.ndarray, bass_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """chords.window_histograms after its searches: `first` window and `span` (windows it reaches)
    of each note. Every (note, window) overlap adds to the window's pitch-class histogram, notes in
    order and each note's windows in order, as np.bincount added them."""
    n_windows = len(starts)
    total = 0
    for i in range(len(onset)):
        total += max(span[i], 0)
    window = np.empty(total, dtype=np.int64)
    lowest_pitch = np.empty(total, dtype=np.int64)
    overlap = np.empty(total, dtype=np.float64)
    hist = np.zeros((n_windows, 12))
    lowest = np.full(n_windows, np.iinfo(np.int64).max)
    k = 0
    for i in range(len(onset)):
        for w in range(first[i], first[i] + span[i]):
            o = min(float(offset[i]), ends[w]) - max(float(onset[i]), starts[w])
            o = max(o, 0.0)  # only a note past the last window's end could go below
            hist[w, pitch[i] % 12] += o
            lowest[w] = min(lowest[w], pitch[i])
            window[k], lowest_pitch[k], overlap[k] = w, pitch[i], o
            k += 1
    # The bass: each window's lowest pitch, and how long that pitch sounds there.
    bass_time = np.zeros(n_windows)
    for j in range(total):
        if lowest_pitch[j] == lowest[window[j]]:
            bass_time[window[j]] += overlap[j]
    bass = np.empty(n_windows, dtype=np.int64)
    for w in range(n_windows):
        bass[w] = lowest[w] % 12
        hist[w, bass[w]] += bass_weight * bass_time[w]
        if bass_time[w] <= 0:
            bass[w] = -1
    return hist, bass


@numba.njit(cache=True)
def bar_hashes(onset: np.ndarray, duration: np.ndarray, pitch: np.ndarray, drum: np.ndarray, starts: np.ndarray,
               bar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """features.bar_hashes over the table's columns and each note's bar: per bar, the wrapping sum
    of mix64 of one integer per note, and the note count."""
    n_bars = len(starts)
    sums = np.zeros(n_bars, dtype=np.uint64)
    counts = np.zeros(n_bars, dtype=np.int64)
    for i in range(len(onset)):
        b = bar[i]
        key = np.int64((onset[i] - starts[b]) * 8) << 32
        key += duration[i] << 8
        key += pitch[i] * 2 + drum[i]
        sums[b] += _mix(_U64(key))
        counts[b] += 1
    return sums, counts


@numba.njit(cache=True)
def sounding_spans(key: np.ndarray) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """features.sounding's sorted change points (tick * 2, +1 for an onset) walked once: the ticks
    with a note sounding, the sum over them of the notes sounding (polyphony's numerator), the most
    notes sounding at once, and the silences inside the span (their first and last tick)."""
    n = len(key)
    gap_from = np.empty(n, dtype=np.int64)
    gap_to = np.empty(n, dtype=np.int64)
    sounding = weighted = most = gaps = count = 0
    for i in range(n):
        count += (key[i] & 1) * 2 - 1
        most = max(most, count) if i else count
        if i + 1 < n:
            dt = (key[i + 1] >> 1) - (key[i] >> 1)
            if count > 0:
                sounding += dt
                weighted += count * dt
            elif dt > 0:
                gap_from[gaps], gap_to[gaps] = key[i] >> 1, key[i + 1] >> 1
                gaps += 1
    return sounding, weighted, most, gap_from[:gaps], gap_to[:gaps]


@numba.njit(cache=True)
def track_depths(depth: np.ndarray, track: np.ndarray, quantile: float, width: int) -> np.ndarray:
    """features.track_depths: per track with notes, in track order, the `quantile` of its onsets'
    depths, from a (track, depth) histogram of `width` depths and its running sums."""
    hist = np.zeros((track.max() + 1, width), dtype=np.int64)
    for i in range(len(depth)):
        hist[track[i], depth[i]] += 1
    out = np.empty(len(hist), dtype=np.int64)
    kept = 0
    for t in range(len(hist)):
        total = hist[t].sum()
        if total == 0:
            continue
        rank = max(np.int64(np.ceil(quantile * total)) - 1, 0)
        below = running = 0
        for d in range(width):
            running += hist[t, d]
            below += running <= rank
        out[kept] = below
        kept += 1
    return out[:kept]


def warm_up() -> None:
    """Load (or compile) every function here for the argument types the callers pass: what a
    process about to fork workers runs, so that they inherit the compiled code."""
    pitch = np.array([60, 64, 67, 65, 64, 62, 60, 59, 60, 62, 64, 65, 67], dtype=np.int64)
    onset = np.arange(len(pitch), dtype=np.float64)
    tokens = melodic_tokens(onset, pitch, np.zeros(len(pitch), dtype=np.bool_), 1 / 32)
    hashed = np.sort(kgram_hashes(tokens, 2))
    signature = densified(sparse_signature(weighted_set(hashed, 4, 2), _U64(1), 16), np.zeros((16, 2), dtype=np.int64))
    powers = np.ones(4, dtype=np.uint64)
    powers.flags.writeable = False  # as fingerprint._band_powers shares them: numba types read-only apart
    band_hashes(signature, 4, 4, powers)
    drum = np.zeros(len(pitch), dtype=np.bool_)
    columns = grid_columns(onset, onset, pitch, drum, 48, True)
    unpacked_rows(packed_rows(*columns))
    ticks = np.arange(len(pitch), dtype=np.int64) * 480
    starts = np.array([0.0, 1920.0, 3840.0])
    bar = np.minimum(ticks // 1920, 2)
    window_histograms(ticks, ticks + 480, pitch, starts, starts + 1920.0, bar, np.ones(len(pitch), dtype=np.int64), 1.5)
    bar_hashes(ticks, ticks, pitch, drum, starts, bar)
    sounding_spans(np.sort(np.concatenate((ticks * 2 + 960, ticks * 2 + 1))))
    track_depths(np.zeros(len(pitch), dtype=np.int64), np.zeros(len(pitch), dtype=np.int64), 0.5, 16)
