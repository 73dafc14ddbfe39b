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
* Repeats: music21's `expandRepeats` for repeat barlines, numbered endings and D.C./D.S. jumps
  with their fine and coda signs (each part by its own marks), including its re-layout of expanded
  measures by their highest time; when one part's repeats cannot be expanded, every part is played
  once through, as `render_music21` does. A jump in a part of several staves is declined.
* MIDI: a conductor track (tempos from <metronome> and <sound tempo>, 120 when none; time and
  key signatures, first per offset across parts), then a track per part or staff with music21's
  track name, program, channel (`channelInstrumentData`), pitch-bend reset, velocities from
  dynamics, note `dynamics` attributes and articulations (`volume.realizeVolume`; a chord whose
  notes all carry `dynamics` plays each note's own, under the dynamic a context search from the
  chord finds, and is declined before its staff's first dynamic), written pitch
  (music21's translator does not transpose to sounding pitch), events in music21's order so
  that a MIDI reader pairs note-ons and note-offs the same way.

Modules: `document` (bytes to an element tree; title and composer), `measures` (one <measure>),
`parts` (layout of a part's measures, staves, the tracks), `repeats` (music21's repeat expansion),
`playback` (velocities, ties), `midi_file` (the file), `lookups` (what is asked of music21 itself,
cached: its instrument-name tables, meters, modes, ending numbers, chord symbols, clefs and
transpositions are the spec, and reusing them is more faithful than a copy). Lyrics are written
as music21 writes them (one lyric event per note, its verses joined by newlines).

Anything not reproduced faithfully raises `UnsupportedMusicXML` with a short reason, and the
caller falls back to music21 (`bench/musicxml_check.py` compares both on every MusicXML file of
music21's corpus). Malformed input raises `MalformedMusicXML`.

Why lxml, and not ElementTree or partitura: on music21's corpus lxml builds the tree several times
faster than the standard library's ElementTree (whose tree is cheaper to walk, but not by as
much). partitura (a MusicXML loader on lxml) was measured side by side with
`bench/musicxml_speed.py --contenders music21,reader,partitura` on 44 files spread over the corpus:
it took about 7x the reader's CPU time, and only 6 of the 44 gave music21's notes (onset and
pitch), since it keeps its own conventions for repeats, grace notes and ties. Matching music21
on top of it would mean re-deriving the same rules, at no gain.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

from symcorpus.music.musicxml.document import PARSER, UTF8_PARSER, archived_xml, parse_xml, score_metadata
from symcorpus.music.musicxml.errors import MalformedMusicXML, UnsupportedMusicXML
from symcorpus.music.musicxml.measures import TICKS_PER_QUARTER
from symcorpus.music.musicxml.parts import ScoreReader

__all__ = ["MalformedMusicXML", "MusicXMLRead", "TICKS_PER_QUARTER", "UnsupportedMusicXML", "read_musicxml",
           "score_metadata"]


@dataclass(frozen=True)
class MusicXMLRead:
    """A rendered score: Standard MIDI File bytes plus the title and composer music21 would read."""

    midi: bytes
    title: str | None
    composer: str | None
    tempo_declared: bool = True  # a metronome mark or sound tempo, as music21 would find
    programs_declared: bool = True  # a part whose instrument has a MIDI program


def read_musicxml(data: bytes) -> MusicXMLRead:
    """One MusicXML file (.xml/.musicxml bytes, or an .mxl zip) to MIDI bytes, title and composer."""
    # The cyclic garbage collector is paused while a file is read: the reader makes several objects
    # per element (lxml proxies, notes, events), so the collector would run every few hundred of
    # them and rescan the growing lists of notes each time (6-10% of the reader's CPU time), while
    # reference counting frees all but a few objects anyway; those few cycles (a pedal's reader
    # and its part) are collected at the next collection after the read. Only a collector that was
    # enabled is enabled again.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _read(data)
    finally:
        if paused:
            gc.enable()


def _read(data: bytes) -> MusicXMLRead:
    if data[:4] == b"PK\x03\x04":
        root = parse_xml(archived_xml(data), UTF8_PARSER)
    else:
        root = parse_xml(data, PARSER)
    if root.tag != "score-partwise":
        raise MalformedMusicXML(f"root element is <{root.tag}>; only <score-partwise> is read")
    title, composer = score_metadata(root)
    reader = ScoreReader(root)
    midi = reader.midi()
    return MusicXMLRead(midi, title, composer, reader.tempo_declared, reader.programs_declared)
