"""Per-piece musical features from a parsed score: bars, tempo, range, polyphony, timing, chords, loops.

Everything works on the note table (ticks, sorted by onset) with a handful of numpy passes and no
per-note Python, so a 300-note tune costs a fraction of a millisecond. The fields and their Arrow
types are `FEATURES`; see the features contract in the helpers' INTERFACES.md.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import symusic

from symcorpus.music import compiled_loops
from symcorpus.music.chords import chord_names, progression_of_indices, recognize, window_histograms, window_of, windows
from symcorpus.music.instruments import DRUMS, program_family
from symcorpus.music.keys import key_signature_name
from symcorpus.music.notes import DEFAULT_TIME_SIGNATURE, TempoMap, pitched_notes
from symcorpus.music.tempo import piece_tempo, tempo_features

FEATURES = pa.struct(
    [
        ("duration_bars", pa.float64()),
        ("n_bars", pa.int32()),
        ("tempo_mean_bpm", pa.float64()),
        ("time_signatures", pa.list_(pa.string())),
        ("n_time_signature_changes", pa.int32()),
        ("key_signatures", pa.list_(pa.string())),
        ("pitch_min", pa.int32()),
        ("pitch_max", pa.int32()),
        ("pitch_mean", pa.float64()),
        ("polyphony_mean", pa.float64()),
        ("polyphony_max", pa.int32()),
        ("note_density", pa.float64()),
        ("velocity_mean", pa.float64()),
        ("velocity_std", pa.float64()),
        ("metric_depth", pa.list_(pa.int32())),
        ("timing", pa.string()),
        ("instrument_families", pa.list_(pa.string())),
        ("chords", pa.list_(pa.string())),
        ("chord_progression", pa.string()),
        ("repetition_score", pa.float64()),
        ("top_bar_share", pa.float64()),
        ("longest_silence_seconds", pa.float64()),
        ("pitch_out_of_range_share", pa.float64()),
        ("zero_duration_share", pa.float64()),
        ("n_pitched_notes", pa.int32()),
        ("n_drum_notes", pa.int32()),
        ("n_programs", pa.int32()),
        # Where the tempo that labels and captions state comes from (music/tempo.py).
        ("tempo_source", pa.string()),  # declared | estimated | placeholder
        ("tempo_used_bpm", pa.float64()),  # declared quarters or the estimated beat per minute; null: placeholder
        ("tempo_confidence", pa.float64()),  # of the estimate, where one was made
    ]
)

PITCH_RANGE = (12, 119)  # the range Amadeus keeps; notes outside it are counted, not dropped
MAX_GRID_BARS = 10_000  # bars laid out for chords and loops (hours of music; n_bars stays exact beyond)

# --------------------------------------------------------------------------------------------------
# Metric grid: bars and beats from the time-signature map


@dataclass(frozen=True)
class TimeSignatureMap:
    """Time-signature segments (start tick, numerator, denominator), 4/4 from tick 0 until the first
    declared one. Few segments per piece, so plain tuples: numpy only pays off for the grids."""

    ticks: tuple[int, ...]
    numerator: tuple[int, ...]
    denominator: tuple[int, ...]
    declared: tuple[str, ...]  # as declared, in time order
    tpq: int

    @classmethod
    def of(cls, score: symusic.Score) -> TimeSignatureMap:
        raw = score.time_signatures.numpy()
        events = [
            (t, n, d)
            for t, n, d in zip(raw["time"].tolist(), raw["numerator"].tolist(), raw["denominator"].tolist())
            if n > 0 and d > 0 and t >= 0
        ]
        if len(events) > 1:
            events.sort(key=lambda e: e[0])  # stable: of several at one tick, the last one stands
            events = [e for e, after in zip(events, events[1:] + [(None, 0, 0)]) if e[0] != after[0]]
        declared = tuple(f"{n}/{d}" for _, n, d in events)
        if not events or events[0][0] > 0:
            num, den = (int(x) for x in DEFAULT_TIME_SIGNATURE.split("/"))
            events.insert(0, (0, num, den))
        ticks, numerator, denominator = zip(*events)
        return cls(ticks, numerator, denominator, declared, max(int(score.ticks_per_quarter), 1))

    def bar_ticks(self, i: int) -> float:
        return self.tpq * 4.0 * self.numerator[i] / self.denominator[i]

    def beats_per_bar(self, i: int) -> int:
        """Compound meters (6/8, 9/8, 12/16...) beat in dotted notes; the rest on the denominator."""
        n, d = self.numerator[i], self.denominator[i]
        return n // 3 if n % 3 == 0 and n > 3 and d >= 8 else n

    def segments(self, end: float) -> list[tuple[float, float, float]]:
        """(start tick, ticks covered up to `end`, bar length) of each segment that starts before `end`."""
        out = []
        for i, start in enumerate(self.ticks):
            if start >= end:
                break
            stop = min(self.ticks[i + 1], end) if i + 1 < len(self.ticks) else end
            out.append((float(start), stop - start, self.bar_ticks(i)))
        return out


def _count(covered: float, step: float) -> int:
    """Grid cells in `covered` ticks; a cell cut short (by the next signature or the end) counts."""
    return max(math.ceil(covered / step - 1e-9), 0)


def bar_count(ts: TimeSignatureMap, end: float) -> tuple[int, float]:
    """Number of bars before `end` and the same as a fraction (partial bars as their share)."""
    segments = ts.segments(end)
    return sum(_count(c, bar) for _, c, bar in segments), sum(c / bar for _, c, bar in segments)


def _grid(cells: list[tuple[float, int, float]], limit: int) -> np.ndarray:
    """Ticks of grid lines: for each (start, count, step), `count` lines from `start`; at most `limit`."""
    parts, total = [], 0
    for start, count, step in cells:
        count = min(count, limit - total)
        if count <= 0:
            break
        parts.append(start + step * np.arange(count))
        total += count
    if not parts:
        return np.empty(0)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def bar_starts(ts: TimeSignatureMap, end: float, limit: int = MAX_GRID_BARS) -> np.ndarray:
    """Ticks where each bar before `end` starts (a new signature starts a new bar)."""
    return _grid([(s, _count(c, bar), bar) for s, c, bar in ts.segments(end)], limit)


def beat_starts(ts: TimeSignatureMap, end: float, limit: int = 8 * MAX_GRID_BARS) -> np.ndarray:
    """Ticks where each beat before `end` starts."""
    cells = []
    for i, (s, c, bar) in enumerate(ts.segments(end)):
        beat = bar / ts.beats_per_bar(i)
        cells.append((s, _count(c, beat), beat))
    return _grid(cells, limit)


def metric_grid(score: symusic.Score, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Bar starts, beat starts and the end tick (last note offset) of a score."""
    ts = TimeSignatureMap.of(score)
    end = float((table["onset"] + np.maximum(table["duration"], 0)).max()) if len(table) else 0.0
    return bar_starts(ts, end), beat_starts(ts, end), end


# --------------------------------------------------------------------------------------------------
# Onset metric depth (after GigaMIDI's NOMML)

# Grid steps in quarters, coarse to fine, binary and triplet interleaved. An onset's depth is the index
# of the first grid it sits on; one that fits none gets EXPRESSIVE_DEPTH.
GRID_STEPS_Q = np.array([1, 1 / 2, 1 / 3, 1 / 4, 1 / 6, 1 / 8, 1 / 12, 1 / 16, 1 / 24])
EXPRESSIVE_DEPTH = len(GRID_STEPS_Q)
# ~2 ms at 120 BPM. All grids together have 32 points per quarter, so an onset at random sits within
# this of one about 27% of the time: a performed track's median depth is EXPRESSIVE_DEPTH.
GRID_TOLERANCE_Q = 1 / 240
DEPTH_QUANTILE = 0.5  # a track's depth is the median of its onsets' (NOMML)


def onset_depths(onset: np.ndarray, tpq: int) -> np.ndarray:
    """Metric depth of each onset (ticks from the start) against the grids of `GRID_STEPS_Q`."""
    if tpq % 48 == 0 and tpq <= MAX_RESIDUE_TABLE:
        # Every grid step divides tpq, so an onset's depth depends only on its offset in its quarter:
        # one lookup per onset in a table of the tpq possible offsets (made once per resolution).
        return _depth_by_offset(tpq)[onset % tpq]
    return _onset_depths(onset, tpq)


MAX_RESIDUE_TABLE = 2**16  # ticks per quarter up to which the depth of every offset is tabled


@functools.lru_cache(maxsize=32)
def _depth_by_offset(tpq: int) -> np.ndarray:
    return _onset_depths(np.arange(tpq, dtype=np.int64), tpq)


def _onset_depths(onset: np.ndarray, tpq: int) -> np.ndarray:
    n = len(onset)
    fits = np.ones((n, EXPRESSIVE_DEPTH + 1), dtype=bool)  # the last column: fits nothing finer
    if tpq % 48 == 0:  # every grid step is a whole number of ticks: exact integer arithmetic
        steps = (tpq * GRID_STEPS_Q).round().astype(np.int64)
        off = onset.astype(np.int64)[:, None] % steps
        np.minimum(off, steps - off, out=off)
        np.less_equal(off, tpq * GRID_TOLERANCE_Q, out=fits[:, :EXPRESSIVE_DEPTH])
    else:
        steps = tpq * GRID_STEPS_Q
        # A writer rounds a grid position that is not a whole tick (a triplet at 100 tpq) by under a tick.
        tolerance = tpq * GRID_TOLERANCE_Q + (np.abs(steps - steps.round()) > 1e-9)
        position = onset.astype(np.float64)[:, None] / steps
        off = np.abs(position - position.round()) * steps
        np.less_equal(off, tolerance, out=fits[:, :EXPRESSIVE_DEPTH])
    return fits.argmax(axis=1)


def track_depths(depth: np.ndarray, track: np.ndarray) -> np.ndarray:
    """Per track with notes (in track order), the DEPTH_QUANTILE of its onsets' depths."""
    # Depths are 0..EXPRESSIVE_DEPTH: a (track, depth) histogram and its running sums give each
    # track's quantile without sorting the notes (one compiled pass, music/loops.py).
    return compiled_loops().track_depths(np.ascontiguousarray(depth, dtype=np.int64),
                                         np.ascontiguousarray(track, dtype=np.int64), DEPTH_QUANTILE, 16)


# --------------------------------------------------------------------------------------------------
# Bars as content: repetition and loops

def bar_hashes(table: np.ndarray, starts: np.ndarray, bar: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per bar, an order-free hash of its notes (onset within the bar, pitch, duration, drum flag)
    and its note count. Notes belong to the bar they start in (the last bar takes any later ones);
    `bar`: chords.window_of(starts, table["onset"]), when the caller has it."""
    n_bars = len(starts)
    if n_bars == 0 or len(table) == 0:
        return np.zeros(n_bars, dtype=np.uint64), np.zeros(n_bars, dtype=np.int64)
    onset = table["onset"]
    bar = window_of(starts, onset) if bar is None else bar
    # One integer per note from its columns (wrapping on absurd values is harmless for a hash); the
    # onset within the bar at eighth-tick precision, as bars may start between ticks.
    return compiled_loops().bar_hashes(
        np.ascontiguousarray(onset, dtype=np.int64), np.ascontiguousarray(table["duration"], dtype=np.int64),
        np.ascontiguousarray(table["pitch"], dtype=np.int64), np.ascontiguousarray(table["is_drum"], dtype=np.bool_),
        np.ascontiguousarray(starts, dtype=np.float64), np.ascontiguousarray(bar, dtype=np.int64))


def repetition(hashes: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """(share of non-empty bars equal to an earlier bar, share equal to the most common bar)."""
    filled = hashes[counts > 0]
    filled.sort()
    n = len(filled)
    if n == 0:
        return 0.0, 0.0
    group_starts = np.concatenate(([True], filled[1:] != filled[:-1])).nonzero()[0]
    sizes = np.append(group_starts[1:], n) - group_starts
    return float((n - len(group_starts)) / n), float(sizes.max() / n)


# --------------------------------------------------------------------------------------------------
# Sounding notes over time


@dataclass(frozen=True)
class Sounding:
    """How notes sound over a piece's span: see `sounding`."""

    ticks: int  # ticks with at least one note sounding
    note_ticks: int  # the sum over those ticks of the notes sounding
    most: int  # the most notes sounding at once
    gap_from: np.ndarray  # each silence between the first onset and the last offset: its start
    gap_to: np.ndarray  # and its end (ticks)


def sounding(onset: np.ndarray, offset: np.ndarray) -> Sounding:
    """The notes sounding over time, from their onsets and offsets (ticks).

    Notes ending where another starts do not overlap: at one tick, endings sort before onsets.
    """
    key = np.concatenate((offset * 2, onset * 2 + 1)).astype(np.int64, copy=False)
    key.sort(kind="stable")  # two nearly sorted runs: timsort merges them ~4x faster than quicksort
    return Sounding(*compiled_loops().sounding_spans(key))


# --------------------------------------------------------------------------------------------------


def _distinct(values: tuple[str, ...] | list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _changes(values: tuple[str, ...]) -> int:
    return sum(a != b for a, b in zip(values, values[1:]))


def key_signatures(score: symusic.Score) -> list[str]:
    """Declared key signatures in time order, consecutive repeats merged."""
    raw = score.key_signatures.numpy()
    if len(raw["time"]) == 0:
        return []
    events = sorted(zip(raw["time"].tolist(), raw["key"].tolist(), raw["tonality"].tolist()), key=lambda e: e[0])
    names = [n for _, k, t in events if (n := key_signature_name(k, bool(t))) is not None]
    return [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]


def _empty(ts: TimeSignatureMap, tempo: TempoMap, keys: list[str]) -> dict[str, Any]:
    """A score without notes: declared facts, zeros for counts and shares, nulls for the rest."""
    return {
        "duration_bars": 0.0, "n_bars": 0, "tempo_mean_bpm": float(tempo.qpm[0]),
        "time_signatures": _distinct(ts.declared) or [DEFAULT_TIME_SIGNATURE],
        "n_time_signature_changes": _changes(ts.declared), "key_signatures": keys,
        "pitch_min": None, "pitch_max": None, "pitch_mean": None,
        "polyphony_mean": 0.0, "polyphony_max": 0, "note_density": 0.0,
        "velocity_mean": None, "velocity_std": None, "metric_depth": [], "timing": None,
        "instrument_families": [], "chords": [], "chord_progression": None,
        "repetition_score": 0.0, "top_bar_share": 0.0, "longest_silence_seconds": 0.0,
        "pitch_out_of_range_share": 0.0, "zero_duration_share": 0.0,
        "n_pitched_notes": 0, "n_drum_notes": 0, "n_programs": 0,
    }  # fmt: skip


def piece_features(score: symusic.Score, table: np.ndarray, tempo: TempoMap | None = None) -> dict[str, Any]:
    """The FEATURES of one piece; `table` is notes.note_table(score) (sorted by onset), `tempo` its
    TempoMap.of(score) when the caller has it (made once per piece: it is not free)."""
    tempo = TempoMap.of(score) if tempo is None else tempo
    ts = TimeSignatureMap.of(score)
    keys = key_signatures(score)
    n = len(table)
    if n == 0:
        return {**_empty(ts, tempo, keys), **tempo_features(piece_tempo(score, table, None, tempo=tempo))}
    tpq = tempo.tpq
    onset = table["onset"]
    duration = table["duration"]
    lasting = duration > 0
    all_lasting = bool(lasting.all())  # the usual case: no mask to apply
    offset = onset + (duration if all_lasting else np.where(lasting, duration, 0))
    start, end = int(onset[0]), int(offset.max())
    drum = table["is_drum"]
    n_drum = int(np.count_nonzero(drum))
    pitched = pitched_notes(table)
    pitched_offset = offset[~drum] if n_drum else offset
    pitch = pitched["pitch"]
    n_pitched = len(pitch)

    # Polyphony and silences over the sounding span (zero-length notes never sound).
    sound = sounding(onset, offset) if all_lasting else sounding(onset[lasting], offset[lasting])
    n_gaps = len(sound.gap_from)
    # One pass through the tempo map for every instant that needs seconds.
    seconds = tempo.seconds(np.concatenate(([start, end], sound.gap_from, sound.gap_to)))
    span_s = float(seconds[1] - seconds[0])
    longest_silence = float((seconds[2 + n_gaps :] - seconds[2 : 2 + n_gaps]).max()) if n_gaps else 0.0
    # Quarters over minutes between the first onset and the last offset: the time-weighted mean tempo.
    tempo_mean = (end - start) / tpq * 60.0 / span_s if span_s > 0 else float(tempo.qpm[tempo.index_at(start)])

    # Timing: onset metric depth per track; expressive when most pitched onsets fit no grid.
    depth = onset_depths(onset, tpq)
    judged = depth[~drum] if 0 < n_drum < n else depth
    expressive = np.count_nonzero(judged == EXPRESSIVE_DEPTH) * 2 > len(judged)

    # Bars: as windows for chords, as content for repetition.
    n_bars, duration_bars = bar_count(ts, float(end))
    starts, ends = windows(bar_starts(ts, float(end)), float(end))
    bar = window_of(starts, onset)  # each note's bar: one search for the chords and the repetition
    chords = recognize(*window_histograms(pitched["onset"], pitched_offset, pitch, starts, ends,
                                          bar[~drum] if n_drum else bar))
    repetition_score, top_bar_share = repetition(*bar_hashes(table, starts, bar))

    programs = np.bincount(pitched["program"]).nonzero()[0].tolist() if n_pitched else []
    families = _distinct([program_family(p) for p in programs]) + ([DRUMS] if n_drum else [])
    out_of_range = int(np.count_nonzero((pitch < PITCH_RANGE[0]) | (pitch > PITCH_RANGE[1])))
    velocity = table["velocity"].astype(np.int64)  # integer sums: exact, and no BLAS call
    velocity_mean = int(velocity.sum()) / n
    return {
        "duration_bars": duration_bars,
        "n_bars": n_bars,
        "tempo_mean_bpm": float(tempo_mean),
        "time_signatures": _distinct(ts.declared) or [DEFAULT_TIME_SIGNATURE],
        "n_time_signature_changes": _changes(ts.declared),
        "key_signatures": keys,
        "pitch_min": int(pitch.min()) if n_pitched else None,
        "pitch_max": int(pitch.max()) if n_pitched else None,
        "pitch_mean": int(pitch.sum()) / n_pitched if n_pitched else None,  # exact, as numpy's mean of integers
        "polyphony_mean": float(np.int64(sound.note_ticks) / sound.ticks) if sound.ticks else 0.0,
        "polyphony_max": sound.most,
        "note_density": n / span_s if span_s > 0 else 0.0,
        "velocity_mean": velocity_mean,
        "velocity_std": math.sqrt(max(int((velocity * velocity).sum()) / n - velocity_mean**2, 0.0)),
        "metric_depth": track_depths(depth, table["track"]).tolist(),
        "timing": "expressive" if expressive else "quantized",
        "instrument_families": families,
        "chords": chord_names(chords),
        "chord_progression": progression_of_indices(chords),
        "repetition_score": repetition_score,
        "top_bar_share": top_bar_share,
        "longest_silence_seconds": longest_silence,
        "pitch_out_of_range_share": out_of_range / n_pitched if n_pitched else 0.0,
        "zero_duration_share": float(np.count_nonzero(~lasting) / n),
        "n_pitched_notes": n_pitched,
        "n_drum_notes": n_drum,
        "n_programs": len(programs),
        **tempo_features(piece_tempo(score, table, "expressive" if expressive else "quantized", tempo=tempo)),
    }
