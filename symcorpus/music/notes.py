"""Canonical notes and the summary columns that need only the parse.

A score (symusic, in ticks) becomes one numpy structured array of notes with onsets and durations in
quarters and in seconds. Seconds come from our own vectorised tempo-map integration, so one pass over
the tempo events serves every note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import symusic

from symcorpus.music.instruments import program_name
from symcorpus.music.keys import key_signature_name
from symcorpus.music.parse import ParsedPiece

DEFAULT_QPM = 120.0  # the MIDI default when a file has no tempo event
DEFAULT_TIME_SIGNATURE = "4/4"  # likewise for time signatures

NOTE_DTYPE = np.dtype(
    [
        ("onset_q", "f8"),
        ("duration_q", "f8"),
        ("onset_s", "f8"),
        ("duration_s", "f8"),
        ("pitch", "i2"),
        ("velocity", "i2"),
        ("program", "i2"),
        ("is_drum", "?"),
        ("track", "i4"),
    ]
)


_TICK_ZERO = np.zeros(1, dtype=np.int64)
_SECONDS_ZERO = np.zeros(1)
_TICK_ZERO.flags.writeable = _SECONDS_ZERO.flags.writeable = False  # shared by every one-tempo map


@dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo: change points in ticks and the seconds elapsed at each."""

    ticks: np.ndarray  # int64, starts at 0
    qpm: np.ndarray  # float64, tempo from each change point on
    seconds_at: np.ndarray  # float64, seconds elapsed at each change point
    tpq: int

    @classmethod
    def of(cls, score: symusic.Score) -> TempoMap:
        tpq = max(int(score.ticks_per_quarter), 1)
        tempos = score.tempos
        if len(tempos) == 0 or (len(tempos) == 1 and tempos[0].time == 0):
            # Most pieces: one tempo from the start (or none). Plain floats, as the arrays below give.
            qpm = DEFAULT_QPM if len(tempos) == 0 else 6e7 / max(float(tempos[0].mspq), 1.0)
            return cls(_TICK_ZERO, np.array([qpm]), _SECONDS_ZERO, tpq)
        raw = tempos.numpy()
        ticks = raw["time"].astype(np.int64)
        qpm = 6e7 / np.maximum(raw["mspq"].astype(np.float64), 1.0)
        order = np.argsort(ticks, kind="stable")
        ticks, qpm = ticks[order], qpm[order]
        if len(ticks) == 0 or ticks[0] > 0:  # before the first tempo event, the MIDI default holds
            ticks = np.concatenate([[0], ticks])
            qpm = np.concatenate([[DEFAULT_QPM], qpm])
        seconds_per_tick = 60.0 / (qpm * tpq)
        seconds_at = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * seconds_per_tick[:-1])])
        return cls(ticks, qpm, seconds_at, tpq)

    def index_at(self, ticks: np.ndarray | int) -> np.ndarray:
        """Index of the tempo segment each tick falls in."""
        return np.searchsorted(self.ticks, ticks, side="right") - 1

    def seconds(self, ticks: np.ndarray | int) -> np.ndarray:
        t = np.asarray(ticks, dtype=np.int64)
        i = self.index_at(t)
        return self.seconds_at[i] + (t - self.ticks[i]) * 60.0 / (self.qpm[i] * self.tpq)


TABLE_DTYPE = np.dtype(
    [
        ("onset", "i8"),  # ticks
        ("duration", "i8"),
        ("pitch", "i2"),
        ("velocity", "i2"),
        ("program", "i2"),
        ("is_drum", "?"),
        ("track", "i4"),
    ],
    align=True,  # 32-byte rows, every field at an aligned offset: numpy reads a field without buffering it
)


def note_columns(score: symusic.Score) -> dict[str, np.ndarray]:
    """Every note of the score in ticks, track after track as the file has them: one array per
    TABLE_DTYPE field (onset, duration, pitch and velocity in symusic's own dtypes).

    The one walk over a score's tracks: the note table (summaries, canonical notes, fingerprints,
    features) and the REMI encoder, which sorts its own way, both start here.
    """
    raws, per_track = [], []  # per_track: (notes, program, is_drum, track index)
    for index, track in enumerate(score.tracks):
        n = track.note_num()
        if n:
            raws.append(track.notes.numpy())
            per_track.append((n, track.program, track.is_drum, index))
    if not raws:
        return {name: np.empty(0, dtype=TABLE_DTYPE[name]) for name in TABLE_DTYPE.names}
    if len(raws) == 1:  # most pieces: views of symusic's arrays, constants filled
        raw, (n, program, is_drum, index) = raws[0], per_track[0]
        return {"onset": raw["time"], "duration": raw["duration"], "pitch": raw["pitch"],
                "velocity": raw["velocity"], "program": np.full(n, program, dtype=TABLE_DTYPE["program"]),
                "is_drum": np.full(n, is_drum, dtype=bool), "track": np.full(n, index, dtype=TABLE_DTYPE["track"])}
    counts, programs, drums, tracks = (np.array(values) for values in zip(*per_track))
    return {"onset": np.concatenate([raw["time"] for raw in raws]),
            "duration": np.concatenate([raw["duration"] for raw in raws]),
            "pitch": np.concatenate([raw["pitch"] for raw in raws]),
            "velocity": np.concatenate([raw["velocity"] for raw in raws]),
            "program": np.repeat(programs.astype(TABLE_DTYPE["program"]), counts),
            "is_drum": np.repeat(drums.astype(bool), counts),
            "track": np.repeat(tracks.astype(TABLE_DTYPE["track"]), counts)}


def note_table(score: symusic.Score) -> np.ndarray:
    """Every note of the score in ticks (TABLE_DTYPE), sorted by onset, pitch, duration, track (notes
    equal in all four keep the file's order)."""
    columns = note_columns(score)
    order = note_order(columns["onset"], columns["pitch"], columns["duration"], columns["track"])
    table = np.empty(len(order), dtype=TABLE_DTYPE)
    for name, values in columns.items():
        table[name] = values
    return np.take(table, order)  # whole rows at once: half the time of sorting field by field


def note_order(*keys: np.ndarray) -> np.ndarray:
    """The stable order of rows by `keys` (most significant first), as np.lexsort(keys[::-1]) gives it.

    When every key is a non-negative integer and the keys and the row index fit in 63 bits together,
    they are packed into one int64 per row and sorted once: a few times faster than lexsort on
    thousands of notes, and the index in the low bits keeps ties in their original order.
    """
    n = len(keys[0])
    if n == 0:
        return np.empty(0, dtype=np.intp)
    widths = [int(k.max()).bit_length() for k in keys]
    index_bits = n.bit_length()
    if sum(widths) + index_bits > 63 or any(int(k.min()) < 0 for k in keys):
        return np.lexsort(keys[::-1])
    packed = np.zeros(n, dtype=np.int64)
    for key, width in zip(keys, widths):
        packed <<= width
        packed |= key
    packed <<= index_bits
    packed |= np.arange(n)
    packed.sort(kind="stable")  # timsort: tracks arrive as sorted runs, merged in a few passes
    return packed & ((1 << index_bits) - 1)


def pitched_notes(notes: np.ndarray) -> np.ndarray:
    """The rows of a note table (or of quarter_notes) that are not drums; the table itself when
    none are. np.compress copies whole rows: a boolean index copies a structured array field by
    field, about ten times slower on thousands of notes."""
    drum = notes["is_drum"]
    return np.compress(~drum, notes) if drum.any() else notes


QUARTER_DTYPE = np.dtype([("onset_q", "f8"), ("duration_q", "f8"), ("pitch", "i2"), ("is_drum", "?")], align=True)


def quarter_notes(table: np.ndarray, tpq: int) -> np.ndarray:
    """Onsets and durations in quarters, with pitch and drum flag: what fingerprints need."""
    notes = np.empty(len(table), dtype=QUARTER_DTYPE)
    notes["onset_q"] = table["onset"] / tpq
    notes["duration_q"] = table["duration"] / tpq
    notes["pitch"] = table["pitch"]
    notes["is_drum"] = table["is_drum"]
    return notes


def canonical_notes(score: symusic.Score, table: np.ndarray | None = None) -> np.ndarray:
    """Every note of the score (NOTE_DTYPE), sorted by onset, pitch, duration, track."""
    table = note_table(score) if table is None else table
    tempo = TempoMap.of(score)
    notes = np.empty(len(table), dtype=NOTE_DTYPE)
    notes["onset_q"] = table["onset"] / tempo.tpq
    notes["duration_q"] = table["duration"] / tempo.tpq
    onset_s = tempo.seconds(table["onset"])
    notes["onset_s"] = onset_s
    notes["duration_s"] = tempo.seconds(table["onset"] + table["duration"]) - onset_s
    for field in ("pitch", "velocity", "program", "is_drum", "track"):
        notes[field] = table[field]
    return notes


def summarize(piece: ParsedPiece, table: np.ndarray | None = None, tempo: TempoMap | None = None) -> dict[str, Any]:
    """The corpus columns that need only the parse (see schema.CORPUS); `table` and `tempo` are the
    score's note_table and TempoMap when the caller has them."""
    score = piece.score
    table = note_table(score) if table is None else table
    tempo = TempoMap.of(score) if tempo is None else tempo
    if len(table):
        end_tick = int((table["onset"] + table["duration"]).max())
        first_onset = int(table["onset"][0])
        n_tracks = int(np.count_nonzero(np.bincount(table["track"])))  # small non-negative ints: no sort
    else:
        end_tick = first_onset = n_tracks = 0
    drums = table["is_drum"]
    programs = np.flatnonzero(np.bincount(table["program"][~drums]))

    time_signatures = score.time_signatures.numpy()
    if len(time_signatures["time"]):
        first = int(np.argmin(time_signatures["time"]))
        time_signature = f"{time_signatures['numerator'][first]}/{time_signatures['denominator'][first]}"
    else:
        time_signature = DEFAULT_TIME_SIGNATURE
    keys = score.key_signatures.numpy()
    key_signature = None
    if len(keys["time"]):
        first = int(np.argmin(keys["time"]))
        key_signature = key_signature_name(int(keys["key"][first]), bool(keys["tonality"][first]))

    return {
        "n_tracks": n_tracks,
        "n_notes": len(table),
        "duration_seconds": float(tempo.seconds(end_tick)),
        "duration_quarters": end_tick / tempo.tpq,
        # The tempo in force when the music starts: robust to a tempo set just before the first note.
        # None when the file sets none (a renderer's or player's default 120 is no fact of the music).
        "tempo_bpm": round(float(tempo.qpm[tempo.index_at(first_onset)]), 3) if piece.tempo_declared else None,
        "n_tempo_changes": int(np.count_nonzero(np.diff(tempo.qpm))),
        "time_signature": time_signature,
        "key_signature": key_signature,
        # None (unknown) when pitched notes play on no program the file chose (players default to
        # the piano); [] when there are no pitched notes.
        "instruments": [program_name(int(p)) for p in programs] if piece.programs_declared or not len(programs)
        else None,
        "has_drums": bool(drums.any()),
        "ticks_per_beat": int(score.ticks_per_quarter),
    }
