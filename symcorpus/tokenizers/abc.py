"""ABC for scores, NotaGen style: normalize, interleave voices bar by bar, encode characters (or BPE).

Normalization of one tune (the text of a corpus record: file header lines, then the tune) starts
from music/abc_voices.py's reading: ASCII only, the tune up to its first blank line, the header
fields that change the music (L M Q K V P U, `%%score` / `%%staves`; titles and composers travel as
condition tokens), `K:none` as `K:C`, quoted text annotations longer than 40 characters dropped.
Then voices are interleaved: the header lists every voice, then line i holds bar i of every voice,
`[V:1]...|[V:2]...|`; a tune whose voices have unequal bar counts is rejected with the counts.
A single-voice tune is one bar per line. The normalized text has no `X:` line; `decode` adds `X:1`.

Tokens: one per character (newline and printable ASCII), or BPE pieces trained with Hugging Face
`tokenizers` on normalized lines. Every line is encoded on its own, so a chunk of lines (the header
plus whole bars) has exactly the tokens of its lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# AbcError is what normalize_tune raises, so callers catch it from here.
from symcorpus.music.abc_voices import AbcError, parse_tune, unequal_voices_reason, voice_bars

CHARS = "\n" + "".join(chr(c) for c in range(32, 127))  # the character vocabulary


# --------------------------------------------------------------------------------------------------
# Normalized tunes


@dataclass(frozen=True)
class NormalizedTune:
    header: list[str]  # lines, K: last
    bars: list[str]  # one line per bar: every voice's bar, interleaved

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.header + self.bars)


def normalize_tune(text: str, max_annotation: int = 40) -> NormalizedTune:
    """One tune as normalized, interleaved ABC (see the module docstring). Raises AbcError."""
    tune = parse_tune(text, max_annotation)
    bars = voice_bars(tune)
    if not bars or not any(bars.values()):
        raise AbcError("no_music", "tune has no bars of music")
    counts = {v: len(b) for v, b in bars.items()}
    reason = unequal_voices_reason(counts)
    if reason:
        raise AbcError("unequal_bar_counts", reason)
    key = [line for line in tune.header if line.startswith("K:")]
    header = [line for line in tune.header if not line.startswith("K:")]
    if tune.multi_voice:
        header += [tune.voice_defs.get(v, f"V:{v}") for v in bars]
        n = counts[next(iter(bars))]
        lines = ["".join(f"[V:{v}]{bars[v][i]}" for v in bars) for i in range(n)]
    else:
        lines = next(iter(bars.values()))
    return NormalizedTune(header + key[:1], lines)


def normalize_abc(text: str, max_annotation: int = 40) -> str:
    """Normalized, interleaved ABC text of one tune (no X: line). Raises AbcError."""
    return normalize_tune(text, max_annotation).text


def playable(text: str) -> str:
    """Normalized text as a tune ABC readers accept: with an `X:1` line in front."""
    return text if text.startswith("X:") else "X:1\n" + text


# --------------------------------------------------------------------------------------------------
# Tokens: characters or BPE pieces


class AbcCodec:
    """Text <-> token ids (from `offset`), line by line. `bpe` is a trained HF tokenizer or None."""

    def __init__(self, offset: int, bpe=None) -> None:
        self.offset = offset
        self.bpe = bpe
        if bpe is None:
            self.pieces = list(CHARS)
            self._char_ids = {c: offset + i for i, c in enumerate(CHARS)}
        else:
            vocab = bpe.get_vocab()
            self.pieces = [p for p, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        self.size = offset + len(self.pieces)

    def encode_lines(self, lines: list[str]) -> list[list[int]]:
        """Token ids of each line (its newline included)."""
        if self.bpe is None:
            ids = self._char_ids
            return [[ids[c] for c in line + "\n" if c in ids] for line in lines]
        return [[i + self.offset for i in enc.ids] for enc in self.bpe.encode_batch([line + "\n" for line in lines])]

    def encode(self, text: str) -> list[int]:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        return [i for ids in self.encode_lines(lines) for i in ids]

    def decode(self, tokens: Iterable[int]) -> str:
        """Text of the ids; ids outside this vocabulary (specials, conditions) are skipped."""
        return "".join(self.pieces[t - self.offset] for t in tokens if self.offset <= t < self.size)


def _bpe_lines(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        for line in text.split("\n"):
            if line:
                yield line + "\n"


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2):
    """A BPE over normalized ABC lines (Hugging Face `tokenizers`): every character of the character
    vocabulary is in its alphabet, and no piece crosses a bar line."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"\||\n"), behavior="merged_with_previous")
    trainer = trainers.BpeTrainer(
        vocab_size=max(vocab_size, len(CHARS)),
        min_frequency=min_frequency,
        initial_alphabet=list(CHARS),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_bpe_lines(texts), trainer=trainer)
    return tokenizer


def bpe_from_json(data: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(data)


# --------------------------------------------------------------------------------------------------
# Chunks at bar lines


def chunk_lines(header: list[int], lines: list[list[int]], budget: int) -> list[list[int]]:
    """Header tokens + as many whole bar lines as fit in `budget`, repeated until every bar is in a
    chunk (each chunk is a tune on its own). A bar line longer than the room left is cut."""
    room = budget - len(header)
    if room < 1:
        raise ValueError(f"the header alone takes {len(header)} tokens, more than the budget {budget}")
    chunks: list[list[int]] = []
    current: list[int] = []
    for line in lines:
        if current and len(current) + len(line) > room:
            chunks.append(header + current)
            current = []
        while len(line) > room:
            chunks.append(header + line[:room])
            line = line[room:]
        current += line
    if current or not chunks:
        chunks.append(header + current)
    return chunks
