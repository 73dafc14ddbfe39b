"""Note-level tokens (as Amadeus models music): one row of 8 attribute ids per note.

    type        0 = the note is in the same bar as the one before; otherwise it opens a bar `skip`
                bars after the previous note's bar (1..MAX_BAR_SKIP) whose time signature is `ts`
    beat        grid position inside its bar (tokenize.grid steps per quarter)
    chord       the chord of the beat the note starts in, by our chord annotator (music/chords.py;
                120 chords and "N")
    tempo       the REMI tempo bin in force at the note's onset
    instrument  General MIDI program, drums 128 (as REMI's Program)
    pitch       MIDI pitch
    duration    REMI duration bin
    velocity    REMI velocity bin

Every attribute has its own id range (after the special tokens, before the condition tokens), so a
note is 8 ids that no other attribute uses and a token shard row is the notes' rows flattened (the
stride, 8, is in tokenizer.json). Notes are ordered as REMI orders them: time, program, pitch,
duration, velocity.

What decoding keeps: everything REMI keeps at the grid (onsets, duration and velocity bins,
programs, tempo bins, time signatures at bar lines), except that a run of more than
MAX_BAR_SKIP - 1 empty bars is shortened to that many, a time signature change inside empty bars
takes effect at the next bar with a note, and a tempo change shows only at the next note. Chords
are read, not written: they tell the model the harmony it is in, and decoding ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import symusic

from symcorpus.config import TokenizeSettings
from symcorpus.music.chords import CHORD_NAMES, NO_CHORD, window_chord_indices, windows
from symcorpus.music.features import metric_grid
from symcorpus.music.instruments import DRUMS, GM_PROGRAMS
from symcorpus.music.notes import note_columns, note_table
from symcorpus.tokenizers import remi
from symcorpus.tokenizers.conditions import INSTRUMENT_ALIASES, fold
from symcorpus.tokenizers.special import SPECIAL_TOKENS

ATTRIBUTES: tuple[str, ...] = ("type", "beat", "chord", "tempo", "instrument", "pitch", "duration", "velocity")
STRIDE = len(ATTRIBUTES)
TYPE, BEAT, CHORD, TEMPO, INSTRUMENT, PITCH, DURATION, VELOCITY = range(STRIDE)
MAX_BAR_SKIP = 4  # a note may open a bar up to this many bars after the previous note's bar
SAME_BAR = 0  # the type value of a note in the previous note's bar
DEFAULT_QPM = 120.0  # the MIDI default, before a file's first tempo event


class NoteVocab:
    """Id ranges of the 8 attributes, and REMI's bins (one RemiVocab holds them)."""

    def __init__(self, settings: TokenizeSettings, offset: int = len(SPECIAL_TOKENS)) -> None:
        self.bins = remi.RemiVocab(settings, offset)  # only its bins and lookups; its ids are not used
        self.grid = self.bins.grid
        self.n_ts = len(self.bins.time_signatures)
        self.sizes = (1 + MAX_BAR_SKIP * self.n_ts, settings.positions, len(CHORD_NAMES) + 1, len(self.bins.tempos),
                      129, 128, len(self.bins.durations), len(self.bins.velocities))
        self.starts = tuple(int(s) for s in np.cumsum((offset,) + self.sizes[:-1]))
        self.offset = offset
        self.size = self.starts[-1] + self.sizes[-1]  # first id after the note tokens

    def ranges(self) -> list[tuple[int, int]]:
        """(first id, number of values) per attribute, in ATTRIBUTES order."""
        return list(zip(self.starts, self.sizes))

    def bar_type(self, skip: int, ts: int) -> int:
        """The type value of a note opening a bar `skip` bars on, in time signature index `ts`."""
        return 1 + (skip - 1) * self.n_ts + ts

    def names(self) -> list[str]:
        """Readable names of the note tokens, in id order from `offset`."""
        names = ["Type_SameBar"]
        names += [f"Type_Bar+{skip}_{n}/{d}" for skip in range(1, MAX_BAR_SKIP + 1)
                  for n, d in self.bins.time_signatures]
        names += [f"Beat_{p}" for p in range(self.sizes[BEAT])]
        names += [f"Chord_{c}" for c in (*CHORD_NAMES, NO_CHORD)]
        names += [f"Tempo_{t:g}" for t in self.bins.tempos]
        names += [f"Instrument_{p}" for p in range(128)] + ["Instrument_Drums"]
        names += [f"Pitch_{p}" for p in range(128)]
        names += [f"Duration_{d / self.grid:g}" for d in self.bins.durations]
        names += [f"Velocity_{v}" for v in self.bins.velocities]
        return names

    def value_of(self, attribute: str, value: str | int | float) -> int:
        """The token id of a readable attribute value, for holding it fixed while sampling: an
        instrument by GM name or program ("Violin", 40, "Drums"), a pitch, a velocity or tempo (the
        nearest bin), a duration in quarters (the nearest bin), a beat (grid steps), a chord name.
        ValueError for an attribute or value this vocabulary has no token for."""
        if attribute not in ATTRIBUTES:
            raise ValueError(f"--fix {attribute}: not a note attribute ({', '.join(ATTRIBUTES)})")
        k = ATTRIBUTES.index(attribute)
        text = str(value).strip()
        if attribute == "instrument":
            names = {fold(n): i for i, n in enumerate(GM_PROGRAMS)} | {fold(DRUMS): remi.DRUM_PROGRAM}
            alias = INSTRUMENT_ALIASES.get(fold(text))
            index = names.get(fold(alias)) if alias else names.get(fold(text))
            if index is None and text.isdigit() and int(text) <= remi.DRUM_PROGRAM:
                index = int(text)
        elif attribute == "chord":
            names = [*CHORD_NAMES, NO_CHORD]
            index = names.index(text) if text in names else None
        elif attribute == "type":
            index = SAME_BAR if fold(text) in ("same", "samebar", "0") else None
        else:
            index = _number_index(attribute, text, self)
        if index is None or not 0 <= index < self.sizes[k]:
            raise ValueError(f"--fix {attribute}={text}: no such {attribute} in the vocabulary")
        return self.starts[k] + int(index)


def opening_lines(vocab: NoteVocab, conditions) -> list[list[int]]:
    """[condition id, type id] for each time-signature condition (a ConditionVocab's) that the
    vocabulary has a bar type for: the type of a note opening a bar in that time signature. The
    note-level model reads the condition as the bar line before the piece (NoteConfig.opening_lines)."""
    pairs = []
    for name, condition in conditions.ids.get("time_signature", {}).items():
        numerator, _, denominator = name.partition("/")
        if not (numerator.isdigit() and denominator.isdigit()):
            continue  # the family's unknown token
        ts = vocab.bins.ts_index.get((int(numerator), int(denominator)))
        if ts is not None:
            pairs.append([int(condition), vocab.starts[TYPE] + vocab.bar_type(1, ts)])
    return pairs


def _number_index(attribute: str, text: str, vocab: NoteVocab) -> int | None:
    try:
        x = float(text)
    except ValueError:
        return None
    bins = vocab.bins
    if attribute == "velocity":
        return int(bins.velocity_lut[int(np.clip(round(x), 0, 127))])
    if attribute == "tempo":
        return int(bins.tempo_bins(np.array([x]))[0])
    if attribute == "duration":
        return int(remi.nearest_index(bins.durations, np.array([x * vocab.grid]))[0])
    return int(x) if x == int(x) else None  # beat, pitch


@dataclass
class NoteEncoding:
    rows: np.ndarray  # (n_notes, 8) int32 token ids
    bar: np.ndarray  # bar index of each note
    bar_ts: np.ndarray  # time signature index of each note's bar


def note_chords(score: symusic.Score, onset_ticks: np.ndarray) -> np.ndarray:
    """Chord index (into CHORD_NAMES; len(CHORD_NAMES) for "N") of the beat each onset falls in,
    from the chord annotator's per-beat chords."""
    table = note_table(score)
    _, beats, end = metric_grid(score, table)
    if len(beats) == 0:
        return np.full(len(onset_ticks), len(CHORD_NAMES), dtype=np.int64)
    chords = window_chord_indices(table, *windows(beats, end))
    beat = np.clip(np.searchsorted(beats, onset_ticks, side="right") - 1, 0, len(beats) - 1)
    found = chords[beat]
    return np.where(found >= 0, found, len(CHORD_NAMES))


def encode_score(score: symusic.Score, vocab: NoteVocab) -> NoteEncoding:
    """One row per note of the score (any ticks per quarter)."""
    bins = vocab.bins
    tpq = max(int(score.ticks_per_quarter), 1)
    notes = note_columns(score)  # unsorted: sorted below by the note order
    if len(notes["onset"]) == 0:
        empty = np.empty(0, dtype=np.int64)
        return NoteEncoding(np.empty((0, STRIDE), dtype=np.int32), empty, empty)
    onset = bins.to_grid(notes["onset"], tpq)
    steps = np.minimum(bins.to_grid(np.maximum(notes["duration"], 0), tpq), len(bins.duration_lut) - 1)
    duration = bins.duration_lut[steps]
    velocity = bins.velocity_lut[np.maximum(notes["velocity"], 0)]
    pitch = np.maximum(notes["pitch"], 0).astype(np.int64)
    program = np.where(notes["is_drum"], remi.DRUM_PROGRAM, notes["program"] & 127).astype(np.int64)
    order = np.lexsort((velocity, duration, pitch, program, onset))
    onset, duration, velocity, pitch, program = (a[order] for a in (onset, duration, velocity, pitch, program))
    end = int(onset[-1])
    if end >= remi.MAX_GRID_TIME:
        raise remi.PieceTooLong(f"last onset at {end / vocab.grid:.0f} quarters")

    bar_time, bar_ts = remi.bar_grid(bins, score, tpq, end)
    bar = np.searchsorted(bar_time, onset, side="right") - 1
    tempo_time, tempo_bin = remi.tempo_changes(bins, score, tpq, end)
    default_tempo = int(bins.tempo_bins(np.array([DEFAULT_QPM]))[0])
    at = np.searchsorted(tempo_time, onset, side="right") - 1
    tempo = np.where(at >= 0, tempo_bin[np.maximum(at, 0)] if len(tempo_bin) else default_tempo, default_tempo)

    previous = np.concatenate([[-1], bar[:-1]])
    skip = np.minimum(bar - previous, MAX_BAR_SKIP)
    kind = np.where(skip > 0, 1 + (np.maximum(skip, 1) - 1) * vocab.n_ts + bar_ts[bar], SAME_BAR)
    values = np.stack([kind, onset - bar_time[bar], note_chords(score, notes["onset"][order]), tempo, program,
                       pitch, duration, velocity], axis=1)
    rows = (values + np.asarray(vocab.starts)[None, :]).astype(np.int32)
    return NoteEncoding(rows, bar, bar_ts[bar])


def chunk_rows(encoding: NoteEncoding, vocab: NoteVocab, max_notes: int) -> list[np.ndarray]:
    """A piece's rows in chunks of at most `max_notes` notes, cut where a bar opens (a bar longer
    than that is cut between notes), flattened. The first note of every later chunk opens a bar one
    bar on, so each chunk decodes on its own."""
    rows = encoding.rows
    n = len(rows)
    if n == 0:
        return []
    opens = np.flatnonzero(rows[:, TYPE] != vocab.starts[TYPE] + SAME_BAR)
    cuts, start = [], 0
    while n - start > max_notes:
        fits = opens[(opens > start) & (opens <= start + max_notes)]
        cut = int(fits[-1]) if len(fits) else start + max_notes
        cuts.append(cut)
        start = cut
    chunks = []
    for a, b in zip([0] + cuts, cuts + [n]):
        chunk = rows[a:b].copy()
        if a > 0:
            chunk[0, TYPE] = vocab.starts[TYPE] + vocab.bar_type(1, int(encoding.bar_ts[a]))
        chunks.append(chunk.reshape(-1))
    return chunks


def decode_rows(tokens, vocab: NoteVocab) -> remi.DecodedPiece:
    """Note rows (flat ids, a multiple of 8; a row with an id outside its attribute's range, such
    as a special token, is dropped) back to grid-time events."""
    bins = vocab.bins
    t = np.asarray(tokens, dtype=np.int64)
    t = t[: len(t) // STRIDE * STRIDE].reshape(-1, STRIDE)
    values = t - np.asarray(vocab.starts)[None, :]
    t = values[((values >= 0) & (values < np.asarray(vocab.sizes)[None, :])).all(axis=1)]
    kind = t[:, TYPE]
    skip = np.where(kind > 0, (kind - 1) // vocab.n_ts + 1, 0)
    if len(skip):
        skip[0] = max(skip[0], 1)  # a piece starts in a bar
    ts_new = np.where(kind > 0, (kind - 1) % vocab.n_ts, -1)
    bar = np.cumsum(skip) - 1
    n_bars = int(bar[-1]) + 1 if len(bar) else 1
    bar_ts = np.full(n_bars, -1, dtype=np.int64)
    opened = skip > 0
    bar_ts[bar[opened]] = ts_new[opened]
    filled = np.maximum.accumulate(np.where(bar_ts >= 0, np.arange(n_bars), -1))
    bar_ts = np.where(filled >= 0, bar_ts[np.maximum(filled, 0)], bins.default_ts)
    bar_start = np.concatenate([[0], np.cumsum(bins.ts_steps[bar_ts])[:-1]])
    time = bar_start[bar] + t[:, BEAT] if len(t) else np.empty(0, dtype=np.int64)
    notes = {"time": time, "duration": bins.durations[t[:, DURATION]], "pitch": t[:, PITCH],
             "velocity": bins.velocities[t[:, VELOCITY]], "program": t[:, INSTRUMENT]}
    change = np.flatnonzero(np.append(True, t[1:, TEMPO] != t[:-1, TEMPO])) if len(t) else np.empty(0, np.int64)
    tempos = (time[change], bins.tempos[t[change, TEMPO]])
    signatures = []
    for b in np.flatnonzero(np.append(True, bar_ts[1:] != bar_ts[:-1])):
        n, d = bins.time_signatures[int(bar_ts[b])]
        signatures.append((int(bar_start[b]), n, d))
    return remi.DecodedPiece(notes, tempos, signatures)


def decode_to_midi(tokens, vocab: NoteVocab) -> bytes:
    return remi.to_score(decode_rows(tokens, vocab), vocab.grid).dumps_midi()
