"""One <measure> as music21's MeasureParser reads it: notes, chords, rests and chord symbols with
their offsets and durations (integers on the score's grid), voices, directions (dynamics, tempos,
words), attributes (divisions, meter, key) and barlines (repeats, endings)."""

from __future__ import annotations

import math
from typing import Any, Protocol

from lxml import etree

from symcorpus.music.musicxml.errors import UnsupportedMusicXML
from symcorpus.music.musicxml.lookups import (check_clef, check_transpose, chord_symbol, key_is_minor,
                                              time_signature)


class PartState(Protocol):
    """What a measure reads and updates of its part (parts.PartReader): a protocol, so that this
    module does not import the one that imports it."""

    score: Any  # the document's shared state: pitch cache, open pedals, Finale quirks
    grid: int  # ticks per quarter
    divisions: int  # the part's current <divisions>
    unit: int  # ticks per division
    open_ending: bool  # inside a volta bracket not yet closed


# music21's defaults.ticksPerQuarter: every offset is rounded to this grid.
TICKS_PER_QUARTER = 10080


# music21 keeps offsets as fractions whose denominators stay below this (common.opFrac).
DENOMINATOR_LIMIT = 65535


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


# Words music21 turns into repeat expressions (repeat.repeatExpressionReference: signs such as Fine,
# and the commands that jump), compared without spaces or dots, lower case: the class each makes.
_REPEAT_EXPRESSIONS = {
    "coda": "Coda", "tocoda": "Coda", "alcoda": "Coda", "segno": "Segno", "fine": "Fine",
    "dacapo": "DaCapo", "dc": "DaCapo", "dacapoalfine": "DaCapoAlFine", "dcalfine": "DaCapoAlFine",
    "dacapoalcoda": "DaCapoAlCoda", "dcalcoda": "DaCapoAlCoda", "alsegno": "AlSegno",
    "dalsegno": "DalSegno", "ds": "DalSegno", "dalsegnoalfine": "DalSegnoAlFine", "dsalfine": "DalSegnoAlFine",
    "dalsegnoalcoda": "DalSegnoAlCoda", "dsalcoda": "DalSegnoAlCoda",
}  # fmt: skip


REST, NOTE, CHORD, HARMONY = 0, 1, 2, 3


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


class Item:
    """A note, chord or rest of one measure, as music21's MeasureParser makes it."""

    __slots__ = ("kind", "off", "dur", "grace", "midis", "ids", "tie", "vel", "arts", "staff", "rank", "seq",
                 "rtype", "rdots", "tuplet", "full", "lyrics", "note_vels")

    def __init__(self, kind, off, dur, grace, midis, ids, tie, vel, arts, staff):
        self.kind, self.off, self.dur, self.grace = kind, off, dur, grace
        self.midis, self.ids, self.tie, self.vel, self.arts, self.staff = midis, ids, tie, vel, arts, staff
        self.rank = self.seq = 0
        self.rtype = None  # rests: note type, dots, time modification, measure="yes"
        self.rdots = 0
        self.tuplet = False
        self.full = False
        self.lyrics: list[str] = []  # one text per <lyric>, as music21's Lyric.text
        # A chord whose every note has a dynamics attribute: each note's velocity scalar (else None).
        self.note_vels: list[float] | None = None


# Kinds of zero-length marks: all of them kept only on their own staff when music21 splits a
# multi-staff part (STAFF_SPECIFIC_CLASSES in separateOutPartStaves), except EVERY_STAFF (pedal marks).
# METRIC_MODULATION: music21's MetricModulation, a tempo indication its MIDI translator leaves out (not
# a MetronomeMark: it stays in the part, like OTHER, yet declares a tempo).
DYNAMIC, TEMPO, TIME, KEY, OTHER, REPEAT_SIGN, EVERY_STAFF, METRIC_MODULATION = range(8)


class Measure:
    """One <measure> as read: its notes and marks (offsets within it), barlines and endings."""

    __slots__ = ("items", "marks", "n_voices", "left", "right", "times", "offset", "finale_rest", "endings",
                 "has_notes", "staff_keys", "expressions")

    def __init__(self):
        self.items: list[Item] = []
        self.marks: list[tuple] = []  # (kind, offset, staff, value, seq)
        self.n_voices = 0
        self.left = self.right = None  # repeat barlines: 'start' / 'end'
        self.times = None
        self.offset = 0
        self.finale_rest: Item | None = None
        self.endings: list[tuple[str, str | None, str | None]] = []  # (type, number, text)
        self.has_notes = False
        self.staff_keys: set[int] = set()
        self.expressions: list[str] = []  # music21's repeat expressions here (Segno, Fine, DaCapo...)


def highest_time(items, marks) -> int:
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


class _Note:
    """The children of one <note> that matter here, read in one pass."""

    __slots__ = ("chord", "rest", "grace", "step", "octave", "alter", "duration", "type", "dots", "ties",
                 "accidental", "time_mod", "notations", "lyrics", "voice", "staff", "dynamics", "next_chord")

    def __init__(self, el) -> None:
        # Hot path (every note of the score): fields gather in locals and are stored once at the end,
        # and the child tags are compared most frequent first (in music21's corpus: duration, type,
        # pitch, voice, stem, beam), so that a typical child costs one or two string compares.
        chord = grace = False
        rest = step = octave = alter = duration = type_ = accidental = time_mod = voice = None
        dots = staff = 0
        ties = notations = lyrics = ()
        for child in el:
            tag = child.tag
            if tag == "duration":
                duration = child.text
            elif tag == "type":
                type_ = (child.text or "").strip()
            elif tag == "pitch":
                for p in child:
                    ptag = p.tag
                    if ptag == "step":
                        step = p.text
                    elif ptag == "octave":
                        octave = p.text
                    elif ptag == "alter":
                        alter = p.text
            elif tag == "voice":
                voice = (child.text or "").strip()
            elif tag == "stem" or tag == "beam":
                continue  # not read
            elif tag == "notations":
                notations += (child,)
            elif tag == "lyric":
                lyrics += (child,)
            elif tag == "rest":
                rest = child
            elif tag == "dot":
                dots += 1
            elif tag == "tie":
                ties += (child.get("type"),)
            elif tag == "staff":
                staff = _staff_number(child.text)
            elif tag == "accidental":
                accidental = child.text
            elif tag == "time-modification":
                time_mod = child
            elif tag == "chord":
                chord = True
            elif tag == "grace":
                grace = True
            elif tag == "unpitched":
                raise UnsupportedMusicXML("unpitched", "unpitched percussion notes")
        self.chord, self.grace, self.rest, self.voice, self.staff = chord, grace, rest, voice, staff
        self.step, self.octave, self.alter, self.accidental = step, octave, alter, accidental
        self.duration, self.type, self.dots, self.ties = duration, type_, dots, ties
        self.time_mod, self.notations, self.lyrics = time_mod, notations, lyrics
        self.dynamics = el.get("dynamics")
        self.next_chord = False  # set by MeasureReader.read when the next child is a <chord/> note


class MeasureReader:
    """The children of one <measure>, in document order (music21's MeasureParser)."""

    def __init__(self, part: PartState, m: Measure, element) -> None:
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
        children: list = []  # _Note for a <note>, else the element
        voice_ids = set()
        previous = None
        for child in self.element:
            tag = child.tag
            if tag == "note":
                note = _Note(child)
                if note.chord and type(previous) is _Note:
                    previous.next_chord = True
                children.append(note)
                previous = note
                if note.voice:
                    voice_ids.add(note.voice)
                continue
            children.append(child)
            previous = child
            if tag == "forward":
                voice = _child(child, "voice")
                if voice is not None and voice.text and voice.text.strip():
                    voice_ids.add(voice.text.strip())
            elif tag == "print":
                for layout in child:
                    if layout.tag == "staff-layout":
                        number = layout.get("number")
                        if number is not None and number.strip().isdigit():
                            self._add_mark(OTHER, 0, int(number))
        if len(voice_ids) > 1:
            for rank, voice in enumerate(sorted(voice_ids)):
                self.voices[voice] = rank
            self.m.n_voices = len(voice_ids)
        note_type = _Note
        for child in children:
            if type(child) is note_type:
                self._note(child)
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
        el = _child(element, "duration")
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
        el = _child(element, "offset")
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

    def _repeat_expression(self, name: str, offset: int, staff: int) -> None:
        """A segno, coda, fine or jump (music21's RepeatExpression classes, by name)."""
        self._add_mark(REPEAT_SIGN, offset, staff)
        self.m.expressions.append(name)

    def _add_mark(self, kind: int, offset: int, staff: int, value=None) -> None:
        if offset < 0:
            raise UnsupportedMusicXML("offset", "a mark before the start of its measure")
        self.seq += 1
        self.m.marks.append((kind, offset, staff, value, self.seq))
        if kind != EVERY_STAFF:
            self.m.staff_keys.add(staff)

    # ---- notes ---------------------------------------------------------------------------------------

    def _note(self, note: _Note) -> None:
        next_is_chord = note.next_chord
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

    def _insert(self, item: Item, staff: int) -> None:
        item.off = self.pos
        self.seq += 1
        item.seq = self.seq
        item.staff = staff
        self.m.items.append(item)
        self.m.staff_keys.add(staff)
        if item.kind != HARMONY:
            self.m.has_notes = True

    def _chord(self, notes: list[_Note]) -> None:
        items = [self._simple(n) for n in notes]
        first = items[0]
        given = sum(n.vel is not None for n in items)
        if 0 < given < len(items):
            raise UnsupportedMusicXML("chord_dynamics", "a dynamics attribute on some notes of a chord")
        # music21 moves one articulation of each kind from the chord's notes (lowest first) to the chord.
        seen, arts = set(), []
        for n in sorted(items, key=lambda n: n.ids[0][3]):
            for name, shift in n.arts:
                if name not in seen:
                    seen.add(name)
                    arts.append((name, shift))
        tie = next((n.tie for n in items if n.tie is not None), None)
        chord = Item(CHORD, 0, first.dur, first.grace, [n.midis[0] for n in items],
                      [n.ids[0] for n in items], tie, None, arts, 0)
        chord.lyrics = [text for n in items for text in n.lyrics]
        if given:  # music21's translator then plays each note with its own volume (playback.py)
            chord.note_vels = [n.vel for n in items]
        voiced = next((n for n in notes if n.voice is not None), notes[-1])
        chord.rank = self._container(voiced.voice)
        self._insert(chord, notes[0].staff)
        self.pos += chord.dur

    def _harmony(self, el) -> None:
        """A chord symbol: music21 writes its pitches as zero-length notes."""
        key = b"".join(etree.tostring(child) for child in el
                       if child.tag in ("root", "function", "kind", "inversion", "bass", "degree", "numeral"))
        pitches, ids = chord_symbol(key, _child(el, "frame") is not None)
        item = Item(HARMONY, 0, 0, False, list(pitches), list(ids), None, None, (), 0)
        item.rank = self.m.n_voices  # music21 puts chord symbols in the measure, outside voices
        self.seq += 1
        item.seq = self.seq
        item.off = self.pos + self._offset_of(el)
        if item.off < 0:
            raise UnsupportedMusicXML("offset", "a chord symbol before the start of its measure")
        item.staff = _staff_of(el)
        self.m.items.append(item)
        self.m.staff_keys.add(item.staff)

    def _simple(self, note: _Note) -> Item:
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
            item = Item(REST, 0, dur, note.grace, (), (), tie, None, (), 0)
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
        item = Item(NOTE, 0, dur, note.grace, pitch[0], pitch[1], tie, vel, arts, 0)
        if note.lyrics:
            item.lyrics = [_lyric_text(lyric) for lyric in note.lyrics]
        return item

    def _check_tuplets(self, time_mod, notations) -> None:
        """Tuplet markup music21 fails on (it reads tuplets to build notated durations)."""
        for tag in ("actual-notes", "normal-notes"):
            child = _child(time_mod, tag)
            if child is not None and child.text not in (None, ""):
                try:
                    if int(child.text) <= 0:
                        raise ValueError
                except ValueError:
                    raise UnsupportedMusicXML("tuplet", f"{tag} {child.text!r}") from None
        normal = _child(time_mod, "normal-type")
        if normal is not None and (normal.text or "").strip() and normal.text.strip() not in _NOTE_TYPES:
            raise UnsupportedMusicXML("tuplet", f"normal-type {normal.text!r}")
        for notation in notations:
            for tuplet in notation:
                if tuplet.tag != "tuplet":
                    continue
                number = tuplet.get("number")
                if number is not None and number not in ("1", "2", "3", "4", "5", "6"):
                    raise UnsupportedMusicXML("tuplet", f"tuplet number {number!r}")
                if tuplet.get("type") == "stop":
                    continue
                for part in ("tuplet-actual", "tuplet-normal"):
                    # tuplet.iterfind(part + "/tuplet-number"), then part + "/tuplet-type"
                    groups = [group for group in tuplet if group.tag == part]
                    for number_el in [n for group in groups for n in group if n.tag == "tuplet-number"]:
                        try:
                            if number_el.text not in (None, "") and int(number_el.text) <= 0:
                                raise ValueError
                        except ValueError:
                            raise UnsupportedMusicXML("tuplet", f"tuplet number {number_el.text!r}") from None
                    for type_el in [t for group in groups for t in group if t.tag == "tuplet-type"]:
                        if type_el.text is not None and type_el.text.strip() not in _NOTE_TYPES:
                            raise UnsupportedMusicXML("tuplet", f"tuplet type {type_el.text!r}")

    def _forward(self, el) -> None:
        change = self._duration_text(el)
        if change is None:
            return
        if self.part.score.finale:
            # music21 turns Finale's <forward> into a hidden rest (a quarter rest for a zero forward:
            # Rest(quarterLength=0) keeps its default length).
            rest = Item(REST, 0, change or self.part.grid, False, (), (), None, None, (), 0)
            voice = _child(el, "voice")
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
                sign = _child(child, "sign")
                if sign is None or sign.text is None:
                    raise UnsupportedMusicXML("clef", "a clef without a sign")
                line, change = _child(child, "line"), _child(child, "clef-octave-change")
                check_clef(sign.text, line.text if line is not None else None,
                            change.text if change is not None else None)
                self._add_mark(OTHER, self.pos, _number_of(child, 1))
            elif tag == "staff-details":
                self._add_mark(OTHER, self.pos, _number_of(child, 1))
            elif tag == "staves":
                try:
                    self.staves = int(child.text)
                except (TypeError, ValueError):
                    raise UnsupportedMusicXML("staves", f"staves {child.text!r}") from None
            elif tag == "transpose":
                check_transpose(etree.tostring(child))

    def _time(self, el) -> None:
        if _child(el, "senza-misura") is not None:
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
        numerator, denominator, bar_num, bar_den = time_signature(text)
        grid = self.part.grid
        if grid * bar_num % bar_den:
            raise UnsupportedMusicXML("time_signature", f"bar of {bar_num}/{bar_den} quarters")
        bar = grid * bar_num // bar_den
        if self.pos == 0 and self.time is None:
            self.time = bar
        self._add_mark(TIME, self.pos, _number_of(el, 0), (numerator, denominator))

    def _key(self, el) -> None:
        fifths = _child(el, "fifths")
        if _child(el, "key-octave") is not None:
            raise UnsupportedMusicXML("key_signature", "key-octave")
        if fifths is None:
            raise UnsupportedMusicXML("key_signature", "non-traditional key signature")
        try:
            sharps = int(fifths.text)
        except (TypeError, ValueError):
            raise UnsupportedMusicXML("key_signature", f"fifths {fifths.text!r}") from None
        mode = _child(el, "mode")
        minor = bool(mode is not None and mode.text and key_is_minor(mode.text))
        self._add_mark(KEY, self.pos, _number_of(el, 0), (sharps, 1 if minor else 0))

    def _direction(self, el) -> None:
        offset = self.pos + self._offset_of(el)
        staff = _staff_of(el)
        metronome = False
        for direction_type in el:
            if direction_type.tag != "direction-type":
                continue
            for child in direction_type:
                tag = child.tag
                if tag == "dynamics":
                    for dynamic in child:
                        text = dynamic.tag
                        if text == "other-dynamic" and dynamic.text:
                            text = dynamic.text.strip()
                        if not isinstance(text, str):
                            continue
                        self._add_mark(DYNAMIC, offset, staff, _dynamic_scalar(text))
                elif tag == "metronome":
                    bpm = _metronome_bpm(child)
                    if bpm is _MODULATION:
                        self._add_mark(METRIC_MODULATION, offset, staff)
                    else:
                        self._add_mark(TEMPO, offset, staff, bpm)
                    metronome = True
                elif tag in ("coda", "segno"):
                    self._repeat_expression("Coda" if tag == "coda" else "Segno", offset, staff)
                elif tag == "words":
                    words = (child.text or "").strip().replace(" ", "").replace(".", "").lower()
                    if words in _REPEAT_EXPRESSIONS:
                        self._repeat_expression(_REPEAT_EXPRESSIONS[words], offset, staff)
                    else:
                        self._add_mark(OTHER, offset, staff)
                elif tag == "rehearsal":
                    self._add_mark(OTHER, offset, staff)
                elif tag == "pedal":
                    self._pedal(child, offset)
        if not metronome:
            for sound in el:
                if sound.tag == "sound" and "tempo" in sound.attrib:
                    self._sound(sound, staff, offset)
                    break

    def _pedal(self, el, offset: int) -> None:
        """music21 keeps pedal marks as spanners, but inserts a zero-length mark for a pedal change,
        gap or resumption of an open pedal: in every staff, and part of the measure's length."""
        kind, number = el.get("type"), el.get("number")
        # Open pedals, oldest first, by number: music21 looks them up across the whole score.
        open_pedals = self.part.score.open_pedals.setdefault(number, [])
        if kind in ("start", "sostenuto"):
            symbol = el.get("line") != "yes" and (el.get("line") == "no" or el.get("sign") == "yes")
            open_pedals.append((self, offset, symbol))
        elif not open_pedals or kind == "continue":
            return  # music21 warns about a pedal it cannot find, and goes on
        elif kind in ("change", "discontinue"):
            self._add_mark(EVERY_STAFF, offset, 0)
        elif kind == "resume":
            reader, start, symbol = open_pedals[0]
            if not (symbol and reader is self and start == offset):
                self._add_mark(EVERY_STAFF, offset, 0)
        elif kind == "stop":
            open_pedals.pop(0)

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
        self._add_mark(TEMPO, offset, staff, _quarter_bpm(qpm, 1.0))

    def _barline(self, el) -> None:
        location = el.get("location") or "right"
        repeat = _child(el, "repeat")
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
                # music21's Measure makes any repeat set as its right barline an end repeat (a
                # forward sign there is read as backward), and ignores the times of a forward sign.
                self.m.right = "end"
                if times is not None:
                    try:
                        count = int(times)
                    except ValueError:
                        raise UnsupportedMusicXML("repeat", f"repeat times {times!r}") from None
                    if kind == "end":
                        self.m.times = count if count >= 0 else None  # music21 ignores a negative count
            else:
                raise UnsupportedMusicXML("repeat", "a repeat sign in the middle of a measure")
        elif location == "left":
            self.m.left = None
        elif location == "right":
            self.m.right = None
        ending = _child(el, "ending")
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
        for group in notation:
            if group.tag != "articulations":
                continue
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
    texts, syllabics, elisions = [], [], []  # el.findall of each, in one pass
    for child in el:
        tag = child.tag
        if tag == "text":
            texts.append(child)
        elif tag == "syllabic":
            syllabics.append(child)
        elif tag == "elision":
            elisions.append(child)
    if not texts:
        return ""
    if len(texts) == 1:
        if syllabics and syllabics[0].text is None:
            raise UnsupportedMusicXML("lyric", "an empty syllabic")
        if syllabics:
            _syllabic_ok(syllabics[0])
        return texts[0].text.strip() if texts[0].text is not None else ""
    out = texts[0].text.strip() if texts[0].text is not None else ""
    for i, text in enumerate(texts[1:], start=1):
        before = " "
        if i < len(syllabics) and _syllabic_ok(syllabics[i]) and i - 1 < len(elisions):
            before = elisions[i - 1].text if elisions[i - 1].text is not None else ""
        out += before + (text.text.strip() if text.text is not None else "")
    return out


def _child(el, tag: str):
    """el.find(tag) for a plain tag name: looping over an element's few children is about twice as
    fast as lxml's ElementPath machinery."""
    for child in el:
        if child.tag == tag:
            return child
    return None


def _staff_number(text: str | None) -> int:
    """music21's staff key: the <staff> number, 0 (no staff) when missing or unreadable."""
    if text is None:
        return 0
    try:
        return int(text.strip())
    except ValueError:
        return 0


def _staff_of(el) -> int:
    staff = _child(el, "staff")
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


_MODULATION = object()  # _metronome_bpm's answer for a metric modulation


def _metronome_bpm(el) -> float | None | object:
    """Quarter notes per minute of a <metronome>, None when it gives no number (music21 then writes
    no tempo, yet counts the mark as a tempo), _MODULATION for two beat units or more (music21's
    MetricModulation: referents only, any number ignored)."""
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
        return _MODULATION
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
