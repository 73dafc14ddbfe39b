"""A score's parts as music21 lays them out and renders them: measure offsets, full-measure and
empty measures, one track per staff of a multi-staff part, repeats, flat order, velocities and
ties; then the MIDI file."""

from __future__ import annotations

import math
import operator

from symcorpus.music.musicxml.errors import UnsupportedMusicXML
from symcorpus.music.musicxml.lookups import Instrument, instrument, instrument_key
from symcorpus.music.musicxml.measures import (DENOMINATOR_LIMIT, DYNAMIC, EVERY_STAFF, HARMONY, KEY,
                                               METRIC_MODULATION, REPEAT_SIGN, REST, TEMPO, TICKS_PER_QUARTER, TIME,
                                               Item, Measure, MeasureReader, highest_time)
from symcorpus.music.musicxml.midi_file import write_midi
from symcorpus.music.musicxml.playback import PartContext, realize_velocities, strip_ties
from symcorpus.music.musicxml.repeats import JUMPS, RepeatsIncoherent, expand_repeats

ONCE_STRIPPED = "once through, repeat marks stripped"  # a layout, beside a playing order or None


class ScoreReader:
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
        if math.lcm(*divisions, 1) > DENOMINATOR_LIMIT:
            raise UnsupportedMusicXML("divisions", f"divisions {sorted(divisions)} need finer offsets than music21's")
        self.grid = math.lcm(TICKS_PER_QUARTER, *divisions)  # Q: one quarter note is Q units
        self.finale = _written_by_finale(root)
        self.pitches: dict[tuple, tuple] = {}  # <pitch> texts -> _pitch(), read once per score
        self.open_pedals: dict[str | None, list] = {}
        self.tempo_declared = self.programs_declared = False  # known once midi() has run

    def midi(self) -> bytes:
        score_parts = {}
        part_list = self.root.find("part-list")
        if part_list is not None:
            for el in part_list:
                if el.tag == "score-part":
                    score_parts[el.get("id")] = el
        readers = []
        for part in self.root.iterfind("part"):
            part_id = part.get("id")
            if part_id is None:
                if not score_parts:
                    raise UnsupportedMusicXML("part", "a part without an id and no part-list")
                part_id = next(iter(score_parts))
            if part_id not in score_parts:
                continue  # music21 skips a part the part-list does not describe
            reader = PartReader(self, part, score_parts[part_id])
            reader.read()
            readers.append(reader)
        try:
            sequences = [reader.repeats() for reader in readers]
        except RepeatsIncoherent:
            # One part's repeats music21 cannot expand: it strips every repeat mark of the score
            # and plays every part once through (render_music21).
            sequences = [ONCE_STRIPPED] * len(readers)
        streams: list[tuple[Instrument, list[Item], list[tuple]]] = []
        for reader, sequence in zip(readers, sequences):
            streams.extend(reader.streams(sequence))
        # What music21 would find in the score, to tell a declared tempo and instruments from the 120
        # bpm and piano its MIDI translator writes anyway (parse.Music21Render's two flags).
        self.tempo_declared = any(mark[0] in (TEMPO, METRIC_MODULATION) for _, _, marks in streams for mark in marks)
        self.programs_declared = any(inst.program is not None for inst, _, _ in streams)
        return write_midi(self.grid, streams)


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


class PartReader:
    """One <part>: its measures as music21's PartParser and MeasureParser lay them out."""

    def __init__(self, score: ScoreReader, part, score_part) -> None:
        self.score = score
        self.part = part
        self.instrument = instrument(instrument_key(score_part))
        self.grid = score.grid
        self.divisions = 10080  # music21's default until a <divisions> arrives
        self.unit = self.grid // self.divisions
        self.bar = 4 * self.grid  # the last time signature's bar length (4/4 until one is seen)
        self.offset = 0
        self.max_staves = 1
        self.measures: list[Measure] = []
        self.open_ending = False

    # ---- measures ---------------------------------------------------------------------------------

    def read(self) -> None:
        for element in self.part.iterfind("measure"):
            self._measure(element)
        if self.open_ending:
            raise UnsupportedMusicXML("ending", "a volta bracket is never closed")
        if not self.measures:
            return
        last = self.measures[-1]
        if last.finale_rest is not None and last.n_voices == 0:
            # music21 drops the hidden rest Finale writes to complete a short last measure
            # (after laying the measures out, so offsets keep it).
            rest = last.finale_rest
            if max(last.items, key=lambda i: (i.off, i.kind != HARMONY, not i.grace, i.seq)) is rest:
                last.items.remove(rest)

    def repeats(self):
        """The measures' playing order (repeats.expand_repeats), None for as written."""
        if not self.measures:
            return None
        if self.max_staves > 1 and any(name in JUMPS for m in self.measures for name in m.expressions):
            # music21 keeps a jump on its own staff's track, which alone would jump.
            raise UnsupportedMusicXML("jump", "a D.C. or D.S. in a part of several staves")
        return expand_repeats(self.measures)

    def streams(self, sequence):
        if not self.measures:
            return [self._stream(None, None)]  # music21 still writes the part's (empty) track
        if self.max_staves > 1:
            keys = sorted({k for m in self.measures for k in m.staff_keys if k != 0})
            return [self._stream(sequence, key) for key in keys]
        return [self._stream(sequence, None)]

    def _measure(self, element) -> None:
        m = Measure()
        parser = MeasureReader(self, m, element)
        parser.read()
        self.max_staves = max(self.max_staves, parser.staves)
        if parser.time is not None:
            self.bar = parser.time
        bar = self.bar
        if parser.full_measure_rest:
            self._fit_full_measure_rest(m, bar)
        highest = highest_time(m.items, m.marks)
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
            rest = Item(REST, 0, bar, False, (), (), None, None, (), -1)  # staff -1: in every staff
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
    def _fit_full_measure_rest(m: Measure, bar: int) -> None:
        """music21 stretches a measure's lone (or measure="yes") rest to the time signature."""
        rests = sorted((i for i in m.items if i.kind == REST), key=lambda i: (i.rank, i.off, not i.grace, i.seq))
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

        def kept(mark: tuple, signs: bool) -> bool:
            """Marks on this staff (pedal marks are on every staff), without the repeat signs
            music21 strips from a repeated pass."""
            return (mark[0] == EVERY_STAFF or keep(mark[2])) and (signs or mark[0] != REPEAT_SIGN)

        if sequence is None or sequence is ONCE_STRIPPED:
            signs = sequence is None
            offsets = [(i, m.offset, signs) for i, m in enumerate(self.measures)]
        else:
            # Expanded measures follow each other by their highest times (on this staff).
            offsets, position = [], 0
            for index, signs in sequence:
                offsets.append((index, position, signs))
                m = self.measures[index]
                items = [i for i in m.items if keep(i.staff)]
                marks = [mk for mk in m.marks if kept(mk, signs)]
                position += highest_time(items, marks)
        placed = []
        placed_marks: list[tuple] = []
        for seq_index, (index, start, signs) in enumerate(offsets):
            m = self.measures[index]
            # Measure by measure, voice by voice, in document order; the sort below is stable.
            for item in sorted(m.items, key=_voice_order) if m.n_voices else m.items:
                if staff is None or item.staff in (0, -1, staff):
                    at = start + item.off
                    # music21's flat order: offset, chord symbols before notes, grace notes first.
                    placed.append((4 * at + (0 if item.kind == HARMONY else 2) + (0 if item.grace else 1), at, item,
                                   m.offset + item.off))
            for mark in m.marks:
                if kept(mark, signs):
                    placed_marks.append((mark[0], start + mark[1], mark[3], (seq_index, mark[4])))
        placed.sort(key=_first)
        starts = [p[1] for p in placed]
        items = [p[2] for p in placed]
        placed_marks.sort(key=lambda mk: (mk[1], mk[3]))
        # The highest time once music21 has moved tempos, time and key signatures to the conductor.
        meta = (TEMPO, TIME, KEY)
        highest = max([at + item.dur for at, item in zip(starts, items)]
                      + [mk[1] for mk in placed_marks if mk[0] not in meta] + [0])
        dynamics = [mk for mk in placed_marks if mk[0] == DYNAMIC]
        # A staff of a multi-staff part: music21's context search from a chord before the staff's
        # first dynamic goes on in the part as read, unsplit and unexpanded (the chord's other
        # site). Only chords whose notes carry their own volumes need it.
        part_context = None
        if staff is not None and any(item.note_vels is not None for item in items):
            part_dynamics = sorted((m.offset + mk[1], (index, mk[4]), mk[3]) for index, m in enumerate(self.measures)
                                   for mk in m.marks if mk[0] == DYNAMIC)
            part_context = PartContext([p[3] for p in placed], [d[0] for d in part_dynamics],
                                       [d[2] for d in part_dynamics])
        velocities = realize_velocities(items, starts, dynamics, highest, self.grid, part_context)
        durations = [item.dur for item in items]
        removed = strip_ties(items, durations)
        notes = [(starts[i], durations[i], velocities[i], item) for i, item in enumerate(items)
                 if item.kind != REST and i not in removed]
        return self.instrument, notes, placed_marks


_first = operator.itemgetter(0)


def _voice_order(item: Item) -> tuple[int, int]:
    return item.rank, item.seq
