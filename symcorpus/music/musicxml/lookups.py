"""What the reader asks music21 itself, cached: music21's own tables and parsers are the spec for
instruments (program, channel, track name), meters, modes, ending numbers, chord symbols, clefs
and transpositions, and reusing them is more faithful than a copy. music21 is imported on first
use (about a second, once per process)."""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction

from symcorpus.music.musicxml.errors import UnsupportedMusicXML


@dataclass(frozen=True)
class Instrument:
    name: str  # the MIDI track name music21 writes (Instrument.bestName(), '' when none)
    program: int | None
    channel: int | None  # 0-based MIDI channel the score asks for, or None
    percussion: bool  # an UnpitchedPercussion instrument: music21 puts it on channel 10


def _music21():
    import music21  # ~1 s to import; only files this reader handles need it, and only once

    return music21


# What music21's PartParser reads of a <score-part> (getDefaultInstrument): texts of these
# children, of its first <score-instrument> and of its first <midi-instrument>.
_PART_FIELDS = ("part-name", "part-abbreviation")
_SCORE_INSTRUMENT_FIELDS = ("instrument-name", "instrument-abbreviation", "instrument-sound")
_MIDI_INSTRUMENT_FIELDS = ("midi-channel", "midi-program", "midi-unpitched")


def instrument_key(score_part) -> tuple:
    """The texts of a <score-part> that decide its instrument: the key `instrument` is cached by,
    so that parts differing only in ids, volume or pan share one lookup."""
    score_instrument = score_part.find("score-instrument")
    midi_instrument = score_part.find("midi-instrument")
    return (tuple(score_part.findtext(tag) for tag in _PART_FIELDS),
            None if score_instrument is None else tuple(score_instrument.findtext(t) for t in _SCORE_INSTRUMENT_FIELDS),
            None if midi_instrument is None else tuple(midi_instrument.findtext(t) for t in _MIDI_INSTRUMENT_FIELDS))


@functools.lru_cache(maxsize=4096)
def instrument(key: tuple) -> Instrument:
    """The instrument music21 makes of a <score-part> (PartParser.parseXmlScorePart), from the
    texts `instrument_key` collects."""
    m21 = _music21()
    from xml.etree import ElementTree

    part_texts, score_instrument, midi_instrument = key
    element = ElementTree.Element("score-part")
    for tag, text in zip(_PART_FIELDS, part_texts):
        if text is not None:
            ElementTree.SubElement(element, tag).text = text
    for name, fields, texts in (("score-instrument", _SCORE_INSTRUMENT_FIELDS, score_instrument),
                                ("midi-instrument", _MIDI_INSTRUMENT_FIELDS, midi_instrument)):
        if texts is not None:
            child = ElementTree.SubElement(element, name)
            for tag, text in zip(fields, texts):
                if text is not None:
                    ElementTree.SubElement(child, tag).text = text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parser = m21.musicxml.xmlToM21.PartParser(mxScorePart=element)
            parser.parseXmlScorePart()
        except Exception as e:  # noqa: BLE001 - whatever music21 raises, it decides this part
            raise UnsupportedMusicXML("instrument", f"music21 cannot read the score-part: {e}") from None
    inst = parser.activeInstrument
    return Instrument(inst.bestName() or "", inst.midiProgram, inst.midiChannel,
                      isinstance(inst, m21.instrument.UnpitchedPercussion))


@functools.lru_cache(maxsize=1024)
def time_signature(text: str) -> tuple[int, int, int, int]:
    """(numerator, denominator, bar length as numerator/denominator quarters) of a meter string."""
    m21 = _music21()
    try:
        if "+" in text.rsplit("/", 1)[-1] or text.count("/") != 1:
            ts = m21.meter.TimeSignature()
            ts.load(text)
        else:
            ts = m21.meter.TimeSignature(text)
        bar = m21.common.opFrac(ts.barDuration.quarterLength)
    except Exception as e:  # noqa: BLE001 - music21 fails the whole file on such a meter
        raise UnsupportedMusicXML("time_signature", f"{text!r}: {e}") from None
    bar = Fraction(bar)
    return ts.numerator, ts.denominator, bar.numerator, bar.denominator


@functools.lru_cache(maxsize=256)
def key_is_minor(mode: str) -> bool:
    m21 = _music21()
    try:
        return m21.key.KeySignature(0).asKey(mode).mode == "minor"
    except Exception:  # noqa: BLE001 - music21 ignores modes it does not know
        return False


@functools.lru_cache(maxsize=256)
def ending_numbers(number: str | None, text: str | None) -> tuple[int, ...]:
    """The numbers a volta bracket covers, as music21's RepeatBracket reads <ending>."""
    m21 = _music21()
    bracket = m21.spanner.RepeatBracket()
    try:
        try:
            bracket.number = number
        except m21.spanner.SpannerException:
            bracket.number = 1
        if text is not None:
            match = re.match(r"^(\d+)\.?$", text)
            if match:
                bracket.number = int(match.group(1))
        return tuple(bracket.numberRange)
    except Exception as e:  # noqa: BLE001 - music21 fails the whole file here
        raise UnsupportedMusicXML("ending", f"ending number {number!r}: {e}") from None


@functools.lru_cache(maxsize=4096)
def chord_symbol(key: bytes, frame: bool) -> tuple[tuple[int, ...], tuple[tuple, ...]]:
    """MIDI pitches (and pitch identities) of the chord symbol music21 makes of a <harmony>."""
    if frame:
        raise UnsupportedMusicXML("harmony", "a chord diagram")
    m21 = _music21()
    from xml.etree import ElementTree

    element = ElementTree.fromstring(b"<harmony>" + key + b"</harmony>")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            symbol = m21.musicxml.xmlToM21.MeasureParser().xmlToChordSymbol(element)
            pitches = symbol.pitches
        except Exception as e:  # noqa: BLE001 - music21 fails the file on such a symbol
            raise UnsupportedMusicXML("harmony", f"chord symbol: {e}") from None
    if any(not p.isTwelveTone() for p in pitches):
        raise UnsupportedMusicXML("harmony", "a microtonal chord symbol")
    ids = tuple((p.step, p.octave, p.accidental.name if p.accidental is not None else None, int(p.ps))
                for p in pitches)
    return tuple(p.midi for p in pitches), ids


@functools.lru_cache(maxsize=256)
def check_clef(sign: str | None, line: str | None, octave_change: str | None) -> None:
    """music21's xmlToClef, which fails the file on a clef it cannot make."""
    m21 = _music21()
    try:
        sign = sign.strip()
        if sign.lower() in ("tab", "percussion", "none", "jianpu"):
            m21.clef.clefFromString(sign)
            return
        if line is not None:
            line = line.strip()
        else:
            line = "2" if sign == "G" else "4"
        try:
            change = int(octave_change) if octave_change is not None else 0
        except ValueError:
            change = 0
        m21.clef.clefFromString(sign + line, change)
    except Exception as e:  # noqa: BLE001
        raise UnsupportedMusicXML("clef", f"clef {sign!r}{line!r}: {e}") from None


@functools.lru_cache(maxsize=256)
def check_transpose(transpose_xml: bytes) -> None:
    """music21 builds an interval from <transpose> (then ignores it for MIDI); some it cannot build."""
    m21 = _music21()
    from xml.etree import ElementTree

    try:
        m21.musicxml.xmlToM21.MeasureParser().xmlTransposeToInterval(ElementTree.fromstring(transpose_xml))
    except Exception as e:  # noqa: BLE001
        raise UnsupportedMusicXML("transpose", str(e)) from None
