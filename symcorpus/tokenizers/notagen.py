"""MusicXML to interleaved ABC the way NotaGen prepares its data, with `abctoolkit` (NotaGen's
authors' package: xml2abc, transposition, interleaving), and the prompt lines of its fine-tuning set.

NotaGen's data path (ElectricAlexis/NotaGen `data/1_batch_xml2abc.py`, `data/2_data_preprocess.py`,
`gradio/inference.py`), step by step as done here:
1. MusicXML -> ABC: xml2abc with `-d 8 -c 6 -x` (unit length 1/8, credit filter 6, no line breaks).
2. Cleaning: blank lines dropped; unidecode; the fields X: T: C: W: w: Z: and %%MIDI lines removed;
   bar-number comments removed; `\\"` removed from music lines; quoted text holding a bar line
   removed; voices with unequal bar counts rejected; quoted annotations starting with ^ or _ have
   runs of one punctuation character squeezed and are dropped past 40 characters; `""` removed;
   K:none read as C.
3. Interleaving: every voice's bar i on line i (`[V:1]...|[V:2]...|`), the representation NotaGen
   trains on, with the bars where a voice only rests left out for that voice (its "rest reduction").
4. Transposition (an option): the same piece in each of abctoolkit's 15 key signatures.
5. Prompt lines (fine-tuning): `%<period>`, `%<composer as "Surname, Given names">`,
   `%<instrumentation>` before the tune.

ABC records (not only MusicXML) take steps 2-5; a tune without `V:` fields gets `V:1`.
"""

from __future__ import annotations

import contextlib
import io
import re
import types
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

from symcorpus.tokenizers.abc import AbcError

# xml2abc's options as NotaGen runs it (`python xml2abc.py -d 8 -c 6 -x FILE`); the rest at defaults.
XML2ABC_OPTIONS = dict(u=False, m=0, c=6, d=8, n=0, b=0, o="", v=0, x=True, p=[], j=False, t=False, s=False,
                       i=False, v1=False, ped=True, stm=False)
REMOVED_FIELDS = ["X:", "T:", "C:", "W:", "w:", "Z:", "%%MIDI"]
MAX_ANNOTATION = 40
UNKNOWN = "Unknown"  # a prompt line whose label the piece lacks


@dataclass(frozen=True)
class NotagenTune:
    header: list[str]  # metadata lines (L: M: K: V: ... %%score), no newline
    bars: list[str]  # interleaved bar lines, no newline
    key: str  # the tune's key signature (K:), NotaGen's index key


@contextlib.contextmanager
def _quiet():
    """abctoolkit and xml2abc print progress and warnings; keep them out of the workers' logs."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def musicxml_text(data: bytes) -> bytes:
    """The MusicXML document of a .mxl (zip) or plain .xml/.musicxml file."""
    if not data.startswith(b"PK"):
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = [n for n in z.namelist() if not n.startswith("META") and n.lower().endswith((".xml", ".musicxml"))]
        if not names:
            raise AbcError("bad_musicxml", "the .mxl archive holds no MusicXML document")
        return z.read(names[0])


def xml_to_abc(data: bytes) -> str:
    """MusicXML bytes as xml2abc writes them with NotaGen's options. AbcError when nothing comes out."""
    from abctoolkit import xml2abc

    options = types.SimpleNamespace(**XML2ABC_OPTIONS)
    out = io.StringIO()
    try:
        document = musicxml_text(data)
        with _quiet(), contextlib.redirect_stdout(out):
            xml2abc.abcOut = xml2abc.ABCoutput("piece.abc", "", 0, options)  # the module writes through this global
            xml2abc.Parser(options).parse(io.BytesIO(document))
    except AbcError:
        raise
    except Exception as e:  # xml2abc raises whatever its parse meets: ParseError, KeyError, ...
        raise AbcError("xml2abc_failed", f"{type(e).__name__}: {e}") from None
    text = out.getvalue()
    if not text.strip():
        raise AbcError("xml2abc_empty", "xml2abc wrote nothing (NotaGen logs such files and skips them)")
    return text


def _with_voice(lines: list[str]) -> list[str]:
    """A single-voice tune without V: fields, given `V:1` in its header and before its body."""
    if any(line.startswith("V:") for line in lines):
        return lines
    at = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if at is None:
        raise AbcError("no_body", "tune has no K: field, so no body")
    return lines[: at + 1] + ["V:1\n", "V:1\n"] + lines[at + 1:]


def _squeeze_annotation(match: str) -> str:
    squeezed = re.sub(r"([^a-zA-Z0-9])\1+", r"\1", match)
    return squeezed if len(squeezed) <= MAX_ANNOTATION else ""


def clean_lines(abc: str) -> list[str]:
    """NotaGen's cleaning of one standard ABC tune (step 2). Raises AbcError."""
    from abctoolkit.convert import unidecode_abc_lines
    from abctoolkit.utils import (Barlines, Quote_re, extract_barline_and_bartext_dict, remove_bar_no_annotations,
                                  remove_information_field)

    lines = [line if line.endswith("\n") else line + "\n" for line in abc.splitlines() if line.strip()]
    lines = unidecode_abc_lines(lines)
    lines = _with_voice(remove_information_field(abc_lines=lines, info_fields=REMOVED_FIELDS))
    try:
        with _quiet():
            lines = remove_bar_no_annotations(lines)
            for i, line in enumerate(lines):
                if not (re.search(r"^[A-Za-z]:", line) or line.startswith("%")):
                    lines[i] = line.replace('\\"', "")
            for i, line in enumerate(lines):
                for quoted in re.findall(Quote_re, line):
                    if any(barline in quoted for barline in Barlines):
                        lines[i] = lines[i].replace(quoted, "")
            bars = extract_barline_and_bartext_dict(list(lines))[3]
    except Exception as e:  # abctoolkit's parsers raise plain Exceptions on what they cannot split
        raise AbcError("abctoolkit_failed", f"{type(e).__name__}: {e}") from None
    counts = {voice: len(texts) for voice, texts in bars.items()}
    if len(set(counts.values())) > 1:  # NotaGen's alignment check: every voice as many bars
        raise AbcError("unequal_bar_counts", "voices have unequal bar counts ("
                       + ", ".join(f"{v}={n}" for v, n in counts.items()) + ")")
    for i, line in enumerate(lines):
        for quoted in re.findall(r'"[^"]*"', line):
            if quoted == '""':
                line = line.replace(quoted, "")
            elif quoted[1] in "^_":
                line = line.replace(quoted, _squeeze_annotation(quoted))
        lines[i] = line
    return lines


def tune_key(lines: list[str]) -> str:
    from abctoolkit.utils import extract_global_and_local_metadata, extract_metadata_and_parts

    metadata, _ = extract_metadata_and_parts(lines)
    global_fields, _ = extract_global_and_local_metadata(metadata)
    key = global_fields["K"][0]
    return "C" if key == "none" else key


def interleave(lines: list[str]) -> NotagenTune:
    """Cleaned lines as NotaGen's training text (step 3): interleaved bars, rest-only bars of a
    voice left out."""
    from abctoolkit.utils import extract_barline_and_bartext_dict

    with _quiet():
        metadata, prefix, left, bars, right = extract_barline_and_bartext_dict(list(lines))
    out = []
    for i in range(len(bars["V:1"])):
        line = ""
        for voice in prefix:
            text = bars[voice][i]
            if not any(c.isalpha() and c not in "ZzXx" for c in text):
                continue  # the voice only rests in this bar
            head = prefix[voice] + left[voice][0] if i == 0 else ""
            line += f"[{voice}]{head}{text}{right[voice][i]}"
        out.append(line)
    return NotagenTune([m.rstrip("\n") for m in metadata], out, tune_key(lines))


def transposed(lines: list[str], key: str) -> list[str]:
    """The cleaned tune in another key signature (step 4)."""
    from abctoolkit.transpose import transpose_an_abc_text

    with _quiet():
        text = transpose_an_abc_text(list(lines), key)
    return [line + "\n" for line in text.split("\n") if line]


def keys() -> list[str]:
    """abctoolkit's 15 key signatures, the keys of NotaGen's augmented folders."""
    from abctoolkit.transpose import Key2index

    return list(Key2index)


def signature_of(key: str) -> str | None:
    """The key signature (one of `keys()`) of a K: value such as "F#min" or "Ddor"."""
    from abctoolkit.transpose import Key2Mode

    return next((signature for signature, modes in Key2Mode.items() if key in modes), None)


def notagen_tunes(abc: str, all_keys: bool = False) -> list[NotagenTune]:
    """The tune as NotaGen trains on it: in its own key, then (all_keys) in every other of the 15
    key signatures. Raises AbcError."""
    lines = clean_lines(abc)
    try:
        tunes = [interleave(lines)]
        if all_keys:
            own = signature_of(tunes[0].key)
            tunes += [interleave(transposed(lines, key)) for key in keys() if key != own]
    except Exception as e:
        raise AbcError("abctoolkit_failed", f"{type(e).__name__}: {e}") from None
    return tunes


def surname_first(name: str) -> str:
    """"Johann Sebastian Bach" -> "Bach, Johann Sebastian", NotaGen's composer form."""
    if "," in name or " " not in name.strip():
        return name.strip()
    given, surname = name.strip().rsplit(" ", 1)
    return f"{surname}, {given}"


def prompt_lines(labels: Mapping[str, str | None] | None) -> list[str]:
    """`%Period`, `%Composer`, `%Instrumentation` (step 5) from a piece's labels."""
    labels = labels or {}
    composer = labels.get("composer")
    values = [labels.get("period"), surname_first(composer) if composer else None, labels.get("instrumentation")]
    return ["%" + (value or UNKNOWN) for value in values]


STYLES = ("symcorpus", "notagen")


def abc_tunes(data: bytes, fmt: str, style: str, *, prompt: bool = False, all_keys: bool = False,
              labels: Mapping[str, str | None] | None = None, max_annotation: int = MAX_ANNOTATION
              ) -> list[tuple[list[str], list[str]]]:
    """(header lines, bar lines) the ABC tokenizer encodes for one piece: an ABC tune, or a MusicXML
    score through xml2abc; normalized symcorpus's way (tokenizers/abc.py) or NotaGen's (this
    module), the prompt lines first when `prompt`. Raises AbcError."""
    from symcorpus.music.abc_text import decode_abc
    from symcorpus.tokenizers.abc import normalize_tune

    text = decode_abc(data) if fmt == "abc" else xml_to_abc(data)
    head = prompt_lines(labels) if prompt else []
    if style == "notagen":
        return [(head + t.header, t.bars) for t in notagen_tunes(text, all_keys)]
    tune = normalize_tune(text, max_annotation)
    return [(head + tune.header, tune.bars)]
