"""Transposition and tempo augmentation of REMI token rows, with their key and tempo conditions.

A corpus ties some condition values to others: music21's chorales are all Voice Oohs at an Allegro
tempo token, so a model learns "tempo token -> instrument" from the music it has written so far and
ignores the instruments condition when asked for a slow chorale. Shifting each row's pitches by a few
semitones and its Tempo tokens by a few bins (ratio 1.04 each) shows every piece in more keys and
tempos; the key and tempo condition tokens move with it, so the conditions stay true.

Plain arrays only (`Augmentation.to_dict()` travels to Ray tasks); the shifts per row come from the
caller (train/data.py draws them from a hash, so an epoch is the same on every machine).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from symcorpus.arrays import list_array, list_parts
from symcorpus.music.keys import PITCH_NAMES, abc_key
from symcorpus.music.labels import tempo_word
from symcorpus.tokenizers.conditions import UNKNOWN

_NO_TEMPO = -1


@dataclass(frozen=True)
class Augmentation:
    """What shifting needs from a REMI tokenizer, as plain ints and lists."""

    max_semitones: int
    max_tempo_bins: int
    pitch0: int  # first Pitch token (Pitch_0)
    tempo0: int  # first Tempo token
    n_tempos: int
    program0: int  # first Program token; Program_Drums is program0 + 128
    key_slot: int  # position of the key condition among a row's condition tokens
    tempo_slot: int
    n_slots: int
    key_pc: tuple[int, ...]  # per key condition token (from key_token0): tonic pitch class, -1 if none
    key_token0: int
    key_by_pc: tuple[int, ...]  # 24 condition tokens: C major .. B major, C minor .. B minor
    tempo_word_token: tuple[int, ...]  # per tempo bin: the condition token of its tempo word
    tempo_unknown: int  # the tempo family's unknown token

    @classmethod
    def of(cls, tokenizer, max_semitones: int, max_tempo_bins: int) -> Augmentation:
        if tokenizer.kind != "remi":
            raise ValueError(f"pitch and tempo augmentation need REMI tokens, not {tokenizer.kind!r}")
        vocab, conditions = tokenizer.remi, tokenizer.conditions
        key_ids = conditions.ids["key"]
        key_token0 = min(key_ids.values())
        key_pc = [-1] * (max(key_ids.values()) - key_token0 + 1)
        for name, token in key_ids.items():
            key = abc_key(name) if name != UNKNOWN else None
            if key is not None:
                key_pc[token - key_token0] = key.tonic + (12 if key.minor else 0)
        key_by_pc = [conditions.ids["key"].get(f"{PITCH_NAMES[pc % 12]} {'minor' if pc >= 12 else 'major'}",
                                               conditions.unknown("key")) for pc in range(24)]
        tempo_ids = conditions.ids["tempo"]
        words = [tempo_word(float(bpm)) for bpm in vocab.tempos]
        return cls(int(max_semitones), int(max_tempo_bins), vocab.pitch0, vocab.tempo0, len(vocab.tempos),
                   vocab.program0, conditions.family_slots("key")[0], conditions.family_slots("tempo")[0],
                   conditions.length, tuple(key_pc), key_token0, tuple(key_by_pc),
                   tuple(tempo_ids.get(w, conditions.unknown("tempo")) for w in words), conditions.unknown("tempo"))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Augmentation:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def draw(self, uniform_pitch: np.ndarray, uniform_tempo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shifts per row from two uniforms in [0, 1): semitones in [-max, max], tempo bins likewise."""
        s = np.floor(uniform_pitch * (2 * self.max_semitones + 1)).astype(np.int64) - self.max_semitones
        t = np.floor(uniform_tempo * (2 * self.max_tempo_bins + 1)).astype(np.int64) - self.max_tempo_bins
        return s, t

    def apply(self, tokens: pa.Array, conditions: pa.Array, semitones: np.ndarray, tempo_bins: np.ndarray
              ) -> tuple[pa.Array, pa.Array]:
        """Rows of tokens and conditions with each row's pitched notes moved by semitones[i] and its
        Tempo tokens by tempo_bins[i] (clipped to the vocabulary). A row whose notes would leave
        0..127 is not transposed; drum notes never are. The key condition follows the transposition
        (by tonic and mode), the tempo condition becomes the word of the row's first Tempo token
        after the shift; unknown conditions stay unknown, and a row shifted by 0 keeps its own."""
        t_off, values = list_parts(tokens)
        values = values.astype(np.int64)
        n = len(t_off) - 1
        row = np.repeat(np.arange(n), np.diff(t_off))

        # Which Pitch tokens belong to drums: the latest Program token before each token.
        is_prog = (values >= self.program0) & (values <= self.program0 + 128)
        last = np.where(is_prog, np.arange(len(values)), -1)
        last = np.maximum.accumulate(last) if len(last) else last
        row_start = t_off[row]
        prog_of = np.where((last >= row_start) & (last >= 0), values[np.maximum(last, 0)], -1)
        pitch = values - self.pitch0
        pitched = (pitch >= 0) & (pitch < 128) & (prog_of != self.program0 + 128)
        semis = np.asarray(semitones, dtype=np.int64).copy()
        lo = np.full(n, 128, dtype=np.int64)
        hi = np.full(n, -1, dtype=np.int64)
        np.minimum.at(lo, row[pitched], pitch[pitched])
        np.maximum.at(hi, row[pitched], pitch[pitched])
        semis[(lo + semis < 0) | (hi + semis > 127)] = 0
        out = values.copy()
        out[pitched] += semis[row[pitched]]

        is_tempo = (values >= self.tempo0) & (values < self.tempo0 + self.n_tempos)
        shift = np.asarray(tempo_bins, dtype=np.int64)
        out[is_tempo] = self.tempo0 + np.clip(values[is_tempo] - self.tempo0 + shift[row[is_tempo]], 0,
                                              self.n_tempos - 1)
        first_tempo = np.full(n, _NO_TEMPO, dtype=np.int64)
        where = np.flatnonzero(is_tempo)[::-1]  # reversed, so the first Tempo of a row is written last
        first_tempo[row[where]] = out[where] - self.tempo0

        return list_array(t_off, out), self._conditions(conditions, semis, shift, first_tempo)

    def _conditions(self, conditions: pa.Array, semis: np.ndarray, shift: np.ndarray,
                    first_tempo: np.ndarray) -> pa.Array:
        c_off, c = list_parts(conditions)
        c = c.astype(np.int64)  # a copy: the condition tokens are rewritten in place
        rows = np.flatnonzero(np.diff(c_off) == self.n_slots)
        key_at = c_off[rows] + self.key_slot
        key = c[key_at] - self.key_token0
        key_pc = np.asarray(self.key_pc, dtype=np.int64)
        known = (key >= 0) & (key < len(key_pc))
        pc = np.where(known, key_pc[np.clip(key, 0, len(key_pc) - 1)], -1)
        move = (pc >= 0) & (semis[rows] != 0)
        moved = (pc[move] // 12) * 12 + (pc[move] % 12 + semis[rows][move]) % 12
        c[key_at[move]] = np.asarray(self.key_by_pc, dtype=np.int64)[moved]

        tempo_at = c_off[rows] + self.tempo_slot
        retempo = (shift[rows] != 0) & (first_tempo[rows] != _NO_TEMPO) & (c[tempo_at] != self.tempo_unknown)
        words = np.asarray(self.tempo_word_token, dtype=np.int64)
        c[tempo_at[retempo]] = words[first_tempo[rows][retempo]]
        return list_array(c_off, c)
