"""ABC for scores, NotaGen style: normalize, interleave voices bar by bar, encode characters (or BPE).

Normalization of one tune (the text of a corpus record: file header lines, then the tune):
- ASCII only (accents folded, other characters dropped), tabs to spaces, blank lines and the text
  after the tune's first blank line (free text between tunes) dropped;
- fields kept are those that change the music: L M Q K V P U (and `%%score` / `%%staves`); X T C W w
  Z and every other information field (N B S O R H D F A G I ...), lyrics, comments, `%%MIDI`
  lines and bar-number comments are dropped: titles and composers travel as condition tokens;
- `K:none` becomes `K:C`; quoted text annotations longer than 40 characters are dropped;
- voices are interleaved: the header lists every voice, then line i holds bar i of every voice,
  `[V:1]...|[V:2]...|`; a tune whose voices have unequal bar counts is rejected with the counts.
A single-voice tune is one bar per line. The normalized text has no `X:` line; `decode` adds `X:1`.

Tokens: one per character (newline and printable ASCII), or BPE pieces trained with Hugging Face
`tokenizers` on normalized lines. Every line is encoded on its own, so a chunk of lines (the header
plus whole bars) has exactly the tokens of its lines.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

KEEP_FIELDS = frozenset("LMQKVPU")
KEEP_DIRECTIVES = ("%%score", "%%staves")
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))  # the character vocabulary
DEFAULT_VOICE = "1"

_FIELD = re.compile(r"^([A-Za-z+]):\s*(.*)$")
_INLINE_VOICE = re.compile(r"\[V:\s*([^\]\s]+)[^\]]*\]")
_DECORATION = re.compile(r"!([^!|\n]{1,40})!|\+([^+|\s]{1,40})\+")
_SPACES = re.compile(r" {2,}")
_KEY_NONE = re.compile(r"^(\s*)none\b", re.IGNORECASE)


class AbcError(ValueError):
    """A tune the ABC tokenizer cannot take; `reason` is a short code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason}: {self.args[0]}"


def to_ascii(text: str) -> str:
    """Accents folded (e -> e), tabs to spaces, anything else outside printable ASCII dropped."""
    folded = unicodedata.normalize("NFKD", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))
    return "".join(c for c in folded if c == "\n" or " " <= c <= "~")


def _strip_comment(line: str) -> str:
    """A line without its `%` comment (`\\%` is a literal percent sign)."""
    m = re.search(r"(?<!\\)%", line)
    return (line[: m.start()] if m else line).rstrip()


def _drop_long_annotations(music: str, limit: int) -> str:
    return re.sub(r'"([^"]*)"', lambda m: "" if len(m.group(1)) > limit else m.group(0), music)


def _key_value(value: str) -> str:
    return _KEY_NONE.sub(lambda m: m.group(1) + "C", value)


# --------------------------------------------------------------------------------------------------
# Bars


def _barline_end(music: str, i: int) -> int:
    """End of the bar line starting at i, or i when there is none: | || |] [| |: :| :: :|: |1 :|2"""
    n = len(music)
    c = music[i]
    nxt = music[i + 1] if i + 1 < n else ""
    if not (c == "|" or (c == ":" and nxt in ("|", ":")) or (c == "[" and nxt == "|")):
        return i
    j = i
    while j < n:
        ch = music[j]
        if ch in ":|" or (ch == "]" and music[j - 1] == "|") or (ch == "[" and j + 1 < n and music[j + 1] == "|"):
            j += 1
        else:
            break
    if music[j - 1] == "|":  # a variant ending (|1, :|2, |1,3) belongs to its bar line
        while j < n and (music[j].isdigit() or (music[j] in ",-" and j + 1 < n and music[j + 1].isdigit())):
            j += 1
    return j


def split_bars(music: str) -> list[str]:
    """A voice's music cut after each bar line; quoted strings, decorations, inline fields and grace
    notes are never cut. A bar line with nothing before it opens the next bar (`|: abc|`)."""
    bars: list[str] = []
    current: list[str] = []
    i, n = 0, len(music)
    while i < n:
        c = music[i]
        skip_to = -1
        if c == '"':
            end = music.find('"', i + 1)
            skip_to = n if end < 0 else end + 1
        elif c in "!+":
            m = _DECORATION.match(music, i)
            if m:
                skip_to = m.end()
        elif c == "{":
            end = music.find("}", i + 1)
            skip_to = n if end < 0 else end + 1
        elif c == "[" and i + 2 < n and music[i + 1].isalpha() and music[i + 2] == ":":
            end = music.find("]", i + 1)
            skip_to = n if end < 0 else end + 1
        if skip_to > 0:
            current.append(music[i:skip_to])
            i = skip_to
            continue
        end = _barline_end(music, i)
        if end > i:
            content = "".join(current).strip()
            if content and not _only_barlines(content):
                bars.append(_SPACES.sub(" ", content) + music[i:end])
                current = []
            else:
                current = [content + music[i:end]]
            i = end
            continue
        current.append(c)
        i += 1
    tail = "".join(current).strip()
    if tail:
        if _only_barlines(tail) and bars:
            bars[-1] += tail
        else:
            bars.append(_SPACES.sub(" ", tail))
    return bars


def _only_barlines(text: str) -> bool:
    return all(c in ":|[] 0123456789,-" for c in text)


# --------------------------------------------------------------------------------------------------
# Parsing a tune into header and voices


@dataclass
class AbcTune:
    """A tune split into its kept header lines (K: last) and the music of each voice."""

    header: list[str] = field(default_factory=list)
    voice_defs: dict[str, str] = field(default_factory=dict)  # id -> the V: line that declares it
    voices: dict[str, list[str]] = field(default_factory=dict)  # id -> music pieces, in order
    multi_voice: bool = False


def parse_tune(text: str, max_annotation: int = 40) -> AbcTune:
    """Kept header fields and per-voice music of one tune (see the module docstring)."""
    lines = to_ascii(text).split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("X:")), None)
    if start is None:
        raise AbcError("no_tune", "no X: line")
    file_header = lines[:start]
    body = lines[start:]
    end = next((i for i, line in enumerate(body) if not line.strip()), len(body))
    tune = AbcTune()
    current = DEFAULT_VOICE
    pending: dict[str, list[str]] = {}  # inline fields waiting for a voice's next music
    in_header = True
    for raw in [line for line in file_header if line.strip()] + body[:end]:
        stripped = raw.strip()
        if stripped.startswith("%"):
            if in_header and stripped.startswith(KEEP_DIRECTIVES):
                tune.header.append(stripped)
            continue
        line = _strip_comment(raw)
        if not line.strip():
            continue
        m = _FIELD.match(line)
        if m:
            letter, value = m.group(1), m.group(2).strip()
            if letter == "V":
                voice = value.split()[0] if value.split() else DEFAULT_VOICE
                tune.multi_voice = True
                if voice not in tune.voice_defs:
                    tune.voice_defs[voice] = f"V:{value}"
                current = voice
                continue
            if letter not in KEEP_FIELDS:
                continue
            if letter == "K":
                value = _key_value(value)
            if in_header:
                tune.header.append(f"{letter}:{value}")
                if letter == "K":
                    in_header = False
            else:
                pending.setdefault(current, []).append(f"[{letter}:{value}]")
            continue
        if in_header:
            continue  # music before K: is not music
        music = _drop_long_annotations(line.rstrip().rstrip("\\"), max_annotation)
        # Inline voice switches split a line between voices.
        pos = 0
        for vm in _INLINE_VOICE.finditer(music):
            _add_music(tune, current, music[pos : vm.start()], pending)
            current = vm.group(1)
            tune.multi_voice = True
            if current not in tune.voice_defs:
                tune.voice_defs[current] = f"V:{current}"
            pos = vm.end()
        _add_music(tune, current, music[pos:], pending)
    if in_header:
        raise AbcError("no_body", "tune has no K: field, so no body")
    return tune


def _add_music(tune: AbcTune, voice: str, music: str, pending: dict[str, list[str]]) -> None:
    if not music.strip():
        return
    prefix = "".join(pending.pop(voice, []))
    tune.voices.setdefault(voice, []).append(prefix + music.strip())


def voice_bars(tune: AbcTune) -> dict[str, list[str]]:
    """Bars of every voice that has music, in the order voices were declared or first used."""
    order = list(tune.voice_defs) + [v for v in tune.voices if v not in tune.voice_defs]
    return {v: split_bars(" ".join(tune.voices[v])) for v in order if v in tune.voices}


def voice_bar_counts(text: str) -> dict[str, int]:
    """Bars per voice of an ABC tune ({"1": n} without V: fields): the quality filter's
    `abc_voice_bars`. Empty when the tune cannot be read."""
    try:
        return {v: len(bars) for v, bars in voice_bars(parse_tune(text)).items()}
    except AbcError:
        return {}


def unequal_voices_reason(counts: dict[str, int]) -> str | None:
    if len(set(counts.values())) > 1:
        return "voices have unequal bar counts (" + ", ".join(f"{v}={n}" for v, n in counts.items()) + ")"
    return None


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
