"""MusicXML to MIDI at corpus scale: a reader that writes the MIDI music21's path writes.

`parse.render_music21` reads MusicXML with music21's parser and renders it with music21's MIDI
translator (`midi.translate.streamToMidiFile`), at 2-10 files/s. `read_musicxml` produces the
same notes from the file's bytes, an order of magnitude or two faster, so that corpora of millions
of scores can be parsed. What music21 does is the spec; this module reproduces it:

* Time: every offset and duration is an integer on a grid of 1/Q quarter, Q = lcm(10080, each
  <divisions>). music21 keeps offsets as fractions with denominators up to 65535 and rounds
  offset * 10080 half-to-even; on this grid that arithmetic is exact, so ticks match to the tick.
  Files whose divisions need larger denominators are declined (music21 would approximate them).
* Measures: notes, chords (the first note's duration), rests, <backup>/<forward>, voices, grace
  notes (zero length: their note-off sorts before their note-on, as in music21's MIDI), measure
  offsets by each measure's highest time (pickups, overfull and empty measures as music21 lays them
  out), full-measure rests, Finale's hidden <forward> rests, multi-staff parts split into one
  track per staff (notes without <staff> copied to every staff).
* Ties: music21's `stripTies(matchByPitch=True)` over each part's flattened notes and rests.
* Repeats: music21's `expandRepeats` for repeat barlines and numbered endings, including its
  re-layout of expanded measures by their highest time; repeats it cannot expand are played once
  through, as `render_music21` does. D.C./D.S./segno/coda jumps are declined.
* MIDI: a conductor track (tempos from <metronome> and <sound tempo>, 120 when none; time and
  key signatures, first per offset across parts), then a track per part or staff with music21's
  track name, program, channel (`channelInstrumentData`), pitch-bend reset, velocities from
  dynamics, note `dynamics` attributes and articulations (`volume.realizeVolume`), written pitch
  (music21's translator does not transpose to sounding pitch), events in music21's order so
  that a MIDI reader pairs note-ons and note-offs the same way.

Instruments, time-signature strings, ending numbers and transposition intervals are looked up in
music21 itself (cached): music21's instrument-name tables are the spec for programs and track
names, and reusing them is more faithful than a copy. Lyrics are written as music21 writes them
(one lyric event per note, its verses joined by newlines).

Anything not reproduced faithfully raises `UnsupportedMusicXML` with a short reason, and the
caller falls back to music21 (`bench/musicxml_check.py` compares both on every MusicXML file of
music21's corpus). Malformed input raises `MalformedMusicXML`.

Why lxml: on music21's corpus, parsing with lxml and walking the tree is about 4x faster than the
standard library's ElementTree (whose C parser is slower to build the tree even though walking it
is cheaper); `bench/musicxml_speed.py` measures the whole reader against music21. partitura (a
MusicXML loader on lxml) was not used: it builds its own score model with its own conventions for
repeats, grace notes, ties and instruments, so matching music21 note for note would mean
re-deriving music21's rules on top of it at no gain in speed over reading the tree directly.
"""

from __future__ import annotations

import functools
import io
import math
import operator
import re
import struct
import warnings
import zipfile
from dataclasses import dataclass
from fractions import Fraction

from lxml import etree

# music21's defaults.ticksPerQuarter: every offset is rounded to this grid.
TICKS_PER_QUARTER = 10080
# music21 keeps offsets as fractions whose denominators stay below this (common.opFrac).
_MUSIC21_DENOMINATOR_LIMIT = 65535


class UnsupportedMusicXML(Exception):
    """A score this reader does not reproduce faithfully; `reason` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class MalformedMusicXML(ValueError):
    """Input that is not MusicXML at all: bad XML, a broken .mxl archive, the wrong root element."""


@dataclass(frozen=True)
class MusicXMLRead:
    """A rendered score: Standard MIDI File bytes plus the title and composer music21 would read."""

    midi: bytes
    title: str | None
    composer: str | None


def read_musicxml(data: bytes) -> MusicXMLRead:
    """One MusicXML file (.xml/.musicxml bytes, or an .mxl zip) to MIDI bytes, title and composer."""
    if data[:4] == b"PK\x03\x04":
        root = _parse_xml(_archived_xml(data), _UTF8_PARSER)
    else:
        root = _parse_xml(data, _PARSER)
    if root.tag != "score-partwise":
        raise MalformedMusicXML(f"root element is <{root.tag}>; only <score-partwise> is read")
    title, composer = score_metadata(root)
    return MusicXMLRead(_Score(root).midi(), title, composer)


# --------------------------------------------------------------------------------------------------
# Bytes to an element tree

# Decompressed size above which an .mxl member is refused (a zip bomb, not a score).
MAX_XML_BYTES = 512 * 2**20


def _archived_xml(data: bytes) -> bytes:
    """The score inside an .mxl archive, as UTF-8 (music21 decodes it as UTF-8, else UTF-16-LE)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        if "META-INF/container.xml" not in names:
            raise MalformedMusicXML("compressed MusicXML without META-INF/container.xml")
        container = _parse_xml(archive.read("META-INF/container.xml"), _PARSER)
        rootfile = next((el.get("full-path") for el in container.iter("{*}rootfile")), None)
        if not rootfile or rootfile not in names:
            raise MalformedMusicXML(f"container.xml names no root file in the archive ({rootfile!r})")
        # music21 reads the first member outside META-INF with a MusicXML suffix, not container.xml.
        first = next((n for n in names if "META-INF" not in n
                      and (n.endswith((".musicxml", ".xml", ".mxl")) or n == ".xml")), None)
        if first != rootfile:
            raise UnsupportedMusicXML("mxl_rootfile", f"container names {rootfile}, music21 reads {first}")
        if archive.getinfo(rootfile).file_size > MAX_XML_BYTES:
            raise MalformedMusicXML(f"{rootfile} unpacks to more than {MAX_XML_BYTES} bytes")
        xml = archive.read(rootfile)
    except MalformedMusicXML:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, ValueError) as e:
        raise MalformedMusicXML(f"unreadable .mxl archive: {e}") from None
    try:
        xml.decode("utf-8")
        return xml
    except UnicodeDecodeError:
        pass
    try:
        text = xml.decode("utf-16-le")
    except UnicodeDecodeError:
        raise UnsupportedMusicXML("mxl_encoding", "archived score is neither UTF-8 nor UTF-16") from None
    return re.sub(r"""encoding=(['"]\S*?['"])""", "encoding='UTF-8'", text).encode("utf-8")


# remove_blank_text drops whitespace between elements (a quarter of the parse time); whitespace
# inside a text-only element, like <elision> </elision>, stays.
_PARSER = etree.XMLParser(remove_comments=True, remove_pis=True, remove_blank_text=True, no_network=True)
_UTF8_PARSER = etree.XMLParser(remove_comments=True, remove_pis=True, remove_blank_text=True, no_network=True,
                               encoding="utf-8")


def _parse_xml(xml: bytes, parser):
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as e:
        raise MalformedMusicXML(f"malformed XML: {e}") from None
    if root is None:
        raise MalformedMusicXML("empty XML document")
    return root


# --------------------------------------------------------------------------------------------------
# Title and composer, as `parse._score_metadata` reads music21's metadata

# Articles music21 moves from "Title, The" to the front (music21.text.articleReference, all languages).
_ARTICLES = frozenset((
    "al-", "the", "a", "an", "der", "die", "das", "des", "dem", "den", "ein", "eine", "einer", "einem",
    "einen", "de", "het", "'t", "een", "el", "la", "los", "las", "un", "una", "unos", "unas", "o", "os",
    "as", "um", "uma", "uns", "umas", "le", "les", "l'", "une", "du", "de la", "il", "lo", "i", "gli",
    "un'", "uno", "del", "dello", "della", "dei", "degli", "delle",
))


def _article_first(text: str) -> str:
    if "," not in text:
        return text
    parts = text.split(",")
    trailing = parts[-1].strip()
    return trailing + " " + ",".join(parts[:-1]) if trailing.lower() in _ARTICLES else text


def _first_text(parent, tag: str) -> str | None:
    el = parent.find(tag) if parent is not None else None
    return el.text if el is not None and el.text not in (None, "") else None


def score_metadata(root) -> tuple[str | None, str | None]:
    """Title (work-title, else movement-title) and composer (creator type="composer"), as music21
    reads them, without music21's fallback to the file name."""
    work_title = _first_text(root.find("work"), "work-title")
    movement = _first_text(root, "movement-title")
    if work_title == movement:  # music21 drops a work-title that repeats the movement-title
        work_title = None
    title = _article_first(work_title) if work_title else (_article_first(movement) if movement else None)
    composers = []
    identification = root.find("identification")
    if identification is not None:
        for creator in identification.findall("creator"):
            if creator.get("type") == "composer":
                composers.append(creator.text.strip() if creator.text is not None else "")
    if not composers:
        composer = None
    elif len(composers) == 1:
        composer = composers[0]
    elif len(composers) == 2:
        composer = f"{composers[0]} and {composers[1]}"
    else:
        composer = f"{composers[0]} and {len(composers) - 1} others"
    return (title.strip() or None) if title else None, (composer.strip() or None) if composer else None


# --------------------------------------------------------------------------------------------------
# Lookups in music21 (cached): instruments, time signatures, ending numbers, transpositions


@dataclass(frozen=True)
class _Instrument:
    name: str  # the MIDI track name music21 writes (Instrument.bestName(), '' when none)
    program: int | None
    channel: int | None  # 0-based MIDI channel the score asks for, or None
    percussion: bool  # an UnpitchedPercussion instrument: music21 puts it on channel 10


def _music21():
    import music21  # ~1 s to import; only files this reader handles need it, and only once

    return music21


@functools.lru_cache(maxsize=4096)
def _instrument(score_part_xml: bytes) -> _Instrument:
    """The instrument music21 makes of a <score-part> (PartParser.parseXmlScorePart)."""
    m21 = _music21()
    from xml.etree import ElementTree

    element = ElementTree.fromstring(score_part_xml)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parser = m21.musicxml.xmlToM21.PartParser(mxScorePart=element)
            parser.parseXmlScorePart()
        except Exception as e:  # noqa: BLE001 - whatever music21 raises, it decides this part
            raise UnsupportedMusicXML("instrument", f"music21 cannot read the score-part: {e}") from None
    inst = parser.activeInstrument
    return _Instrument(inst.bestName() or "", inst.midiProgram, inst.midiChannel,
                       isinstance(inst, m21.instrument.UnpitchedPercussion))


@functools.lru_cache(maxsize=1024)
def _time_signature(text: str) -> tuple[int, int, int, int]:
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
def _key_is_minor(mode: str) -> bool:
    m21 = _music21()
    try:
        return m21.key.KeySignature(0).asKey(mode).mode == "minor"
    except Exception:  # noqa: BLE001 - music21 ignores modes it does not know
        return False


@functools.lru_cache(maxsize=256)
def _ending_numbers(number: str | None, text: str | None) -> tuple[int, ...]:
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
def _chord_symbol(key: bytes, frame: bool) -> tuple[tuple[int, ...], tuple[tuple, ...]]:
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
def _check_clef(sign: str | None, line: str | None, octave_change: str | None) -> None:
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
def _check_transpose(transpose_xml: bytes) -> None:
    """music21 builds an interval from <transpose> (then ignores it for MIDI); some it cannot build."""
    m21 = _music21()
    from xml.etree import ElementTree

    try:
        m21.musicxml.xmlToM21.MeasureParser().xmlTransposeToInterval(ElementTree.fromstring(transpose_xml))
    except Exception as e:  # noqa: BLE001
        raise UnsupportedMusicXML("transpose", str(e)) from None


# --------------------------------------------------------------------------------------------------
# Notes

_STEP_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# MusicXML accidental names music21 maps to its own names, and the alteration each stands for.
_ACCIDENTAL_NAME = {"flat-flat": "double-flat", "sharp-sharp": "double-sharp"}
_ACCIDENTAL_ALTER = {"natural": 0, "sharp": 1, "flat": -1, "double-sharp": 2, "double-flat": -2,
                     "triple-sharp": 3, "triple-flat": -3, "quadruple-sharp": 4, "quadruple-flat": -4}
_ALTER_NAME = {v: k for k, v in _ACCIDENTAL_ALTER.items()}
_NOTE_TYPES = frozenset(("1024th", "512th", "256th", "128th", "64th", "32nd", "32th", "16th", "eighth",
                         "quarter", "half", "whole", "breve", "long", "longa", "maxima", "duplex-maxima",
                         "2048th"))
_TYPE_QUARTERS = {"1024th": 1 / 256, "512th": 1 / 128, "256th": 1 / 64, "128th": 1 / 32, "64th": 1 / 16,
                  "32nd": 1 / 8, "32th": 1 / 8, "16th": 0.25, "eighth": 0.5, "quarter": 1.0, "half": 2.0,
                  "whole": 4.0, "breve": 8.0, "long": 16.0, "longa": 16.0, "maxima": 32.0,
                  "duplex-maxima": 64.0, "2048th": 1 / 512}
# Articulations that change music21's realized volume (articulations.*.volumeShift).
_ARTICULATION_SHIFT = {"accent": 0.1, "strong-accent": 0.15, "staccato": 0.05, "staccatissimo": 0.05,
                       "spiccato": 0.1, "tenuto": -0.05, "stress": 0.05, "unstress": -0.05}
# music21's dynamics.dynamicStrToScalar
_DYNAMIC_SCALAR = {"n": 0.0, "pppp": 0.1, "ppp": 0.15, "pp": 0.25, "p": 0.35, "mp": 0.45, "mf": 0.55,
                   "f": 0.7, "fp": 0.75, "sf": 0.85, "ff": 0.85, "fff": 0.9, "ffff": 0.95}
# Words music21 turns into repeat commands (repeat.RepeatExpressionCommand) and repeat signs
# (RepeatExpressionMarker), compared without spaces or dots, lower case.
_JUMP_WORDS = frozenset(("dacapo", "dc", "dacapoalfine", "dcalfine", "dacapoalcoda", "dcalcoda", "alsegno",
                         "dalsegno", "ds", "dalsegnoalfine", "dsalfine", "dalsegnoalcoda", "dsalcoda"))
_SIGN_WORDS = frozenset(("coda", "tocoda", "alcoda", "segno", "fine"))
_REST, _NOTE, _CHORD, _HARMONY = 0, 1, 2, 3


def _dynamic_scalar(text: str) -> float:
    if text in _DYNAMIC_SCALAR:
        return _DYNAMIC_SCALAR[text]
    if not text:
        raise UnsupportedMusicXML("dynamics", "empty dynamic mark")
    # music21: drop a leading s (as in sf), then a closing z (as in fz); else the default 0.5.
    if "s" in text:
        text = text[1:]
    if not text:
        raise UnsupportedMusicXML("dynamics", "a dynamic music21 cannot scale")
    if text[-1] == "z":
        text = text[:-1]
    return _DYNAMIC_SCALAR.get(text, 0.5)


def _midi_of(pitch_space: int) -> int:
    """Pitch.midi: out-of-range pitches are moved by octaves into 0..127."""
    if pitch_space > 127:
        value = 108 + pitch_space % 12
        return value + 12 if value < 115 else value
    if pitch_space < 0:
        return pitch_space % 12
    return pitch_space


class _Item:
    """A note, chord or rest of one measure, as music21's MeasureParser makes it."""

    __slots__ = ("kind", "off", "dur", "grace", "midis", "ids", "tie", "vel", "arts", "staff", "rank", "seq",
                 "rtype", "rdots", "tuplet", "full", "lyrics")

    def __init__(self, kind, off, dur, grace, midis, ids, tie, vel, arts, staff):
        self.kind, self.off, self.dur, self.grace = kind, off, dur, grace
        self.midis, self.ids, self.tie, self.vel, self.arts, self.staff = midis, ids, tie, vel, arts, staff
        self.rank = self.seq = 0
        self.rtype = None  # rests: note type, dots, time modification, measure="yes"
        self.rdots = 0
        self.tuplet = False
        self.full = False
        self.lyrics: list[str] = []  # one text per <lyric>, as music21's Lyric.text


# Kinds of zero-length marks: what they mean for MIDI, and whether music21 keeps them only on
# their own staff when it splits a multi-staff part (STAFF_SPECIFIC_CLASSES in separateOutPartStaves).
_DYNAMIC, _TEMPO, _TIME, _KEY, _OTHER, _EVERY_STAFF, _REPEAT_SIGN = range(7)


class _Measure:
    __slots__ = ("items", "marks", "n_voices", "left", "right", "times", "offset", "highest", "finale_rest",
                 "endings", "has_notes", "staff_keys")

    def __init__(self):
        self.items: list[_Item] = []
        self.marks: list[tuple] = []  # (kind, offset, staff, value, seq)
        self.n_voices = 0
        self.left = self.right = None  # repeat barlines: 'start' / 'end'
        self.times = None
        self.offset = 0
        self.highest = 0
        self.finale_rest: _Item | None = None
        self.endings: list[tuple[str, str | None, str | None]] = []  # (type, number, text)
        self.has_notes = False
        self.staff_keys: set[int] = set()


class _Score:
    """A whole score-partwise document, read the way music21 reads it and renders it to MIDI."""

    def __init__(self, root) -> None:
        self.root = root
        divisions = set()
        for el in root.iter("divisions"):
            try:
                value = float(el.text)
            except (TypeError, ValueError):
                raise UnsupportedMusicXML("divisions", f"divisions {el.text!r}") from None
            if value <= 0 or not value.is_integer():
                raise UnsupportedMusicXML("divisions", f"divisions {el.text!r}")
            divisions.add(int(value))
        if math.lcm(*divisions, 1) > _MUSIC21_DENOMINATOR_LIMIT:
            raise UnsupportedMusicXML("divisions", f"divisions {sorted(divisions)} need finer offsets than music21's")
        self.grid = math.lcm(TICKS_PER_QUARTER, *divisions)  # Q: one quarter note is Q units
        self.finale = _written_by_finale(root)
        self.pitches: dict[tuple, tuple] = {}  # <pitch> texts -> _pitch(), read once per score

    def midi(self) -> bytes:
        score_parts = {}
        part_list = self.root.find("part-list")
        if part_list is not None:
            for el in part_list:
                if el.tag == "score-part":
                    score_parts[el.get("id")] = el
        streams: list[tuple[_Instrument, list[_Item], list[tuple]]] = []
        for part in self.root.iterfind("part"):
            part_id = part.get("id")
            if part_id is None:
                if not score_parts:
                    raise UnsupportedMusicXML("part", "a part without an id and no part-list")
                part_id = next(iter(score_parts))
            if part_id not in score_parts:
                continue  # music21 skips a part the part-list does not describe
            streams.extend(_PartReader(self, part, score_parts[part_id]).streams())
        return _write_midi(self.grid, streams)


def _written_by_finale(root) -> bool:
    """music21 applies its Finale workarounds when the first <software> names Finale."""
    encoding = root.find("identification/encoding")
    if encoding is None:
        return False
    for software in encoding.findall("software"):
        text = (software.text or "").strip()
        if text:
            return "Finale" in text
    return False


class _PartReader:
    """One <part>: its measures as music21's PartParser and MeasureParser lay them out."""

    def __init__(self, score: _Score, part, score_part) -> None:
        self.score = score
        self.part = part
        self.instrument = _instrument(etree.tostring(score_part))
        self.grid = score.grid
        self.divisions = 10080  # music21's default until a <divisions> arrives
        self.unit = self.grid // self.divisions
        self.bar = 4 * self.grid  # the last time signature's bar length (4/4 until one is seen)
        self.offset = 0
        self.max_staves = 1
        self.measures: list[_Measure] = []
        self.open_ending = False

    # ---- measures ---------------------------------------------------------------------------------

    def streams(self):
        for element in self.part.iterfind("measure"):
            self._measure(element)
        if self.open_ending:
            raise UnsupportedMusicXML("ending", "a volta bracket is never closed")
        if not self.measures:
            return [self._stream(None, None)]  # music21 still writes the part's (empty) track
        last = self.measures[-1]
        if last.finale_rest is not None and last.n_voices == 0:
            # music21 drops the hidden rest Finale writes to complete a short last measure
            # (after laying the measures out, so offsets keep it).
            rest = last.finale_rest
            if max(last.items, key=lambda i: (i.off, i.kind != _HARMONY, not i.grace, i.seq)) is rest:
                last.items.remove(rest)
        sequence = _expand_repeats(self.measures)
        if self.max_staves > 1:
            keys = sorted({k for m in self.measures for k in m.staff_keys if k != 0})
            return [self._stream(sequence, key) for key in keys]
        return [self._stream(sequence, None)]

    def _measure(self, element) -> None:
        m = _Measure()
        parser = _MeasureReader(self, m, element)
        parser.read()
        self.max_staves = max(self.max_staves, parser.staves)
        if parser.time is not None:
            self.bar = parser.time
        bar = self.bar
        if parser.full_measure_rest:
            self._fit_full_measure_rest(m, bar)
        highest = _highest(m.items, m.marks)
        if highest == bar:
            shift = highest
        elif highest > bar:
            diff = highest - bar
            # music21 keeps an overfull measure's length when the excess is "round"; else it
            # assumes the time signature's.
            round_excess = (2 * diff > self.grid or diff * 16 % self.grid == 0 or diff * 12 % self.grid == 0)
            near = (min(diff * 16 % self.grid, self.grid - diff * 16 % self.grid) * 10**6 < 16 * self.grid
                    or min(diff * 12 % self.grid, self.grid - diff * 12 % self.grid) * 10**6 < 12 * self.grid)
            if near and not round_excess:
                raise UnsupportedMusicXML("overfull_measure", "excess within music21's tolerance of a round value")
            shift = highest if round_excess else bar
        elif highest == 0 and not m.has_notes:
            # music21 fills a measure without notes or rests with a rest as long as the bar.
            rest = _Item(_REST, 0, bar, False, (), (), None, None, (), -1)  # staff -1: in every staff
            rest.seq = -1
            rest.rank = m.n_voices
            m.items.append(rest)
            shift = bar
        else:
            shift = highest
        m.offset = self.offset
        self.offset += shift
        self.measures.append(m)

    @staticmethod
    def _fit_full_measure_rest(m: _Measure, bar: int) -> None:
        """music21 stretches a measure's lone (or measure="yes") rest to the time signature."""
        rests = sorted((i for i in m.items if i.kind == _REST), key=lambda i: (i.rank, i.off, not i.grace, i.seq))
        if not rests:
            return
        rest = rests[0]
        if rest.full or (rest.dur != bar and rest.rtype in ("whole", "breve") and rest.rdots == 0
                         and not rest.tuplet):
            rest.dur = bar
            rest.full = True

    # ---- one stream (a part, or a staff of a multi-staff part) ------------------------------------

    def _stream(self, sequence, staff: int | None):
        """(instrument, sounding notes, marks) of one track. Notes are (offset, duration, velocity,
        item) in music21's flat order, tied chains merged; marks are (kind, offset, value, order)."""

        def keep(item_staff: int) -> bool:
            return staff is None or item_staff in (0, -1, staff)

        if sequence is None:
            offsets = [(i, m.offset, True) for i, m in enumerate(self.measures)]
        else:
            # Expanded measures follow each other by their highest times (on this staff).
            offsets, position = [], 0
            for index, signs in sequence:
                offsets.append((index, position, signs))
                m = self.measures[index]
                items = [i for i in m.items if keep(i.staff)]
                marks = [mk for mk in m.marks if (mk[0] == _EVERY_STAFF or keep(mk[2]))
                         and (signs or mk[0] != _REPEAT_SIGN)]
                position += _highest(items, marks)
        placed = []
        placed_marks: list[tuple] = []
        for seq_index, (index, start, signs) in enumerate(offsets):
            m = self.measures[index]
            # Measure by measure, voice by voice, in document order; the sort below is stable.
            for item in sorted(m.items, key=_voice_order) if m.n_voices else m.items:
                if staff is None or item.staff in (0, -1, staff):
                    at = start + item.off
                    # music21's flat order: offset, chord symbols before notes, grace notes first.
                    placed.append((4 * at + (0 if item.kind == _HARMONY else 2) + (0 if item.grace else 1), at, item))
            for mark in m.marks:
                if mark[0] != _EVERY_STAFF and keep(mark[2]) and (signs or mark[0] != _REPEAT_SIGN):
                    placed_marks.append((mark[0], start + mark[1], mark[3], (seq_index, mark[4])))
        placed.sort(key=_first)
        starts = [p[1] for p in placed]
        items = [p[2] for p in placed]
        placed_marks.sort(key=lambda mk: (mk[1], mk[3]))
        # The highest time once music21 has moved tempos, time and key signatures to the conductor.
        meta = (_TEMPO, _TIME, _KEY)
        highest = max([at + item.dur for at, item in zip(starts, items)]
                      + [mk[1] for mk in placed_marks if mk[0] not in meta] + [0])
        dynamics = [mk for mk in placed_marks if mk[0] == _DYNAMIC]
        velocities = _realize_velocities(items, starts, dynamics, highest, self.grid)
        durations = [item.dur for item in items]
        removed = _strip_ties(items, durations)
        notes = [(starts[i], durations[i], velocities[i], item) for i, item in enumerate(items)
                 if item.kind != _REST and i not in removed]
        return self.instrument, notes, placed_marks


_first = operator.itemgetter(0)


def _voice_order(item: _Item) -> tuple[int, int]:
    return item.rank, item.seq


def _highest(items, marks) -> int:
    """A measure's highestTime: the end of its last note, rest or mark."""
    highest = 0
    for item in items:
        end = item.off + item.dur
        if end > highest:
            highest = end
    for mark in marks:
        if mark[1] > highest:
            highest = mark[1]
    return highest


# <note> children read here, by the branch that reads them (most children, like <stem> and <beam>,
# are not read at all).
_NOTE_CHILD = {"pitch": 0, "duration": 1, "voice": 2, "type": 3, "staff": 4, "dot": 5, "tie": 6, "chord": 7,
               "rest": 8, "grace": 9, "accidental": 10, "time-modification": 11, "notations": 12, "lyric": 13,
               "unpitched": 14}


class _Note:
    """The children of one <note> that matter here, read in one pass."""

    __slots__ = ("chord", "rest", "grace", "step", "octave", "alter", "duration", "type", "dots", "ties",
                 "accidental", "time_mod", "notations", "lyrics", "voice", "staff", "dynamics")

    def __init__(self, el) -> None:
        self.chord = self.grace = False
        self.rest = self.step = self.octave = self.alter = self.duration = self.type = None
        self.accidental = self.time_mod = self.voice = None
        self.dots = self.staff = 0
        self.ties = self.notations = self.lyrics = ()
        self.dynamics = el.get("dynamics")
        child_code = _NOTE_CHILD.get
        for child in el:
            code = child_code(child.tag)
            if code is None:
                continue
            if code == 0:
                for p in child:
                    ptag = p.tag
                    if ptag == "step":
                        self.step = p.text
                    elif ptag == "octave":
                        self.octave = p.text
                    elif ptag == "alter":
                        self.alter = p.text
            elif code == 1:
                self.duration = child.text
            elif code == 2:
                self.voice = (child.text or "").strip()
            elif code == 3:
                self.type = (child.text or "").strip()
            elif code == 4:
                self.staff = _staff_number(child.text)
            elif code == 5:
                self.dots += 1
            elif code == 6:
                self.ties = self.ties + (child.get("type"),)
            elif code == 7:
                self.chord = True
            elif code == 8:
                self.rest = child
            elif code == 9:
                self.grace = True
            elif code == 10:
                self.accidental = child.text
            elif code == 11:
                self.time_mod = child
            elif code == 12:
                self.notations = self.notations + (child,)
            elif code == 13:
                self.lyrics = self.lyrics + (child,)
            else:
                raise UnsupportedMusicXML("unpitched", "unpitched percussion notes")


class _MeasureReader:
    """The children of one <measure>, in document order (music21's MeasureParser)."""

    def __init__(self, part: _PartReader, m: _Measure, element) -> None:
        self.part, self.m, self.element = part, m, element
        self.pos = 0  # offset of the current note in the measure (offsetMeasureNote)
        self.staves = 1
        self.time: int | None = None  # bar length of a time signature at offset 0
        self.voices: dict[str, int] = {}
        self.last_voice: str | None = None
        self.chord: list[_Note] = []  # the notes of a chord being read
        self.rests = self.notes = 0
        self.full_measure_rest = False
        self.seq = 0

    def read(self) -> None:
        children = []
        voice_ids = set()
        for child in self.element:
            tag = child.tag
            if tag == "note":
                note = _Note(child)
                children.append(note)
                if note.voice:
                    voice_ids.add(note.voice)
                continue
            children.append(child)
            if tag == "forward":
                voice = child.find("voice")
                if voice is not None and voice.text and voice.text.strip():
                    voice_ids.add(voice.text.strip())
            elif tag == "print":
                for layout in child.iterfind("staff-layout"):
                    number = layout.get("number")
                    if number is not None and number.strip().isdigit():
                        self._add_mark(_OTHER, 0, int(number))
        if len(voice_ids) > 1:
            for rank, voice in enumerate(sorted(voice_ids)):
                self.voices[voice] = rank
            self.m.n_voices = len(voice_ids)
        last = len(children) - 1
        for index, child in enumerate(children):
            if type(child) is _Note:
                following = children[index + 1] if index < last else None
                self._note(child, type(following) is _Note and following.chord)
                continue
            tag = child.tag
            if tag == "backup":
                change = self._duration_text(child)
                if change is not None:
                    self.pos = max(self.pos - change, 0)
            elif tag == "forward":
                self._forward(child)
            elif tag == "direction":
                self._direction(child)
            elif tag == "attributes":
                self._attributes(child)
            elif tag == "harmony":
                self._harmony(child)
            elif tag == "sound":
                self._sound(child, _staff_of(child), self.pos + self._offset_of(child))
            elif tag == "barline":
                self._barline(child)
        if self.chord:
            raise UnsupportedMusicXML("chord", "measure ends inside a chord")
        if self.rests == 1 and self.notes == 0:
            self.full_measure_rest = True

    # ---- helpers ------------------------------------------------------------------------------------

    def _duration_text(self, element) -> int | None:
        el = element.find("duration")
        text = el.text.strip() if el is not None and el.text else ""
        if not text:
            return None
        return self._quarters(text)

    def _quarters(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise UnsupportedMusicXML("duration", f"duration {text!r}") from None
            if not number.is_integer():
                raise UnsupportedMusicXML("duration", f"fractional duration {text!r}") from None
            value = int(number)
        if value < 0:
            raise UnsupportedMusicXML("duration", f"negative duration {text!r}")
        return value * self.part.unit

    def _offset_of(self, element) -> int:
        el = element.find("offset")
        if el is None or el.text is None:
            return 0
        text = el.text.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                float(text)
            except ValueError:
                return 0  # music21 ignores an unreadable <offset>
            raise UnsupportedMusicXML("offset", f"fractional offset {text!r}") from None
        return value * self.part.unit

    def _container(self, voice: str | None) -> int:
        """Voice rank of an element (music21's findM21VoiceFromXmlVoice); n_voices = outside voices."""
        if not self.voices:
            return 0
        if voice:
            self.last_voice = voice
        else:
            voice = self.last_voice if self.last_voice is not None else "1"
        if voice in self.voices:
            return self.voices[voice]
        try:
            voice = str(int(voice))
        except ValueError:
            raise UnsupportedMusicXML("voice", f"voice {voice!r}") from None
        return self.voices.get(voice, self.m.n_voices)

    def _add_mark(self, kind: int, offset: int, staff: int, value=None) -> None:
        if offset < 0:
            raise UnsupportedMusicXML("offset", "a mark before the start of its measure")
        self.seq += 1
        self.m.marks.append((kind, offset, staff, value, self.seq))
        if kind != _EVERY_STAFF:
            self.m.staff_keys.add(staff)

    # ---- notes ---------------------------------------------------------------------------------------

    def _note(self, note: _Note, next_is_chord: bool) -> None:
        self.m.finale_rest = None  # music21 keeps only a <forward> that no note follows
        if next_is_chord and note.voice is not None:
            self.last_voice = note.voice
        if next_is_chord or note.chord:
            if note.rest is not None:
                raise UnsupportedMusicXML("chord", "a rest inside a chord")
            self.chord.append(note)
            if next_is_chord:
                return
            self._chord(self.chord)
            self.chord = []
            return
        item = self._simple(note)
        if note.rest is not None:
            self.rests += 1
        else:
            self.notes += 1
        item.rank = self._container(note.voice)
        self._insert(item, note.staff)
        self.pos += item.dur

    def _insert(self, item: _Item, staff: int) -> None:
        item.off = self.pos
        self.seq += 1
        item.seq = self.seq
        item.staff = staff
        self.m.items.append(item)
        self.m.staff_keys.add(staff)
        if item.kind != _HARMONY:
            self.m.has_notes = True

    def _chord(self, notes: list[_Note]) -> None:
        items = [self._simple(n) for n in notes]
        first = items[0]
        if any(n.vel is not None for n in items):
            raise UnsupportedMusicXML("chord_dynamics", "a dynamics attribute on a chord note")
        # music21 moves one articulation of each kind from the chord's notes (lowest first) to the chord.
        seen, arts = set(), []
        for n in sorted(items, key=lambda n: n.ids[0][3]):
            for name, shift in n.arts:
                if name not in seen:
                    seen.add(name)
                    arts.append((name, shift))
        tie = next((n.tie for n in items if n.tie is not None), None)
        chord = _Item(_CHORD, 0, first.dur, first.grace, [n.midis[0] for n in items],
                      [n.ids[0] for n in items], tie, None, arts, 0)
        chord.lyrics = [text for n in items for text in n.lyrics]
        voiced = next((n for n in notes if n.voice is not None), notes[-1])
        chord.rank = self._container(voiced.voice)
        self._insert(chord, notes[0].staff)
        self.pos += chord.dur

    def _harmony(self, el) -> None:
        """A chord symbol: music21 writes its pitches as zero-length notes."""
        key = b"".join(etree.tostring(child) for child in el
                       if child.tag in ("root", "function", "kind", "inversion", "bass", "degree", "numeral"))
        pitches, ids = _chord_symbol(key, el.find("frame") is not None)
        item = _Item(_HARMONY, 0, 0, False, list(pitches), list(ids), None, None, (), 0)
        item.rank = self.m.n_voices  # music21 puts chord symbols in the measure, outside voices
        self.seq += 1
        item.seq = self.seq
        item.off = self.pos + self._offset_of(el)
        if item.off < 0:
            raise UnsupportedMusicXML("offset", "a chord symbol before the start of its measure")
        item.staff = _staff_of(el)
        self.m.items.append(item)
        self.m.staff_keys.add(item.staff)

    def _simple(self, note: _Note) -> _Item:
        text = note.duration
        if text is None:
            dur = 0
        else:
            try:
                dur = int(text)
            except ValueError:
                dur = self._quarters(text.strip()) if text.strip() else None
                if dur is None:
                    raise UnsupportedMusicXML("duration", "empty <duration>") from None
            else:
                if dur < 0:
                    raise UnsupportedMusicXML("duration", f"negative duration {text!r}")
                dur *= self.part.unit
        type_text = note.type
        if type_text and type_text not in _NOTE_TYPES:
            raise UnsupportedMusicXML("note_type", f"note type {type_text!r}")
        if note.time_mod is not None and type_text:
            self._check_tuplets(note.time_mod, note.notations)
        if note.grace:
            dur = 0
        tie = _tie_type(note.ties) if note.ties else None
        if note.rest is not None:
            item = _Item(_REST, 0, dur, note.grace, (), (), tie, None, (), 0)
            if note.lyrics:
                item.lyrics = [_lyric_text(lyric) for lyric in note.lyrics]
            item.rtype = type_text or {4: "whole", 8: "breve"}.get(dur / self.part.grid if dur else 0)
            item.rdots = note.dots if type_text else 0
            item.tuplet = bool(type_text) and note.time_mod is not None
            if note.rest.get("measure") == "yes" and (not type_text or type_text in ("whole", "breve")):
                item.full = True
                self.full_measure_rest = True
            return item
        key = (note.step, note.octave, note.alter, note.accidental)
        pitch = self.part.score.pitches.get(key)
        if pitch is None:
            pitch = self.part.score.pitches[key] = _pitch(*key)
        vel = None
        if note.dynamics is not None:
            try:
                vel = min(max(float(note.dynamics) * (90 / 12700), 0.0), 1.0)
            except ValueError:
                raise UnsupportedMusicXML("dynamics", f"dynamics attribute {note.dynamics!r}") from None
        arts = _articulations(note.notations) if note.notations else ()
        item = _Item(_NOTE, 0, dur, note.grace, pitch[0], pitch[1], tie, vel, arts, 0)
        if note.lyrics:
            item.lyrics = [_lyric_text(lyric) for lyric in note.lyrics]
        return item

    def _check_tuplets(self, time_mod, notations) -> None:
        """Tuplet markup music21 fails on (it reads tuplets to build notated durations)."""
        for tag in ("actual-notes", "normal-notes"):
            child = time_mod.find(tag)
            if child is not None and child.text not in (None, ""):
                try:
                    if int(child.text) <= 0:
                        raise ValueError
                except ValueError:
                    raise UnsupportedMusicXML("tuplet", f"{tag} {child.text!r}") from None
        normal = time_mod.find("normal-type")
        if normal is not None and (normal.text or "").strip() and normal.text.strip() not in _NOTE_TYPES:
            raise UnsupportedMusicXML("tuplet", f"normal-type {normal.text!r}")
        for notation in notations:
            for tuplet in notation.iterfind("tuplet"):
                number = tuplet.get("number")
                if number is not None and number not in ("1", "2", "3", "4", "5", "6"):
                    raise UnsupportedMusicXML("tuplet", f"tuplet number {number!r}")
                if tuplet.get("type") == "stop":
                    continue
                for part in ("tuplet-actual", "tuplet-normal"):
                    for number_el in tuplet.iterfind(part + "/tuplet-number"):
                        try:
                            if number_el.text not in (None, "") and int(number_el.text) <= 0:
                                raise ValueError
                        except ValueError:
                            raise UnsupportedMusicXML("tuplet", f"tuplet number {number_el.text!r}") from None
                    for type_el in tuplet.iterfind(part + "/tuplet-type"):
                        if type_el.text is not None and type_el.text.strip() not in _NOTE_TYPES:
                            raise UnsupportedMusicXML("tuplet", f"tuplet type {type_el.text!r}")

    def _forward(self, el) -> None:
        change = self._duration_text(el)
        if change is None:
            return
        if self.part.score.finale:
            # music21 turns Finale's <forward> into a hidden rest (a quarter rest for a zero forward:
            # Rest(quarterLength=0) keeps its default length).
            rest = _Item(_REST, 0, change or self.part.grid, False, (), (), None, None, (), 0)
            voice = el.find("voice")
            rest.rank = self._container((voice.text or "").strip() if voice is not None else None)
            self._insert(rest, _staff_of(el))
            self.m.finale_rest = rest
        self.pos += change

    def _attributes(self, el) -> None:
        part = self.part
        for child in el:
            tag = child.tag
            if tag == "divisions":
                part.divisions = int(float(child.text))
                part.unit = part.grid // part.divisions
            elif tag == "time":
                self._time(child)
            elif tag == "key":
                self._key(child)
            elif tag == "clef":
                sign = child.find("sign")
                if sign is None or sign.text is None:
                    raise UnsupportedMusicXML("clef", "a clef without a sign")
                line, change = child.find("line"), child.find("clef-octave-change")
                _check_clef(sign.text, line.text if line is not None else None,
                            change.text if change is not None else None)
                self._add_mark(_OTHER, self.pos, _number_of(child, 1))
            elif tag == "staff-details":
                self._add_mark(_OTHER, self.pos, _number_of(child, 1))
            elif tag == "staves":
                try:
                    self.staves = int(child.text)
                except (TypeError, ValueError):
                    raise UnsupportedMusicXML("staves", f"staves {child.text!r}") from None
            elif tag == "transpose":
                _check_transpose(etree.tostring(child))

    def _time(self, el) -> None:
        if el.find("senza-misura") is not None:
            raise UnsupportedMusicXML("time_signature", "senza misura")
        beats, types = [], []
        for child in el:
            if child.tag == "beats":
                beats.append((child.text or "").strip())
            elif child.tag == "beat-type":
                types.append((child.text or "").strip())
            elif child.tag == "interchangeable":
                break
        text = "+".join(f"{b}/{t}" for b, t in zip(beats, types))
        numerator, denominator, bar_num, bar_den = _time_signature(text)
        grid = self.part.grid
        if grid * bar_num % bar_den:
            raise UnsupportedMusicXML("time_signature", f"bar of {bar_num}/{bar_den} quarters")
        bar = grid * bar_num // bar_den
        if self.pos == 0 and self.time is None:
            self.time = bar
        self._add_mark(_TIME, self.pos, _number_of(el, 0), (numerator, denominator))

    def _key(self, el) -> None:
        fifths = el.find("fifths")
        if el.find("key-octave") is not None:
            raise UnsupportedMusicXML("key_signature", "key-octave")
        if fifths is None:
            raise UnsupportedMusicXML("key_signature", "non-traditional key signature")
        try:
            sharps = int(fifths.text)
        except (TypeError, ValueError):
            raise UnsupportedMusicXML("key_signature", f"fifths {fifths.text!r}") from None
        mode = el.find("mode")
        minor = bool(mode is not None and mode.text and _key_is_minor(mode.text))
        self._add_mark(_KEY, self.pos, _number_of(el, 0), (sharps, 1 if minor else 0))

    def _direction(self, el) -> None:
        offset = self.pos + self._offset_of(el)
        staff = _staff_of(el)
        metronome = False
        for direction_type in el.iterfind("direction-type"):
            for child in direction_type:
                tag = child.tag
                if tag == "dynamics":
                    for dynamic in child:
                        text = dynamic.tag
                        if text == "other-dynamic" and dynamic.text:
                            text = dynamic.text.strip()
                        if not isinstance(text, str):
                            continue
                        self._add_mark(_DYNAMIC, offset, staff, _dynamic_scalar(text))
                elif tag == "metronome":
                    self._add_mark(_TEMPO, offset, staff, _metronome_bpm(child))
                    metronome = True
                elif tag in ("coda", "segno"):
                    self._add_mark(_REPEAT_SIGN, offset, staff)
                elif tag == "words":
                    words = (child.text or "").strip().replace(" ", "").replace(".", "").lower()
                    if words in _JUMP_WORDS:
                        raise UnsupportedMusicXML("jump", f"repeat command {child.text.strip()!r}")
                    self._add_mark(_REPEAT_SIGN if words in _SIGN_WORDS else _OTHER, offset, staff)
                elif tag == "rehearsal":
                    self._add_mark(_OTHER, offset, staff)
                elif tag == "pedal" and child.get("type") in ("discontinue", "resume", "change"):
                    # music21 inserts pedal gap and bounce marks, but only into an open pedal mark.
                    raise UnsupportedMusicXML("pedal", f"pedal {child.get('type')}")
        if not metronome:
            for sound in el.iterfind("sound"):
                if "tempo" in sound.attrib:
                    self._sound(sound, staff, offset)
                    break

    def _sound(self, el, staff: int, offset: int) -> None:
        tempo = el.get("tempo")
        if tempo is None:
            return
        try:
            qpm = float(tempo)
        except ValueError:
            raise UnsupportedMusicXML("tempo", f"sound tempo {tempo!r}") from None
        qpm = _int_or_float(qpm)
        if qpm == 0:
            return  # music21 skips a zero tempo
        if qpm < 0:
            raise UnsupportedMusicXML("tempo", f"sound tempo {tempo!r}")
        self._add_mark(_TEMPO, offset, staff, _quarter_bpm(qpm, 1.0))

    def _barline(self, el) -> None:
        location = el.get("location") or "right"
        repeat = el.find("repeat")
        if repeat is not None:
            direction = (repeat.get("direction") or "").lower()
            if direction == "forward":
                kind = "start"
            elif direction == "backward":
                kind = "end"
            else:
                raise UnsupportedMusicXML("repeat", f"repeat direction {repeat.get('direction')!r}")
            times = repeat.get("times")
            if location == "left":
                self.m.left = kind
            elif location == "right":
                self.m.right = kind
                if times is not None:
                    try:
                        count = int(times)
                    except ValueError:
                        raise UnsupportedMusicXML("repeat", f"repeat times {times!r}") from None
                    self.m.times = count if count >= 0 else None  # music21 ignores a negative count
            else:
                raise UnsupportedMusicXML("repeat", "a repeat sign in the middle of a measure")
        elif location == "left":
            self.m.left = None
        elif location == "right":
            self.m.right = None
        ending = el.find("ending")
        if ending is not None:
            kind = ending.get("type")
            part = self.part
            if kind == "start":
                if part.open_ending:
                    raise UnsupportedMusicXML("ending", "a volta bracket starts inside another")
                part.open_ending = True
            # An end without a start makes music21 a one-measure bracket numbered 0.
            if kind in ("stop", "discontinue"):
                part.open_ending = False
            self.m.endings.append((kind, ending.get("number"), ending.text))


def _tie_type(types: tuple) -> str:
    """music21's xmlToTie: one <tie> gives its type, start and stop make continue, else start."""
    if len(types) == 1:
        return types[0] if types[0] is not None else "start"
    found = [t for t in types if t is not None]
    if len(found) == 1:
        return found[0]
    return "continue" if "stop" in found and "start" in found else "start"


def _articulations(notations) -> list[tuple[str, float]]:
    """The articulations of a note that shift music21's realized volume, in order."""
    arts = []
    for notation in notations:
        for group in notation.iterfind("articulations"):
            for art in group:
                shift = _ARTICULATION_SHIFT.get(art.tag)
                if shift is not None:
                    arts.append((art.tag, shift))
    return arts


def _pitch(step, octave, alter, accidental) -> tuple[tuple[int], tuple[tuple]]:
    """((MIDI pitch,), ((step, octave, accidental name, pitch space),)) of a <pitch>, as music21
    reads it: <alter> wins; an <accidental> alone alters the pitch too; out-of-range pitches wrap."""
    step = step.strip().upper() if step else step
    if step not in _STEP_PITCH:
        raise UnsupportedMusicXML("pitch", f"step {step!r}")
    try:
        octave_number = int(octave)
    except (TypeError, ValueError):
        raise UnsupportedMusicXML("pitch", f"octave {octave!r}") from None
    alter_value = None
    if alter is not None and alter.strip():
        try:
            alter_value = float(alter)
        except ValueError:
            raise UnsupportedMusicXML("pitch", f"alter {alter!r}") from None
    name = None
    accidental_text = accidental.strip().lower() if accidental else ""
    if accidental_text:
        name = _ACCIDENTAL_NAME.get(accidental_text, accidental_text)
        if name not in _ACCIDENTAL_ALTER:
            raise UnsupportedMusicXML("accidental", f"accidental {accidental_text!r}")
        if alter_value is None:
            alter_value = _ACCIDENTAL_ALTER[name]
    elif alter_value is not None:
        if alter_value not in _ALTER_NAME:
            raise UnsupportedMusicXML("microtone", f"alter {alter!r}")
        name = _ALTER_NAME[alter_value]
    alter_value = 0 if alter_value is None else alter_value
    if not float(alter_value).is_integer():
        raise UnsupportedMusicXML("microtone", f"alter {alter!r}")
    pitch_space = (octave_number + 1) * 12 + _STEP_PITCH[step] + int(alter_value)
    return (_midi_of(pitch_space),), ((step, octave_number, name, pitch_space),)


_SYLLABIC = frozenset(("begin", "middle", "end", "single", "composite"))


def _syllabic_ok(element) -> bool:
    """False when music21 drops the syllabic (no text); raises where music21 fails on its value."""
    if element.text is None:
        return False
    if element.text.strip() not in _SYLLABIC:
        raise UnsupportedMusicXML("lyric", f"syllabic {element.text!r}")
    return True


def _lyric_text(el) -> str:
    """The text music21 gives a <lyric> (Lyric.text): composite texts joined by their elisions."""
    texts = el.findall("text")
    syllabics = el.findall("syllabic")
    if not texts:
        return ""
    if len(texts) == 1:
        if syllabics and syllabics[0].text is None:
            raise UnsupportedMusicXML("lyric", "an empty syllabic")
        if syllabics:
            _syllabic_ok(syllabics[0])
        return texts[0].text.strip() if texts[0].text is not None else ""
    elisions = el.findall("elision")
    out = texts[0].text.strip() if texts[0].text is not None else ""
    for i, text in enumerate(texts[1:], start=1):
        before = " "
        if i < len(syllabics) and _syllabic_ok(syllabics[i]) and i - 1 < len(elisions):
            before = elisions[i - 1].text if elisions[i - 1].text is not None else ""
        out += before + (text.text.strip() if text.text is not None else "")
    return out


def _staff_number(text: str | None) -> int:
    """music21's staff key: the <staff> number, 0 (no staff) when missing or unreadable."""
    if text is None:
        return 0
    try:
        return int(text.strip())
    except ValueError:
        return 0


def _staff_of(el) -> int:
    staff = el.find("staff")
    return 0 if staff is None else _staff_number(staff.text)


def _number_of(el, default: int) -> int:
    number = el.get("number")
    if number is None:
        return default
    try:
        return int(number)
    except ValueError:
        return default


def _int_or_float(value: float):
    rounded = round(value)
    return rounded if math.isclose(rounded, value, abs_tol=1e-6) else value


def _quarter_bpm(number, quarters: float) -> float:
    """tempo.convertTempoByReferent(number, quarters, 1.0), the same float operations."""
    return float(60 / ((60 / number) / quarters * 1.0))


def _metronome_bpm(el) -> float | None:
    """Quarter notes per minute of a <metronome>, None when it gives no number (music21 then writes
    no tempo, yet counts the mark as a tempo)."""
    units, numbers = [], []
    for child in el:
        tag = child.tag
        if tag == "beat-unit":
            unit = (child.text or "").strip()
            if unit not in _NOTE_TYPES:
                raise UnsupportedMusicXML("tempo", f"beat unit {unit!r}")
            units.append([_TYPE_QUARTERS[unit], 0])
        elif tag == "beat-unit-dot":
            if not units:
                raise UnsupportedMusicXML("tempo", "metronome dot before its beat unit")
            units[-1][1] += 1
        elif tag == "per-minute":
            if child.text is not None and child.text.strip():
                try:
                    numbers.append(_int_or_float(float(child.text)))
                except ValueError:
                    pass
        elif tag in ("metronome-note", "metronome-relation"):
            raise UnsupportedMusicXML("tempo", "metric modulation")
    if len(units) > 1:
        raise UnsupportedMusicXML("tempo", "metric modulation")
    if not numbers:
        return None
    number = numbers[0]
    if number <= 0:
        raise UnsupportedMusicXML("tempo", f"metronome {number}")
    quarters = 1.0
    if units:
        base, dots = units[0]
        quarters = base * (2 - 0.5**dots)
    return _quarter_bpm(number, quarters)


# --------------------------------------------------------------------------------------------------
# Repeats (music21's repeat.Expander)


class _Bar:
    """A measure in the expansion: its source index, whether it is a copy, and its repeat barlines."""

    __slots__ = ("index", "original", "left", "right", "times", "signs")

    def __init__(self, index, original, left, right, times, signs=True):
        self.index, self.original, self.left, self.right, self.times = index, original, left, right, times
        self.signs = signs  # False once music21 has stripped its segno, coda and fine marks

    def copy(self) -> _Bar:
        return _Bar(self.index, False, self.left, self.right, self.times, self.signs)

    def strip(self) -> None:
        if self.left is not None:
            self.left = None
        if self.right is not None:
            self.right = None
        self.times = None


class _CannotExpand(Exception):
    """music21's ExpanderException: render_music21 then plays the score once through."""


def _expand_repeats(measures: list[_Measure]) -> list[tuple[int, bool]] | None:
    """(source measure index, keeps its repeat signs) in playing order, or None when music21 leaves
    the measures as they are."""
    brackets = _brackets(measures)
    bars = [_Bar(i, True, m.left, m.right, m.times) for i, m in enumerate(measures)]
    if not any(b.left is not None or b.right == "end" for b in bars):
        return None
    if any(b.left == "end" for b in bars):
        raise UnsupportedMusicXML("repeat", "an end-repeat sign on a left barline")
    try:
        if not _repeats_coherent(bars) or not _brackets_coherent(bars, brackets):
            return None
        memo: set[int] = set()
        for _ in range(100):
            bars = _expand_once(bars, brackets, memo)
            if not any(b.left is not None or b.right == "end" for b in bars):
                break
    except _CannotExpand:
        return None
    return [(b.index, b.signs) for b in bars]


def _brackets(measures: list[_Measure]) -> list[tuple[tuple[int, ...], list[int]]]:
    """Volta brackets: (numbers, measures with an <ending> of the bracket), in order of start."""
    brackets, current = [], None
    for index, m in enumerate(measures):
        for kind, number, text in m.endings:
            if current is None:
                current = [None, [index]]  # numbers: set by the start, else RepeatBracket's default
                brackets.append(current)
            elif current[1][-1] != index:
                current[1].append(index)
            if kind == "start":
                current[0] = _ending_numbers(number, text)
            if kind in ("stop", "discontinue"):
                current = None
    return [(numbers if numbers is not None else (0,), members) for numbers, members in brackets]


def _repeats_coherent(bars: list[_Bar]) -> bool:
    starts = ends = balance = 0
    for b in bars:
        if b.left == "start":
            starts += 1
            balance += 1
        if b.right == "end":
            if balance == 0:  # a first repeat may omit its start
                starts += 1
                balance += 1
            ends += 1
            balance -= 1
        elif b.right == "start":
            raise _CannotExpand()
    return balance in (0, 1) and starts in (ends, ends - 1)


def _bracket_groups(bars: list[_Bar], brackets):
    """Brackets whose first measure is still an original, grouped as music21 groups them: a bracket
    numbered like one already in the group starts a new group."""
    first_of = {}
    for number, (numbers, members) in enumerate(brackets):
        first_of.setdefault(members[0], []).append(number)
    groups, group, seen = [], [], []
    for b in bars:
        if not b.original:
            continue
        for number in first_of.get(b.index, ()):
            numbers = brackets[number][0]
            if numbers[0] in seen:
                groups.append(group)
                group, seen = [], []
            seen += numbers
            group.append(number)
    groups.append(group)
    return groups


def _brackets_coherent(bars: list[_Bar], brackets) -> bool:
    by_index = {b.index: b for b in bars}
    for group in _bracket_groups(bars, brackets):
        if not group:
            return True
        if len(group) > 1:
            target = [n for number in group for n in brackets[number][0]]
            if list(range(1, max(target) + 1)) != target:
                return False
        spanned = set()
        for position, number in enumerate(group):
            members = brackets[number][1]
            if spanned & set(members):
                return False
            spanned |= set(members)
            if by_index[members[-1]].right is None and (len(group) == 1 or position < len(group) - 1):
                return False
    return True


def _innermost(bars: list[_Bar]) -> list[int]:
    starts = []
    for i, b in enumerate(bars):
        if b.left == "start":
            starts.append(i)
        elif b.left == "end":
            return list(range(starts[-1] if starts else 0, i))
        if b.right == "end":
            return list(range(starts[-1] if starts else 0, i + 1))
    return []


def _repeat_section(bars: list[_Bar], indices: list[int], times: int | None, forced: bool,
                    only_section: bool) -> list[_Bar]:
    """music21's processInnermostRepeatBars."""
    new: list[_Bar] = []
    strip_next = False
    i = 0
    while i < len(bars):
        if not indices:
            break
        if i == indices[0]:
            last = end_bar = None
            found_times = None
            try:
                last, end_bar, found_times = _end_repeat(bars, indices[-1])
            except _CannotExpand:
                if not forced:
                    raise
            count = times if times is not None else found_times
            for repetition in range(count):
                for j in indices:
                    copy = bars[j].copy()
                    if j in (indices[0], indices[-1]):
                        copy.strip()
                    if count >= 2 and repetition < count - 1:
                        copy.signs = False  # music21 keeps repeat signs on the last pass only
                    new.append(copy)
            if last is not end_bar:
                strip_next = True
            i = indices[-1] + 1
        else:
            if not only_section:
                b = bars[i]
                if strip_next:
                    b.strip()
                    strip_next = False
                new.append(b)
            i += 1
    return new


def _end_repeat(bars: list[_Bar], index: int):
    last = bars[index]
    if last.right == "end":
        return last, last, last.times if last.times is not None else 2
    if index >= len(bars) - 1:
        raise _CannotExpand()
    end_bar = bars[index + 1]
    if end_bar.left == "end":
        return last, end_bar, end_bar.times if end_bar.times is not None else 2
    raise _CannotExpand()


def _expand_once(bars: list[_Bar], brackets, memo: set[int]) -> list[_Bar]:
    """music21's _processInnermostRepeatsAndBrackets."""
    innermost = _innermost(bars)
    focus = None
    for group in _bracket_groups(bars, brackets):
        if not innermost:
            continue
        start, end = bars[innermost[0]], bars[innermost[-1]]
        for number in group:
            if number in memo:
                break
            members = brackets[number][1]
            if (start.original and start.index in members) or (end.original and end.index in members):
                focus = group
                break
        if focus is not None:
            break
    if focus is None:
        return _repeat_section(bars, innermost, None, False, False)
    position = {b.index: i for i, b in enumerate(bars) if b.original}
    sections, done_brackets, highest = [], [], None
    for number in focus:
        memo.add(number)
        numbers, members = brackets[number]
        if members[0] not in position or members[-1] not in position:
            raise _CannotExpand()
        first, last = position[members[0]], position[members[-1]]
        indices = [i for i in range(innermost[0], last + 1) if not any(i in d for d in done_brackets)]
        done_brackets.append(range(first, last + 1))
        if not indices:
            raise UnsupportedMusicXML("repeat", "a volta bracket before its repeat")
        sections.append(_repeat_section(bars, indices, len(numbers), True, True))
        highest = max(indices)
    new = bars[: innermost[0]]
    for section in sections:
        for b in section:
            b.strip()
            new.append(b)
    return new + bars[highest + 1:]


# --------------------------------------------------------------------------------------------------
# Velocities and ties


def _music21_number(q: int, grid: int):
    """How music21 holds q/grid quarters (common.opFrac): a float when exact in binary, else a Fraction."""
    value = Fraction(q, grid)
    denominator = value.denominator
    return value.numerator / denominator if denominator & (denominator - 1) == 0 else value


def _realize_velocities(items: list[_Item], starts: list[int], dynamics: list[tuple], highest: int,
                        grid: int) -> list[int]:
    """music21's volume.realizeVolume, then int(round(realized * 127)), per item (0 for rests).

    Each dynamic lasts until the next one; music21 computes its end as offset + length without
    normalizing, so a float offset plus a fractional length rounds to a float, and a note starting
    right at the next dynamic can still fall under this one. The ends here are those numbers.
    """
    bounds = {}
    for index, mark in enumerate(dynamics):
        next_at = dynamics[index + 1][1] if index + 1 < len(dynamics) else highest
        end = _music21_number(mark[1], grid) + _music21_number(next_at - mark[1], grid)
        bounds[(mark[1], Fraction(end) * grid)] = mark[2]  # (start, end) in grid units, exact
    # For integer offsets, end > offset exactly when ceil(end) > offset.
    spans = [(start, math.ceil(end), bounds[(start, end)]) for start, end in sorted(bounds)]
    last_key = 0
    velocities = []
    for item, at in zip(items, starts):
        if item.kind == _REST:
            velocities.append(0)
            continue
        scalar = None
        if spans:
            for k in range(last_key, len(spans)):
                start, end, found = spans[k]
                if end > at >= start:
                    last_key = k
                    scalar = found
                    break
        value = 0.5
        if item.vel is not None:
            value = value * (item.vel * 2.0)
        else:
            value += 0.20866
        if scalar is not None:
            value = value * (scalar * 2.0)
        for _, shift in item.arts:
            value += shift
        if value > 1:
            value = 1.0
        elif value < 0:
            value = 0.0
        velocities.append(int(round(value * 127)))
    return velocities


def _strip_ties(items: list[_Item], durations: list[int]) -> set[int]:
    """music21's stripTies(matchByPitch=True) over a part's flattened notes, chords and rests: a
    tied chain becomes its first note, as long as all of them. Updates `durations`; returns the
    indices of the notes merged away."""
    chain = [i for i, item in enumerate(items) if item.dur > 0]
    connected: list[int] = []  # positions in `chain`
    removed: set[int] = set()

    def pitch_ids(item):
        return item.ids if item.kind != _REST else ()

    def ends_chain(i: int) -> bool:
        item = items[chain[i]]
        if item.kind != _CHORD and item.tie == "stop":
            return True
        if i == 0 or (i - 1) not in connected:
            return False
        last = items[chain[i - 1]]
        if last.kind == _NOTE and item.kind == _NOTE:
            return last.ids[0][:3] == item.ids[0][:3]
        if item.kind != _NOTE:
            last_ids, ids = pitch_ids(last), pitch_ids(item)
            if len(last_ids) != len(ids):
                return False
            return all(a[0] == b[0] and a[3] == b[3] for a, b in zip(last_ids, ids))
        return False

    for i, index in enumerate(chain):
        tie = items[index].tie
        if tie is None and not connected:
            continue  # no tie and no chain open: nothing can end here
        end = None
        if tie == "start":
            if i == 0 or (i - 1) not in connected:
                connected = [i]
            else:
                connected.append(i)
            end = False
        elif tie == "continue":
            if not connected:
                connected.append(i)
            elif ends_chain(i):
                connected.append(i)
            else:
                connected = [i]
            end = False
        if end is None:
            end = ends_chain(i)
        if end:
            connected.append(i)
            if len(connected) < 2:
                connected = []
                continue
            first = chain[connected[0]]
            durations[first] += sum(durations[chain[j]] for j in connected[1:])
            removed.update(chain[j] for j in connected[1:])
            connected = []
    return removed


# --------------------------------------------------------------------------------------------------
# MIDI


@functools.lru_cache(maxsize=8192)
def _varlen(value: int) -> bytes:
    out = bytearray([value & 0x7F])
    value >>= 7
    while value:
        out.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out)


# Event order at one tick, as music21 sorts MIDI packets: note-offs, then pitch bends, then the rest;
# within each, the order they were made in. An event's sort key is tick * 4 + its rank.
_OFF, _BEND, _OTHER_EVENT = 0, 1, 2


def _track(events: list[tuple[int, bytes]], head: list[bytes]) -> bytes:
    """An MTrk chunk: `head` events at tick 0, then `events` (key, data) stably sorted by key."""
    events.sort(key=_first)
    out = bytearray()
    for data in head:
        out += b"\x00" + data
    last = 0
    for key, data in events:
        tick = key >> 2
        out += _varlen(tick - last)
        out += data
        last = tick
    out += _varlen(TICKS_PER_QUARTER) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(out)) + bytes(out)


def _meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + _varlen(len(data)) + data


def _channels(instruments: list[_Instrument]) -> dict:
    """music21's channelInstrumentData: a channel per program, in order of first use."""
    acceptable = list(range(1, 10)) + list(range(11, 17))
    by_program: dict = {}
    unique = []
    for inst in instruments:
        if inst.channel is not None and inst.program not in by_program:
            channel = inst.channel + 1
            if channel in acceptable:
                acceptable.remove(channel)
            elif channel != 10:
                channel = 1
            by_program[inst.program] = channel
        if inst.program not in unique:
            unique.append(inst.program)
    for i, program in enumerate(p for p in unique if p not in by_program):
        by_program[program] = acceptable[i] if i < len(acceptable) - 1 else acceptable[0]
    return by_program


def _write_midi(grid: int, streams) -> bytes:
    step = grid // TICKS_PER_QUARTER

    def ticks(q: int) -> int:
        whole, rest = divmod(q, step)
        if 2 * rest > step or (2 * rest == step and whole % 2):
            whole += 1
        return whole

    # Conductor track: per kind, a mark is kept when later than the last one seen (parts in order).
    conductor = []
    for rank, kind in ((1, _TEMPO), (2, _KEY), (4, _TIME)):
        last = -1
        found = False
        for _, _, marks in streams:
            for mark in marks:
                if mark[0] != kind:
                    continue
                if mark[1] > last:
                    conductor.append((mark[1], rank, kind, mark[2]))
                    found = True
                last = mark[1]
        if not found and kind == _TEMPO:
            conductor.append((0, rank, kind, 120.0))
        if not found and kind == _TIME:
            conductor.append((0, rank, kind, (4, 4)))
    conductor.sort(key=lambda c: (c[0], c[1]))
    events = []
    for offset, _, kind, value in conductor:
        key = 4 * ticks(offset) + _OTHER_EVENT
        if kind == _TEMPO:
            if value is not None:
                mspq = int(round(60_000_000 / value))
                if not 0 <= mspq < 2**24:
                    raise UnsupportedMusicXML("tempo", f"{value} quarter notes per minute")
                events.append((key, _meta(0x51, mspq.to_bytes(3, "big"))))
        elif kind == _TIME:
            numerator, denominator = value
            if numerator <= 255:
                events.append((key, _meta(0x58, bytes([numerator, int(math.log2(denominator)), 24, 8]))))
        else:
            sharps, mode = value
            events.append((key, _meta(0x59, bytes([sharps & 0xFF, mode]))))
    tracks = [_track(events, [])]

    by_program = _channels([inst for inst, _, _ in streams])
    for inst, notes, _ in streams:
        channel = (10 if inst.percussion else by_program[inst.program]) - 1
        head = [_meta(0x03, inst.name.encode("utf-8", "ignore"))]
        if inst.program is not None:
            head.append(bytes([0xC0 | channel, inst.program]))
        on, off = 0x90 | channel, 0x80 | channel
        # The part's instrument, once more at its offset (0) in the part, and music21's pitch-bend reset.
        events = [(_OTHER_EVENT, bytes([0xC0 | channel, inst.program or 0])), (_BEND, bytes([0xE0 | channel, 0, 64]))]
        append = events.append
        for at, duration, velocity, item in notes:
            if step == 1:
                start, stop = 4 * at + _OTHER_EVENT, 4 * (at + duration) + _OFF
            else:
                tick = ticks(at)
                start, stop = 4 * tick + _OTHER_EVENT, 4 * (tick + ticks(duration)) + _OFF
            if item.lyrics:
                lyric = "\n".join(item.lyrics)
                if lyric:
                    append((start, _meta(0x05, lyric.encode("utf-8", "ignore"))))
            for pitch in item.midis:
                append((start, bytes((on, pitch, velocity))))
            for pitch in item.midis:
                append((stop, bytes((off, pitch, 0))))
        tracks.append(_track(events, head))
    return b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), TICKS_PER_QUARTER) + b"".join(tracks)
