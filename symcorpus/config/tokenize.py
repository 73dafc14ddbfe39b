"""Tokenizer settings (params.yaml `tokenize:`).

Why a grid of 12 positions per quarter: it holds 16ths (3 steps), 8th triplets (4 steps) and 16th
triplets (2 steps) exactly, which music21's folk tunes and classical scores use all the time; 8 per
quarter would round every triplet, 4 (Amadeus' pop grid) every 16th triplet and 8th triplet too.
32nds fall between steps and are rounded (1.5 steps): they are rare outside ornaments. 24 would hold
them, at twice the positions and durations in the vocabulary for little gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from symcorpus.config.base import Section


@dataclass
class TokenizeSettings(Section):
    where = "tokenize"
    # REMI+ grid: positions per quarter note. Onsets and durations are rounded to it.
    grid: int = 12
    # Time signatures in the vocabulary: these denominators, numerators up to `max_numerator`, bars of
    # at most `max_bar_quarters` quarters (Position tokens cover the longest bar). Others become 4/4.
    time_signature_denominators: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    max_numerator: int = 32
    max_bar_quarters: int = 12
    # Velocity bins: MidiTok's 32 values (linspace(0, 127, 33)[1:], truncated), nearest wins.
    velocities: int = 32
    # Duration bins as [from_quarters, to_quarters, divisions per quarter] rows, like MidiTok's
    # beat_res: every k/divisions with from <= k/divisions < to, and the last row's `to` (the longest
    # duration: 16 quarters by default). Divisions must divide `grid`.
    durations: list[list[int]] = field(default_factory=lambda: [[0, 4, 12], [4, 8, 4], [8, 16, 1]])
    # Tempo bins: geometric from tempo_min, ratio tempo_ratio, up to tempo_max (Amadeus: 30-390, 1.04).
    tempo_min: float = 30.0
    tempo_max: float = 390.0
    tempo_ratio: float = 1.04
    # Notes left out before tokenizing (tokenizers/note_filter.py), off by default: MIDI pitches
    # outside [low, high] (the amd recipe: Amadeus keeps 12-119), and with drop_zero_length, notes
    # shorter than half a grid step (otherwise they get the shortest duration).
    pitch_range: list[int] = field(default_factory=lambda: [0, 127])
    drop_zero_length: bool = False
    # Longest training sequence: [bos] + conditions + [sep] + tokens + [eos]. Longer pieces are split
    # at bar boundaries so that every chunk fits.
    max_seq_len: int = 1024
    # Share of training examples given without conditions (classifier-free style), read by training.
    condition_dropout: float = 0.1
    # Of the examples that keep their conditions, the share of each family (key, tempo, ...) shown
    # as unknown instead, so that a prompt naming only some families is like what training saw.
    family_dropout: float = 0.25
    # A label value seen fewer times than this in the corpus gets the family's unknown token.
    condition_min_count: int = 1
    # Instrument slots in the conditions (top instruments of a piece; empty slots get <none>).
    max_instruments: int = 5
    # ABC: the tokenizer takes ABC tunes and MusicXML scores (through xml2abc; MIDI records are rejects
    # with reason not_abc), and optional BPE over the characters (0 = character level).
    abc_max_annotation: int = 40  # quoted text annotations longer than this are dropped (NotaGen)
    # How ABC is normalized: "symcorpus" (tokenizers/abc.py) or "notagen" (NotaGen's own cleaning and
    # interleaving through abctoolkit, tokenizers/notagen.py).
    abc_style: str = "symcorpus"
    # NotaGen's fine-tuning prompt: %Period, %Composer, %Instrumentation lines before every tune.
    abc_prompt: bool = False
    # notagen style: each piece in all 15 key signatures too (NotaGen's augmentation), as more chunks.
    abc_all_keys: bool = False
    bpe_vocab_size: int = 0
    bpe_min_frequency: int = 2
    bpe_max_pieces: int = 100_000  # pieces the BPE is trained on (an even spread over the corpus)
    # Token shards of about this size (int32 tokens, before compression).
    shard_bytes: int = 128 * 2**20

    def validate(self) -> None:
        self.check(self.grid >= 1, "grid", "must be at least 1")
        for row in self.durations:
            self.check(len(row) == 3 and row[0] < row[1] and row[2] >= 1, "durations",
                       f"bad row {row} (want [from, to, divisions])")
            self.check(self.grid % row[2] == 0, "durations", f"{row[2]} divisions do not divide the grid {self.grid}")
        self.check(0 < self.tempo_min < self.tempo_max and self.tempo_ratio > 1, "tempo_min",
                   "need 0 < tempo_min < tempo_max and tempo_ratio > 1")
        self.check(1 <= self.velocities <= 127, "velocities", "must be in 1..127")
        self.check(len(self.pitch_range) == 2 and 0 <= self.pitch_range[0] <= self.pitch_range[1] <= 127,
                   "pitch_range", "must be [low, high] with 0 <= low <= high <= 127")
        self.check(0.0 <= self.condition_dropout <= 1.0, "condition_dropout", "must be in [0, 1]")
        self.check(0.0 <= self.family_dropout <= 1.0, "family_dropout", "must be in [0, 1]")
        self.check(self.max_seq_len >= 32, "max_seq_len", "must be at least 32")
        self.check(all(d >= 1 and not d & (d - 1) for d in self.time_signature_denominators),
                   "time_signature_denominators", "must be powers of two")
        self.check(all(4 * self.grid % d == 0 for d in self.time_signature_denominators),
                   "time_signature_denominators",
                   "a bar of every time signature must be whole grid steps (4 * grid divisible by each)")
        self.check(self.max_instruments >= 1, "max_instruments", "must be at least 1")
        self.check(self.abc_style in ("symcorpus", "notagen"), "abc_style", "must be symcorpus or notagen")
        self.check(not self.abc_all_keys or self.abc_style == "notagen", "abc_all_keys",
                   "transposes NotaGen-style ABC only (set abc_style: notagen)")

    # Bins derived from the settings, shared by the tokenizer and the tests' reference quantizer.

    def velocity_values(self) -> list[int]:
        step = 127 / self.velocities
        return [int(math.floor(i * step + 1e-9)) for i in range(1, self.velocities + 1)]

    def duration_steps(self) -> list[int]:
        """Allowed durations in grid steps, ascending."""
        steps: set[int] = set()
        for start, stop, divisions in self.durations:
            unit = self.grid // divisions
            k = math.ceil(start * divisions)
            while k < stop * divisions:
                if k > 0:
                    steps.add(k * unit)
                k += 1
        steps.add(int(max(row[1] for row in self.durations) * self.grid))
        return sorted(steps)

    def tempo_values(self) -> list[float]:
        n = int(math.floor(math.log(self.tempo_max / self.tempo_min) / math.log(self.tempo_ratio) + 1e-9)) + 1
        return [round(self.tempo_min * self.tempo_ratio**k, 2) for k in range(n)]

    def time_signatures(self) -> list[tuple[int, int]]:
        """(numerator, denominator) pairs, by denominator then numerator."""
        return [
            (n, d)
            for d in sorted(self.time_signature_denominators)
            for n in range(1, self.max_numerator + 1)
            if n * 4 <= self.max_bar_quarters * d
        ]

    @property
    def positions(self) -> int:
        return self.max_bar_quarters * self.grid
