"""REMI+ for MIDI: Bar, TimeSig, Position, Tempo, Program, Pitch, Velocity, Duration tokens.

A piece is one stream: every bar opens with `Bar` (then `TimeSig` on the first bar and wherever the
signature changes); inside a bar, each onset time opens with `Position`, then tempo changes at that
time, then the notes, grouped by program (`Program` once per group, drums are program 128), each note
`Pitch Velocity Duration`. Notes are ordered by time, program, pitch, duration, velocity.

Encoding is vectorised numpy over the whole piece: every bar, tempo and note becomes an item with a
sort key, and the tokens of all items are written with a handful of fancy-index assignments.

What survives a round trip exactly ("lossless at the grid"), and the rules that define it:
- onsets and durations rounded to the grid (half up); durations snapped to the nearest duration bin
  (ties to the longer; zero-length notes get the shortest), longer ones clipped to the longest bin;
- velocities snapped to the nearest bin, tempos to the nearest bin in BPM (ties to the higher);
- programs per note (tracks of one program merge into one), drums as their own program;
- tempo changes: the last one at each grid time, repeats of the same bin dropped, changes after the
  last note onset dropped; time signature changes take effect at the next bar line of the current
  signature (one at a bar line stays there), repeats and changes after the last onset dropped,
  signatures outside the vocabulary become 4/4; before any signature, 4/4 (the MIDI default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import symusic

from symcorpus.music.instruments import program_name
from symcorpus.music.notes import note_columns
from symcorpus.config import TokenizeSettings
from symcorpus.tokenizers.special import SPECIAL_TOKENS

DRUM_PROGRAM = 128
DEFAULT_TIME_SIGNATURE = (4, 4)
# Sort keys hold grid times in 29 bits; a last onset this late (2.2M quarters at 12 per quarter) is
# a broken file, not music.
MAX_GRID_TIME = 1 << 28


class PieceTooLong(ValueError):
    pass

# Token kinds, in vocabulary order.
BAR, TIMESIG, POSITION, TEMPO, PROGRAM, PITCH, VELOCITY, DURATION = range(8)


def _changes(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """True where an element differs from the one before (in `a`, or in `b`), and at the first."""
    out = np.empty(len(a), dtype=bool)
    if len(a):
        out[0] = True
        np.not_equal(a[1:], a[:-1], out=out[1:])
        if b is not None:
            out[1:] |= b[1:] != b[:-1]
    return out


def nearest_index(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the nearest of the ascending `values` for each x; ties go to the higher value (as
    rounding half up does, and as MidiTok snaps velocities, durations and tempos)."""
    if len(values) < 2:
        return np.zeros(np.shape(x), dtype=np.int64)
    right = np.minimum(np.maximum(np.searchsorted(values, x, side="left"), 1), len(values) - 1)
    left = right - 1
    take_right = (values[right] - x) <= (x - values[left])
    return np.where(take_right, right, left)


class RemiVocab:
    """Token ids of the REMI+ vocabulary and the lookup tables encoding and decoding use."""

    def __init__(self, settings: TokenizeSettings, offset: int = len(SPECIAL_TOKENS)) -> None:
        settings.validate()
        self.settings = settings
        self.grid = settings.grid
        self.time_signatures = settings.time_signatures()
        self.ts_index = {ts: i for i, ts in enumerate(self.time_signatures)}
        if DEFAULT_TIME_SIGNATURE not in self.ts_index:
            raise ValueError("the time signature vocabulary must hold 4/4")
        self.default_ts = self.ts_index[DEFAULT_TIME_SIGNATURE]
        self.ts_steps = np.array([n * 4 * self.grid // d for n, d in self.time_signatures], dtype=np.int64)
        self.velocities = np.array(settings.velocity_values(), dtype=np.int64)
        self.durations = np.array(settings.duration_steps(), dtype=np.int64)
        self.tempos = np.array(settings.tempo_values(), dtype=np.float64)
        if len(self.durations) > 255 or len(self.velocities) > 255:
            raise ValueError("at most 255 duration and velocity bins")
        sizes = [1, len(self.time_signatures), settings.positions, len(self.tempos), 129, 128,
                 len(self.velocities), len(self.durations)]
        self.starts = np.cumsum([offset] + sizes[:-1]).astype(np.int64)
        self.offset = offset
        self.size = int(self.starts[-1] + sizes[-1])  # first id after the music tokens
        (self.bar, self.ts0, self.pos0, self.tempo0, self.program0, self.pitch0, self.velocity0,
         self.duration0) = (int(s) for s in self.starts)
        # Encoding lookups: velocity 0..127 -> bin, duration in steps -> bin (clipped at the end).
        self.velocity_lut = nearest_index(self.velocities, np.arange(128))
        self.duration_lut = nearest_index(self.durations, np.arange(int(self.durations[-1]) + 1))
        self.duration_lut[0] = 0
        # Decoding lookups: token id -> kind (-1 for non-music ids) and value index within the kind.
        self.kind_lut = np.full(self.size, -1, dtype=np.int64)
        self.value_lut = np.zeros(self.size, dtype=np.int64)
        for kind, (start, size) in enumerate(zip(self.starts, sizes)):
            self.kind_lut[start : start + size] = kind
            self.value_lut[start : start + size] = np.arange(size)
        self.sizes = sizes

    def names(self) -> list[str]:
        """Readable names of the music tokens, in id order from `offset`."""
        names = ["Bar"]
        names += [f"TimeSig_{n}/{d}" for n, d in self.time_signatures]
        names += [f"Position_{p}" for p in range(self.sizes[POSITION])]
        names += [f"Tempo_{t:g}" for t in self.tempos]
        names += [f"Program_{p}" for p in range(128)] + ["Program_Drums"]
        names += [f"Pitch_{p}" for p in range(128)]
        names += [f"Velocity_{v}" for v in self.velocities]
        names += [f"Duration_{d / self.grid:g}" for d in self.durations]
        return names

    def to_grid(self, ticks: np.ndarray, tpq: int) -> np.ndarray:
        """Ticks to grid steps, rounded half up (integer arithmetic: exact for any tpq)."""
        t = np.asarray(ticks, dtype=np.int64)
        return (t * (2 * self.grid) + tpq) // (2 * tpq)

    def tempo_bins(self, qpm: np.ndarray) -> np.ndarray:
        return nearest_index(self.tempos, np.asarray(qpm, dtype=np.float64))

    def ts_of(self, numerator: int, denominator: int) -> int:
        return self.ts_index.get((int(numerator), int(denominator)), self.default_ts)


@dataclass
class RemiEncoding:
    """A piece's tokens, with where each bar starts and the state a chunk from that bar needs."""

    tokens: np.ndarray  # int32 token ids
    bar_offsets: np.ndarray  # index in `tokens` of each Bar token
    bar_ts: np.ndarray  # TimeSig token id in force in each bar
    bar_tempo: np.ndarray  # Tempo token id in force when each bar starts (-1: none yet)
    n_notes: int


def _empty_encoding() -> RemiEncoding:
    empty = np.empty(0, dtype=np.int64)
    return RemiEncoding(np.empty(0, dtype=np.int32), empty, empty, empty, 0)


def _grid_time(vocab: RemiVocab, ticks: int, tpq: int) -> int:
    """One tick time to grid steps, rounded half up (as RemiVocab.to_grid)."""
    return (int(ticks) * 2 * vocab.grid + tpq) // (2 * tpq)


def bar_grid(vocab: RemiVocab, score: symusic.Score, tpq: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Bar start times (grid steps) covering 0..end, and the time signature index of each bar."""
    changes = sorted(  # stable: of two changes at one time, the later in the file wins
        ((_grid_time(vocab, ts.time, tpq), vocab.ts_of(ts.numerator, ts.denominator)) for ts in score.time_signatures),
        key=lambda change: change[0])
    seg_start, seg_ts = 0, vocab.default_ts
    segments: list[tuple[int, int]] = []
    for t, ts in changes:
        if t > end:
            break
        length = int(vocab.ts_steps[seg_ts])
        at = seg_start + -(-(t - seg_start) // length) * length  # the next bar line, or this one
        if at > end:
            break
        if at == seg_start:
            seg_ts = ts  # a change at the current segment's first bar line replaces it
            continue
        segments.append((seg_start, seg_ts))
        seg_start, seg_ts = at, ts
    segments.append((seg_start, seg_ts))
    starts, tss = [], []
    for i, (s, ts) in enumerate(segments):
        stop = segments[i + 1][0] if i + 1 < len(segments) else end + 1
        bars = np.arange(s, stop, vocab.ts_steps[ts], dtype=np.int64)
        starts.append(bars)
        tss.append(np.full(len(bars), ts, dtype=np.int64))
    return np.concatenate(starts), np.concatenate(tss)


def tempo_changes(vocab: RemiVocab, score: symusic.Score, tpq: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Tempo changes as (grid time, bin): last per time, repeats of a bin dropped, none after `end`."""
    if len(score.tempos) == 1:  # the common case, without the array work
        tempo = score.tempos[0]
        time = _grid_time(vocab, tempo.time, tpq)
        if time > end:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.array([time], dtype=np.int64), vocab.tempo_bins(np.array([6e7 / max(tempo.mspq, 1)]))
    raw = score.tempos.numpy()
    if len(raw["time"]) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    times = vocab.to_grid(raw["time"], tpq)
    order = np.argsort(times, kind="stable")
    times = times[order]
    bins = vocab.tempo_bins(6e7 / np.maximum(raw["mspq"][order].astype(np.float64), 1.0))
    last_of_time = _changes(times[::-1])[::-1]
    times, bins = times[last_of_time], bins[last_of_time]
    keep = (times <= end) & _changes(bins)
    return times[keep], bins[keep]


def encode_score(score: symusic.Score, vocab: RemiVocab) -> RemiEncoding:
    """The REMI+ tokens of a score (any ticks per quarter)."""
    tpq = max(int(score.ticks_per_quarter), 1)
    notes = note_columns(score)  # unsorted: the items below get their own sort key
    n = len(notes["onset"])
    if n == 0:
        return _empty_encoding()
    onset = vocab.to_grid(notes["onset"], tpq)
    steps = np.minimum(vocab.to_grid(np.maximum(notes["duration"], 0), tpq), len(vocab.duration_lut) - 1)
    duration = vocab.duration_lut[steps]
    # symusic keeps pitches and velocities in int8: 0..127 in any file it reads.
    velocity = vocab.velocity_lut[np.maximum(notes["velocity"], 0)]
    pitch = np.maximum(notes["pitch"], 0).astype(np.int64)
    program = np.where(notes["is_drum"], DRUM_PROGRAM, notes["program"] & 127).astype(np.int64)
    end = int(onset.max())
    if end >= MAX_GRID_TIME:
        raise PieceTooLong(f"last onset at {end / vocab.grid:.0f} quarters")

    bar_time, bar_ts = bar_grid(vocab, score, tpq, end)
    tempo_time, tempo_bin = tempo_changes(vocab, score, tpq, end)
    n_bars, n_tempos = len(bar_time), len(tempo_time)

    # One sort key for every item: time, then bars before tempos before notes, then the note order.
    note_key = (program << 24) | (pitch << 16) | (duration << 8) | velocity
    keys = np.concatenate([
        bar_time << 34,
        (tempo_time << 34) | (1 << 32),
        (onset << 34) | (2 << 32) | note_key,
    ])
    order = np.argsort(keys, kind="stable")
    kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), [n_bars, n_tempos, n])[order]
    src = np.concatenate([np.arange(n_bars), np.arange(n_tempos), np.arange(n)])[order]
    time = keys[order] >> 34

    is_bar, is_tempo, is_note = kind == 0, kind == 1, kind == 2
    # A Position token opens every new time among tempos and notes.
    other = ~is_bar
    other_time = time[other]
    need_pos = np.zeros(len(kind), dtype=bool)
    need_pos[other] = _changes(other_time)
    # A Program token opens every new (time, program) group of notes.
    note_idx = src[is_note]
    note_time, note_prog = onset[note_idx], program[note_idx]
    need_prog_notes = _changes(note_time, note_prog)
    ts_change = _changes(bar_ts)

    counts = np.zeros(len(kind), dtype=np.int64)
    counts[is_bar] = 1 + ts_change[src[is_bar]]
    counts[is_tempo] = 1
    counts[is_note] = 3 + need_prog_notes
    counts += need_pos
    offsets = np.cumsum(counts) - counts
    tokens = np.empty(int(counts.sum()), dtype=np.int64)

    bar_off = offsets[is_bar]
    tokens[bar_off] = vocab.bar
    tokens[bar_off[ts_change] + 1] = vocab.ts0 + bar_ts[ts_change]
    bar_of_item = np.searchsorted(bar_time, time, side="right") - 1
    tokens[offsets[need_pos]] = vocab.pos0 + (time - bar_time[bar_of_item])[need_pos]
    base = offsets + need_pos
    tokens[base[is_tempo]] = vocab.tempo0 + tempo_bin[src[is_tempo]]
    nb = base[is_note]
    tokens[nb[need_prog_notes]] = vocab.program0 + note_prog[need_prog_notes]
    nb = nb + need_prog_notes
    tokens[nb] = vocab.pitch0 + pitch[note_idx]
    tokens[nb + 1] = vocab.velocity0 + velocity[note_idx]
    tokens[nb + 2] = vocab.duration0 + duration[note_idx]

    # State for chunks: the tempo in force when each bar starts.
    before = np.searchsorted(tempo_time, bar_time, side="left") - 1
    bar_tempo = np.where(before >= 0, vocab.tempo0 + tempo_bin[np.maximum(before, 0)], -1) if n_tempos else \
        np.full(n_bars, -1, dtype=np.int64)
    return RemiEncoding(tokens.astype(np.int32), bar_off, vocab.ts0 + bar_ts, bar_tempo, n)


def chunk_encoding(encoding: RemiEncoding, vocab: RemiVocab, budget: int) -> list[np.ndarray]:
    """Split a piece's tokens at bar lines into chunks of at most `budget` tokens.

    Every chunk after the first starts with its bar's Bar and TimeSig tokens and, when a tempo is in
    force but not restated at the bar's first position, `Position_0 Tempo`, so each chunk decodes on
    its own. A single bar longer than the budget is cut at Position tokens (or, failing that, hard).
    """
    tokens = encoding.tokens
    if len(tokens) <= budget:
        return [tokens] if len(tokens) else []
    bounds = np.append(encoding.bar_offsets, len(tokens))
    chunks: list[np.ndarray] = []
    current: list[np.ndarray] = []
    size = 0
    for b in range(len(encoding.bar_offsets)):
        bar = tokens[bounds[b] : bounds[b + 1]]
        if size + len(bar) > budget and current:
            chunks.append(np.concatenate(current))
            current, size = [], 0
        if not current and chunks:
            bar = _restate(bar, int(encoding.bar_ts[b]), int(encoding.bar_tempo[b]), vocab)
        if len(bar) > budget:
            pieces = _cut_bar(bar, vocab, budget)
            chunks.extend(pieces[:-1])
            bar = pieces[-1]
        current.append(bar)
        size += len(bar)
    if current:
        chunks.append(np.concatenate(current))
    return chunks


def _restate(bar: np.ndarray, ts_token: int, tempo_token: int, vocab: RemiVocab) -> np.ndarray:
    """A bar's tokens with its time signature and the tempo in force made explicit."""
    head = [vocab.bar]
    rest = bar[1:]
    if len(rest) and vocab.ts0 <= rest[0] < vocab.pos0:
        head.append(int(rest[0]))
        rest = rest[1:]
    else:
        head.append(ts_token)
    if tempo_token >= 0:
        starts_at_zero = len(rest) and rest[0] == vocab.pos0
        has_tempo = starts_at_zero and len(rest) > 1 and vocab.tempo0 <= rest[1] < vocab.program0
        if not has_tempo:
            head += [vocab.pos0, tempo_token]
            if starts_at_zero:
                rest = rest[1:]
    return np.concatenate([np.array(head, dtype=np.int32), rest.astype(np.int32)])


def _cut_bar(bar: np.ndarray, vocab: RemiVocab, budget: int) -> list[np.ndarray]:
    """An oversized bar cut before Position tokens where possible, each piece <= budget."""
    positions = np.flatnonzero((bar >= vocab.pos0) & (bar < vocab.tempo0))
    pieces, start = [], 0
    while len(bar) - start > budget:
        limit = start + budget
        cands = positions[(positions > start) & (positions <= limit)]
        cut = int(cands[-1]) if len(cands) else limit
        pieces.append(bar[start:cut])
        start = cut
    pieces.append(bar[start:])
    return pieces


# --------------------------------------------------------------------------------------------------
# Decoding


@dataclass
class DecodedPiece:
    """What tokens say, on the grid: notes (time, duration in steps, pitch, velocity, program),
    tempo changes (time, qpm) and time signature changes (time, numerator, denominator)."""

    notes: dict[str, np.ndarray]
    tempos: tuple[np.ndarray, np.ndarray]
    time_signatures: list[tuple[int, int, int]]


def decode_tokens(tokens, vocab: RemiVocab) -> DecodedPiece:
    """Tokens (ids; specials and condition tokens ignored) back to grid-time events.

    Tolerant of what a model may write: a Pitch not followed by Velocity and Duration is dropped,
    tokens before the first Bar belong to the first bar, a note before any Program is a piano note.
    """
    t = np.asarray(tokens, dtype=np.int64)
    t = t[(t >= 0) & (t < vocab.size)]
    kind = vocab.kind_lut[t]
    keep = kind >= 0
    t, kind = t[keep], kind[keep]
    value = vocab.value_lut[t]
    idx = np.arange(len(t))

    is_bar = kind == BAR
    bar_id = np.maximum(np.cumsum(is_bar) - 1, 0)
    n_bars = max(int(is_bar.sum()), 1)
    bar_ts = np.full(n_bars, -1, dtype=np.int64)
    ts_at = kind == TIMESIG
    bar_ts[bar_id[ts_at]] = value[ts_at]
    filled = np.maximum.accumulate(np.where(bar_ts >= 0, np.arange(n_bars), -1))
    bar_ts = np.where(filled >= 0, bar_ts[np.maximum(filled, 0)], vocab.default_ts)
    bar_len = vocab.ts_steps[bar_ts]
    bar_start = np.concatenate([[0], np.cumsum(bar_len)[:-1]])

    last_pos = np.maximum.accumulate(np.where(kind == POSITION, idx, -1))
    in_bar = (last_pos >= 0) & (bar_id[np.maximum(last_pos, 0)] == bar_id)
    time = bar_start[bar_id] + np.where(in_bar, value[np.maximum(last_pos, 0)], 0)
    last_prog = np.maximum.accumulate(np.where(kind == PROGRAM, idx, -1))
    program = np.where(last_prog >= 0, value[np.maximum(last_prog, 0)], 0)

    if len(t) >= 3:
        starts = np.flatnonzero((kind[:-2] == PITCH) & (kind[1:-1] == VELOCITY) & (kind[2:] == DURATION))
    else:
        starts = np.empty(0, dtype=np.int64)
    notes = {
        "time": time[starts],
        "duration": vocab.durations[value[starts + 2]],
        "pitch": value[starts],
        "velocity": vocab.velocities[value[starts + 1]],
        "program": program[starts],
    }
    tempo_at = np.flatnonzero(kind == TEMPO)
    tempos = (time[tempo_at], vocab.tempos[value[tempo_at]])
    signatures: list[tuple[int, int, int]] = []
    for b in np.flatnonzero(np.append(True, bar_ts[1:] != bar_ts[:-1])):
        n, d = vocab.time_signatures[int(bar_ts[b])]
        signatures.append((int(bar_start[b]), n, d))
    return DecodedPiece(notes, tempos, signatures)


def output_tpq(grid: int) -> int:
    """Ticks per quarter of decoded MIDI: a multiple of the grid near 480."""
    return grid * max(1, 480 // grid)


def _layers(time: np.ndarray, duration: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """A layer per note so that no two notes of one pitch overlap within a layer: MIDI cannot pair
    note-ons with note-offs of overlapping same-pitch notes on one track (the merged tracks of one
    program can have them)."""
    layer = np.zeros(len(time), dtype=np.int64)
    todo = np.arange(len(time))
    level = 0
    while len(todo):
        order = todo[np.lexsort((duration[todo], time[todo], pitch[todo]))]
        span = int((time[order] + duration[order]).max()) + 1
        start = pitch[order].astype(np.int64) * span + time[order]
        ends = np.maximum.accumulate(pitch[order].astype(np.int64) * span + time[order] + duration[order])
        overlaps = np.append(False, start[1:] < ends[:-1])
        layer[order] = level
        todo = order[overlaps]
        level += 1
    return layer


def to_score(piece: DecodedPiece, grid: int) -> symusic.Score:
    """A decoded piece as a symusic score: a track per program (drums last), in ticks; a program
    whose notes of one pitch overlap gets more tracks."""
    tpq = output_tpq(grid)
    factor = tpq // grid
    score = symusic.Score(tpq)
    notes = piece.notes
    for program in np.unique(notes["program"]):
        mask = notes["program"] == program
        time, duration, pitch = notes["time"][mask], notes["duration"][mask], notes["pitch"][mask]
        velocity = notes["velocity"][mask]
        layer = _layers(time, duration, pitch)
        drum = int(program) == DRUM_PROGRAM
        for level in range(int(layer.max()) + 1):
            sel = np.flatnonzero(layer == level)
            sel = sel[np.lexsort((pitch[sel], time[sel]))]
            track = symusic.Track("Drums" if drum else program_name(int(program)), 0 if drum else int(program), drum)
            track.notes = symusic.Note.from_numpy(
                (time[sel] * factor).astype(np.int32),
                (duration[sel] * factor).astype(np.int32),
                pitch[sel].astype(np.int8),
                velocity[sel].astype(np.int8),
            )
            score.tracks.append(track)
    times, qpm = piece.tempos
    if len(times):
        score.tempos = symusic.Tempo.from_numpy(
            (times * factor).astype(np.int32), np.round(6e7 / qpm).astype(np.int32))
    if piece.time_signatures:
        ts = np.array(piece.time_signatures, dtype=np.int64)
        score.time_signatures = symusic.TimeSignature.from_numpy(
            (ts[:, 0] * factor).astype(np.int32), ts[:, 1].astype(np.uint8), ts[:, 2].astype(np.uint8))
    return score


def decode_to_midi(tokens, vocab: RemiVocab) -> bytes:
    return to_score(decode_tokens(tokens, vocab), vocab.grid).dumps_midi()
