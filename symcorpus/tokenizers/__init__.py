"""Tokenizers: REMI+ for MIDI, ABC (characters or BPE) for scores, condition tokens from the labels.

One vocabulary per tokenizer: ids 0..3 are <pad> <bos> <eos> <sep>, then the music tokens, then the
condition tokens. A training sequence is [bos] + conditions + [sep] + tokens + [eos] (an unconditional
one, for condition dropout, [bos] + [sep] + tokens + [eos]); chunks are cut so that it fits in
`max_seq_len`.

    tok = load_tokenizer(TOK_DIR)           # TOK_DIR/tokenizer.json, written by `symcorpus tokenize`
    tok.encode_prompt('composer=Chopin key="E minor"')   # condition tokens
    tok.decode(music_tokens)                # MIDI bytes (remi) or ABC text bytes (abc)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from symcorpus.errors import ReasonError
from symcorpus.tokenizers import abc as abc_tok
from symcorpus.tokenizers.conditions import FAMILIES, ConditionVocab
from symcorpus.config import TokenizeSettings
from symcorpus.tokenizers.special import BOS_ID, EOS_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS

# `remi` and `notes` (and so symusic) are imported where a MIDI tokenizer needs them: conditions,
# special tokens and the ABC tokenizer load without them.
KINDS = ("remi", "abc", "notes")
MIDI_KINDS = ("remi", "notes")  # read a piece's MIDI (a score's notes rendered as MIDI)
ABC_FORMATS = ("abc", "musicxml")  # what the ABC tokenizer takes
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1

__all__ = ["KINDS", "MIDI_KINDS", "TokenizeError", "Tokenizer", "TokenizeSettings", "build_tokenizer", "load_tokenizer"]


class TokenizeError(ReasonError):
    """A piece this tokenizer cannot take; `reason` is a short code for the rejects table, `detail`
    says why."""


class Tokenizer:
    """A REMI+, ABC or note-level tokenizer with its condition vocabulary. `stride` ids make one
    sequence position: 1, or 8 for notes (a note's attributes; see notes.py)."""

    def __init__(self, kind: str, settings: TokenizeSettings, condition_values: dict[str, list[str]],
                 bpe_json: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown tokenizer {kind!r} (one of {', '.join(KINDS)})")
        settings.validate()
        self.kind = kind
        self.settings = settings
        offset = len(SPECIAL_TOKENS)
        self.bpe_json = bpe_json if kind == "abc" else None
        if kind == "remi":
            from symcorpus.tokenizers import remi

            self.remi = remi.RemiVocab(settings, offset)
            music_size = self.remi.size
        elif kind == "notes":
            from symcorpus.tokenizers import notes as notes_tok

            self.notes = notes_tok.NoteVocab(settings, offset)
            music_size = self.notes.size
        else:
            bpe = abc_tok.bpe_from_json(bpe_json) if bpe_json else None
            self.abc = abc_tok.AbcCodec(offset, bpe)
            music_size = self.abc.size
        self.music_range = (offset, music_size)
        self.conditions = ConditionVocab(condition_values, settings.max_instruments, music_size)
        self.vocab_size = self.conditions.size
        self.pad_id, self.bos_id, self.eos_id, self.sep_id = PAD_ID, BOS_ID, EOS_ID, SEP_ID
        self.condition_dropout = settings.condition_dropout
        self.family_dropout = settings.family_dropout
        self.condition_families = list(FAMILIES)
        self.suffix = ".mid" if kind in MIDI_KINDS else ".abc"
        self.stride = notes_tok.STRIDE if kind == "notes" else 1  # tokens per position
        # Room for music tokens in one chunk: the whole sequence must fit max_seq_len positions.
        self.max_tokens_per_chunk = (settings.max_seq_len - 3 - self.conditions.length) * self.stride

    # ---------------------------------------------------------------------------------------------

    def token_names(self) -> list[str]:
        if self.kind == "abc":
            music = [repr(p)[1:-1] for p in self.abc.pieces]
        else:
            music = self.remi.names() if self.kind == "remi" else self.notes.names()
        return list(SPECIAL_TOKENS) + music + self.conditions.names()

    def encode_prompt(self, prompt: str) -> list[int]:
        """Condition tokens of a prompt, `family=value` words or English (prompts.py); families left
        out are unknown. ValueError on a bad one."""
        from symcorpus.tokenizers.prompts import prompt_values

        return self.conditions.encode_values(prompt_values(self.conditions, prompt))

    def encode_conditions(self, row: Mapping[str, Any]) -> list[int]:
        """Condition tokens of a corpus row (missing labels: unknown)."""
        return self.conditions.encode_row(row)

    def decode(self, tokens) -> bytes:
        """Music tokens to a file: MIDI bytes (remi, notes) or ABC text (abc) that ABC readers accept."""
        if self.kind == "remi":
            from symcorpus.tokenizers import remi

            return remi.decode_to_midi(tokens, self.remi)
        if self.kind == "notes":
            from symcorpus.tokenizers import notes as notes_tok

            return notes_tok.decode_to_midi(tokens, self.notes)
        return abc_tok.playable(self.abc.decode(tokens)).encode("ascii")

    def encode_music(self, data: bytes | None, fmt: str, labels: Mapping[str, Any] | None = None) -> list[np.ndarray]:
        """A piece's music tokens, in chunks of at most max_tokens_per_chunk, cut at bar lines.

        remi: `data` is a MIDI file (of any format's piece). abc: an ABC tune or a MusicXML score
        (through xml2abc, tokenizers/notagen.py); MIDI is TokenizeError("not_abc"): MIDI rendered to
        ABC by midi2abc fails NotaGen's equal-bars rule almost always. `labels` fill NotaGen's prompt
        lines (tokenize.abc_prompt). Raises TokenizeError with a reason code.
        """
        if self.kind == "abc" and fmt not in ABC_FORMATS:
            raise TokenizeError("not_abc", f"a {fmt} piece; the ABC tokenizer takes ABC tunes and MusicXML scores")
        if data is None:
            raise TokenizeError("no_data", f"no {'MIDI' if self.kind in MIDI_KINDS else 'ABC'} for this piece")
        if self.kind in MIDI_KINDS:
            return self._encode_midi(data)
        return self._encode_abc(data, fmt, labels)

    def _encode_midi(self, midi: bytes) -> list[np.ndarray]:
        import symusic

        from symcorpus.tokenizers import notes as notes_tok
        from symcorpus.tokenizers import remi
        from symcorpus.tokenizers.note_filter import drop_notes

        try:
            score = symusic.Score.from_midi(midi)
        except Exception as e:  # symusic raises RuntimeError with its parser's message
            raise TokenizeError("bad_midi", str(e)) from None
        drop_notes(score, self.settings)  # a recipe's pitch range and zero-length notes
        try:
            if self.kind == "notes":
                encoding = notes_tok.encode_score(score, self.notes)
                n_notes = len(encoding.rows)
            else:
                encoding = remi.encode_score(score, self.remi)
                n_notes = encoding.n_notes
        except remi.PieceTooLong as e:
            raise TokenizeError("too_long", str(e)) from None
        if n_notes == 0:
            raise TokenizeError("no_notes", "the piece has no notes")
        if self.kind == "notes":
            return notes_tok.chunk_rows(encoding, self.notes, self.max_tokens_per_chunk // self.stride)
        return remi.chunk_encoding(encoding, self.remi, self.max_tokens_per_chunk)

    def _encode_abc(self, data: bytes, fmt: str, labels: Mapping[str, Any] | None = None) -> list[np.ndarray]:
        from symcorpus.tokenizers.notagen import abc_tunes

        s = self.settings
        try:
            tunes = abc_tunes(data, fmt, s.abc_style, prompt=s.abc_prompt, all_keys=s.abc_all_keys, labels=labels,
                              max_annotation=s.abc_max_annotation)
        except abc_tok.AbcError as e:
            raise TokenizeError(e.reason, e.detail) from None
        chunks = []
        for header_lines, bars in tunes:  # more than one: the same piece in other keys
            ids = self.abc.encode_lines(header_lines + bars)
            header = [i for line in ids[: len(header_lines)] for i in line]
            try:
                chunks += abc_tok.chunk_lines(header, ids[len(header_lines):], self.max_tokens_per_chunk)
            except ValueError as e:
                raise TokenizeError("header_too_long", str(e)) from None
        return [np.asarray(c, dtype=np.int32) for c in chunks]

    # ---------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "symcorpus-tokenizer",
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "special_tokens": {name: i for i, name in enumerate(SPECIAL_TOKENS)},
            "music_tokens": {"first_id": self.music_range[0], "end_id": self.music_range[1]},
            "max_seq_len": self.settings.max_seq_len,
            "max_tokens_per_chunk": self.max_tokens_per_chunk,
            "stride": self.stride,
            "condition_dropout": self.condition_dropout,
            "conditions": self.conditions.to_json(),
            "params": dataclasses.asdict(self.settings),
            "bpe": json.loads(self.bpe_json) if self.bpe_json else None,
            "tokens": self.token_names(),
        }

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / TOKENIZER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tokenizer:
        if data.get("format") != "symcorpus-tokenizer":
            raise ValueError("not a symcorpus tokenizer.json")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"tokenizer.json version {data.get('version')}, this code reads {FORMAT_VERSION}")
        fields = {f.name for f in dataclasses.fields(TokenizeSettings)}
        settings = TokenizeSettings(**{k: v for k, v in data["params"].items() if k in fields})
        conditions = ConditionVocab.from_json(data["conditions"])
        bpe = json.dumps(data["bpe"]) if data.get("bpe") else None
        tok = cls(data["kind"], settings, conditions.values, bpe)
        if tok.vocab_size != data["vocab_size"]:
            raise ValueError(f"tokenizer.json says {data['vocab_size']} tokens, rebuilt {tok.vocab_size}")
        return tok


def build_tokenizer(kind: str, settings: TokenizeSettings, condition_counts: Mapping[str, Mapping[str, int]],
                    bpe_texts=None) -> Tokenizer:
    """A tokenizer whose condition vocabulary holds the known values plus the corpus' label values
    (`condition_counts`: family -> value -> pieces). For abc with bpe_vocab_size > 0, `bpe_texts`
    (normalized tunes) train the BPE."""
    probe = ConditionVocab.build(condition_counts, settings.max_instruments, settings.condition_min_count)
    bpe_json = None
    if kind == "abc" and settings.bpe_vocab_size > 0:
        if bpe_texts is None:
            raise ValueError("BPE needs texts to train on")
        bpe_json = abc_tok.train_bpe(bpe_texts, settings.bpe_vocab_size, settings.bpe_min_frequency).to_str()
    return Tokenizer(kind, settings, probe.values, bpe_json)


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer saved in a token-shard directory (or a tokenizer.json file)."""
    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    return Tokenizer.from_json(json.loads(path.read_text()))
