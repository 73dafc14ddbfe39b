"""The MusicXML reader: note for note against music21 on a spread of music21's corpus, the fallback
to music21 for what it declines, and bad input made here ending as clear errors."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import symusic

from symcorpus.music import musicxml
from symcorpus.music.parse import Limits, Music21Render, ParseError, parse_piece, render_music21
from symcorpus.music.score_compare import first_difference
from tests.conftest import M21


# Diverse files the reader must read itself (not decline), each compared with music21's rendering.
SAMPLE = [
    "bach/bwv66.6.mxl",  # chorale, lyrics
    "bach/bwv1.6.mxl",  # chorale with a horn part: programs and MIDI channels from <midi-instrument>
    "bach/bwv103.6.mxl",  # repeat barlines
    "bach/bwv8.6.mxl",  # a repeat with first and second endings
    "bach/bwv299.mxl",  # grace notes
    "bach/bwv248.23-2.mxl",  # two voices in a staff (<backup>), measure="yes" rests
    "bach/bwv248.23-s.mxl",  # Finale file, <sound tempo>
    "bach/bwv112.5.mxl",  # Finale's hidden <forward> rests
    "bach/bwv846.mxl",  # two staves in one part: a track per staff
    "corelli/opus3no1/1grave.xml",  # .xml
    "ciconia/quod_jactatur.xml",
    "demos/two-parts.xml",  # metronome mark, dynamics
    "demos/multiple-verses.xml",  # verses of lyrics
    "demos/nested_tuplet_finale_test.xml",  # nested tuplets
    "demos/voices_with_chords.xml",  # chords inside voices
    "demos/layoutTest.xml",
    "demos/ComprehensiveChordSymbolsTestFile.mxl",  # chord symbols
    "leadSheet/fosterBrownHair.mxl",  # chord symbols, repeat with endings
    "theoryExercises/TriadExercise.mxl",  # chords on two staves
    "schoenberg/opus19/movement2.mxl",  # dynamics, note dynamics attributes, accents
    "mozart/k545/movement1_exposition.mxl",  # piano
    "webern/webern_dormi_jesu_op_16_no_2.mxl",  # metronome, tuplets, dynamics
    "haydn/opus1no1/movement4.mxl",  # string quartet: repeats, endings, Finale zero-length <forward>
    "verdi/laDonnaEMobile.mxl",  # voice and piano, repeats on two staves
    "mozart/k80/movement4.mxl",  # a segno music21 drops from the first pass of a repeat
    "mozart/k458/movement2.mxl",  # an ending that stops without starting
    "monteverdi/madrigal.4.6.mxl",  # a UTF-16 score inside the archive, chord symbols
    "trecento/PMFC_13_02-Kyrie-Questa-fanciulla.mxl",
    "trecento/PMFC_06_8-In Verde Prato.xml",  # a metric modulation (two beat units): no tempo change
    "liliuokalani/aloha_oe.mxl",  # voice and piano, dynamics
    "schumann_robert/opus48no2.mxl",  # voice and piano with dynamics and tuplets
    "schumann_clara/polonaise_op1n4.mxl",  # chords whose every note has a dynamics attribute
    "handel/rinaldo/Lascia_chio_pianga.mxl",  # D.S. al Fine in the voice part only
    "joplin/maple_leaf_rag.mxl",  # chord volumes before a staff's first dynamic: the other staff's
]


def music21_score(data: bytes, name: str) -> tuple[symusic.Score, Music21Render]:
    render = render_music21(data, "musicxml", name)
    return symusic.Score.from_midi(render.midi), render


@pytest.mark.parametrize("rel", SAMPLE)
def test_reader_matches_music21(rel):
    data = (M21 / rel).read_bytes()
    read = musicxml.read_musicxml(data)  # raises if the reader declines: these files are its job
    reference, render = music21_score(data, Path(rel).name)
    ours = symusic.Score.from_midi(read.midi)
    assert ours.note_num() > 0
    assert first_difference(ours, reference) is None
    assert (read.title, read.composer) == (render.title, render.composer)
    # what says whether the score's 120 bpm and piano are its own or the renderer's defaults
    assert (read.tempo_declared, read.programs_declared) == (render.tempo_declared, render.programs_declared)


def test_parse_piece_reads_musicxml_with_the_reader():
    data = (M21 / "bach/bwv66.6.mxl").read_bytes()
    piece = parse_piece(data, "musicxml", Limits(), name="bwv66.6.mxl")
    assert piece.rendered_midi == musicxml.read_musicxml(data).midi
    assert piece.part_names == ["Soprano", "Alto", "Tenor", "Bass"]
    # Deterministic: the same bytes give the same MIDI.
    assert parse_piece(data, "musicxml", Limits()).rendered_midi == piece.rendered_midi


def test_chord_volumes_before_any_dynamic_of_a_one_staff_part_are_declined():
    """A chord whose notes carry their own volumes, in a one-staff part with no dynamic mark before
    it: music21's context search would go on outside the part; the reader declines, music21 reads it."""
    notes = "".join(f'<note dynamics="80">{"<chord/>" if i else ""}<pitch><step>{step}</step><octave>4</octave>'
                    '</pitch><duration>4</duration><type>whole</type></note>' for i, step in enumerate("CEG"))
    data = score(f'<part id="P1"><measure number="1"><attributes><divisions>1</divisions></attributes>{notes}'
                 '</measure></part>')
    with pytest.raises(musicxml.UnsupportedMusicXML) as declined:
        musicxml.read_musicxml(data)
    assert declined.value.reason == "chord_dynamics"
    piece = parse_piece(data, "musicxml", Limits(), name="chord.musicxml")
    assert piece.score.note_num() == 3


def jump_part(part_id: str, marks: dict[int, str], n: int = 6, repeat: tuple[int, int] | None = None,
              staves: int = 1) -> str:
    """A part of n one-note measures (C D E F G A...), with words (or <segno/>, <coda/>) on some
    measures and a repeat from measure repeat[0] to repeat[1]."""
    measures = []
    for i in range(1, n + 1):
        step, octave = "CDEFGAB"[(i - 1) % 7], 4 + (i - 1) // 7
        body = '<attributes><divisions>1</divisions>' + (f'<staves>{staves}</staves>' if staves > 1 else "") \
            + '</attributes>' if i == 1 else ""
        if repeat and i == repeat[0]:
            body += '<barline location="left"><repeat direction="forward"/></barline>'
        mark = marks.get(i)
        if mark in ("segno", "coda"):
            body += f'<direction><direction-type><{mark}/></direction-type></direction>'
        elif mark:
            body += f'<direction><direction-type><words>{mark}</words></direction-type></direction>'
        for staff in range(1, staves + 1):
            if staff > 1:
                body += '<backup><duration>4</duration></backup>'
            body += (f'<note><pitch><step>{step}</step><octave>{octave - staff + 1}</octave></pitch>'
                     f'<duration>4</duration><type>whole</type>' + (f'<staff>{staff}</staff>' if staves > 1 else "")
                     + '</note>')
        if repeat and i == repeat[1]:
            body += '<barline location="right"><repeat direction="backward"/></barline>'
        measures.append(f'<measure number="{i}">{body}</measure>')
    return f'<part id="{part_id}">{"".join(measures)}</part>'


def assert_reader_matches_music21(data: bytes) -> symusic.Score:
    ours = symusic.Score.from_midi(musicxml.read_musicxml(data).midi)
    reference, _ = music21_score(data, "jump.musicxml")
    assert first_difference(ours, reference) is None
    return ours


@pytest.mark.parametrize("marks, played", [
    ({3: "D.C."}, "CDECDEFGA"),
    ({2: "Fine", 4: "D.C. al Fine"}, "CDEFCD"),
    ({2: "segno", 4: "Fine", 6: "D.S. al Fine"}, "CDEFGADEF"),
    ({2: "coda", 4: "coda", 5: "D.C. al Coda"}, "CDEFGCDFGA"),
    ({2: "segno", 3: "To Coda", 5: "coda", 6: "D.S. al Coda"}, "CDEFGADEGA"),
])
def test_jumps_are_played_as_music21_plays_them(marks, played):
    """D.C. and D.S., with fine and coda: the reader's notes are music21's, in the order named."""
    ours = assert_reader_matches_music21(score(jump_part("P1", marks)))
    pitches = [n.pitch for n in ours.tracks[0].notes]
    steps = {60: "C", 62: "D", 64: "E", 65: "F", 67: "G", 69: "A", 71: "B"}
    assert "".join(steps[p] for p in pitches) == played


def test_repeats_before_a_jump_are_played_and_after_it_not():
    ours = assert_reader_matches_music21(score(jump_part("P1", {4: "D.C."}, n=4, repeat=(1, 2))))
    assert ours.note_num() == 4 + 2 + 4  # C D C D E F, then from the start once: C D E F


def test_a_part_music21_cannot_expand_plays_every_part_once_through():
    """A D.C. al Fine with no Fine in one part: music21 plays the whole score as written, the other
    part's repeat included."""
    parts = jump_part("P1", {}, n=4, repeat=(1, 2)) + jump_part("P2", {3: "D.C. al Fine"}, n=4)
    part_list = ('<score-part id="P1"><part-name>Flute</part-name></score-part>'
                 '<score-part id="P2"><part-name>Oboe</part-name></score-part>')
    ours = assert_reader_matches_music21(score(parts, part_list))
    assert [t.note_num() for t in ours.tracks] == [4, 4]


def test_a_forward_repeat_sign_on_a_right_barline_ends_a_repeat_as_in_music21():
    """music21 reads any repeat sign on a right barline as an end repeat (Beethoven's op. 18 no. 4
    in its corpus has two): C D, back to the start, C D E F."""
    part = jump_part("P1", {}, n=4).replace(
        "</note></measure><measure number=\"3\">",
        "</note><barline location=\"right\"><repeat direction=\"forward\" times=\"3\"/></barline>"
        "</measure><measure number=\"3\">")
    assert "forward" in part
    ours = assert_reader_matches_music21(score(part))
    assert ours.note_num() == 6


def test_declined_scores_fall_back_to_music21():
    """A D.C. in a part of two staves (music21 would jump on one staff's track only): the reader
    declines, the parse step renders it with music21."""
    data = score(jump_part("P1", {3: "D.C."}, n=3, staves=2))
    with pytest.raises(musicxml.UnsupportedMusicXML) as declined:
        musicxml.read_musicxml(data)
    assert declined.value.reason == "jump"
    piece = parse_piece(data, "musicxml", Limits(), name="dc.musicxml")
    reference, _ = music21_score(data, "dc.musicxml")
    assert first_difference(piece.score, reference) is None
    assert piece.score.note_num() == reference.note_num() > 0


def test_transposing_instrument_is_written_pitch_as_in_music21():
    """music21's translator writes a clarinet part as written, not sounding: so does the reader."""
    part_list = ('<score-part id="P1"><part-name>Clarinet in B-flat</part-name><score-instrument id="P1-I1">'
                 '<instrument-name>Clarinet in B-flat</instrument-name></score-instrument><midi-instrument id="P1-I1">'
                 '<midi-channel>1</midi-channel><midi-program>72</midi-program></midi-instrument></score-part>'
                 '<score-part id="P2"><part-name>Violoncello</part-name></score-part>')
    clarinet = ('<part id="P1"><measure number="1"><attributes><divisions>1</divisions><transpose>'
                '<diatonic>-1</diatonic><chromatic>-2</chromatic></transpose></attributes>'
                '<note><pitch><step>D</step><octave>5</octave></pitch><duration>4</duration><type>whole</type></note>'
                '</measure></part>')
    cello = ('<part id="P2"><measure number="1"><attributes><divisions>1</divisions></attributes>'
             '<note><pitch><step>C</step><octave>3</octave></pitch><duration>4</duration><type>whole</type></note>'
             '</measure></part>')
    data = score(clarinet + cello, part_list)
    ours = symusic.Score.from_midi(musicxml.read_musicxml(data).midi)
    reference, _ = music21_score(data, "clarinet.musicxml")
    assert first_difference(ours, reference) is None
    assert [(t.name, t.program, [n.pitch for n in t.notes]) for t in ours.tracks] == [
        ("Clarinet in B-flat", 71, [74]), ("Violoncello", 0, [48])]


def test_metric_modulation_alone_declares_a_tempo_and_plays_at_120_as_in_music21():
    """music21 keeps a two-beat-unit <metronome> as a MetricModulation: a tempo indication, yet not a
    MetronomeMark, so its MIDI translator writes the default 120 bpm."""
    notes = ('<measure number="1"><attributes><divisions>1</divisions></attributes>'
             '<direction><direction-type><metronome><beat-unit>quarter</beat-unit><beat-unit>quarter</beat-unit>'
             '<beat-unit-dot/></metronome></direction-type></direction>'
             '<note><pitch><step>C</step><octave>5</octave></pitch><duration>4</duration><type>whole</type></note>'
             '</measure>')
    data = score(f'<part id="P1">{notes}</part>')
    read = musicxml.read_musicxml(data)
    reference, render = music21_score(data, "modulation.musicxml")
    ours = symusic.Score.from_midi(read.midi)
    assert first_difference(ours, reference) is None
    assert [t.qpm for t in ours.tempos] == [120]
    assert read.tempo_declared and render.tempo_declared


# --------------------------------------------------------------------------------------------------
# Bad input

def chorale_xml() -> bytes:
    with zipfile.ZipFile(M21 / "bach/bwv66.6.mxl") as archive:
        name = next(n for n in archive.namelist() if not n.startswith("META-INF"))
        return archive.read(name)


def score(parts: str, part_list: str = '<score-part id="P1"><part-name>Flute</part-name></score-part>') -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1">'
            f"<part-list>{part_list}</part-list>{parts}</score-partwise>").encode()


def bad_reason(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as error:
        parse_piece(data, "musicxml", Limits(), name="bad.musicxml")
    assert error.value.reason == "bad_musicxml"
    return error.value


def test_truncated_xml_is_bad_musicxml():
    xml = chorale_xml()
    error = bad_reason(xml[: len(xml) // 2])
    assert "malformed XML" in str(error)


def test_mxl_without_container_is_bad_musicxml():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("score.xml", chorale_xml())
    error = bad_reason(buffer.getvalue())
    assert "container.xml" in str(error)


def test_broken_zip_is_bad_musicxml():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("META-INF/container.xml", "<container/>")
        archive.writestr("score.xml", chorale_xml())
    data = buffer.getvalue()
    assert "archive" in str(bad_reason(data[: len(data) // 2] + b"\x00" * 64))


def test_deeply_nested_xml_is_bad_musicxml():
    depth = 100_000
    data = b"<score-partwise>" + b"<a>" * depth + b"</a>" * depth + b"</score-partwise>"
    assert "malformed XML" in str(bad_reason(data))


def test_timewise_score_is_bad_musicxml():
    data = b'<?xml version="1.0"?><score-timewise version="3.1"><part-list/></score-timewise>'
    assert "score-partwise" in str(bad_reason(data))


def test_part_without_notes_is_bad_musicxml():
    rests = "".join(f'<measure number="{i}"><note><rest/><duration>4</duration></note></measure>'
                    for i in range(1, 4))
    data = score(f'<part id="P1"><measure number="0"><attributes><divisions>1</divisions></attributes>'
                 f'</measure>{rests}</part>')
    musicxml.read_musicxml(data)  # the reader reads it (no decline): the parse step rejects it
    assert "no notes" in str(bad_reason(data))


def test_small_score_made_here_matches_music21():
    """Ties across a barline, a chord, a grace note, a backup into a second voice, a repeat."""
    notes = (
        '<measure number="1"><attributes><divisions>2</divisions><time><beats>2</beats>'
        '<beat-type>4</beat-type></time></attributes>'
        '<barline location="left"><repeat direction="forward"/></barline>'
        '<note><grace/><pitch><step>D</step><octave>5</octave></pitch><voice>1</voice><type>eighth</type></note>'
        '<note><pitch><step>C</step><octave>5</octave></pitch><duration>2</duration><voice>1</voice>'
        '<type>quarter</type></note>'
        '<note><pitch><step>E</step><octave>5</octave></pitch><duration>2</duration><tie type="start"/>'
        '<voice>1</voice><type>quarter</type></note>'
        '<backup><duration>4</duration></backup>'
        '<note><pitch><step>A</step><octave>3</octave></pitch><duration>4</duration><voice>2</voice>'
        '<type>half</type></note>'
        '<note><chord/><pitch><step>C</step><alter>1</alter><octave>4</octave></pitch><duration>4</duration>'
        '<voice>2</voice><type>half</type></note></measure>'
        '<measure number="2"><note><pitch><step>E</step><octave>5</octave></pitch><duration>2</duration>'
        '<tie type="stop"/><type>quarter</type></note>'
        '<note><rest/><duration>2</duration><type>quarter</type></note>'
        '<barline location="right"><repeat direction="backward"/></barline></measure>'
    )
    data = score(f'<part id="P1">{notes}</part>')
    read = musicxml.read_musicxml(data)
    reference, _ = music21_score(data, "made.musicxml")
    ours = symusic.Score.from_midi(read.midi)
    assert first_difference(ours, reference) is None
    # The tie made one note of two, played twice by the repeat.
    long_e = [n for n in ours.tracks[0].notes if n.pitch == 76]
    assert [(n.time, n.duration) for n in long_e] == [(10080, 20160), (40320 + 10080, 20160)]


@pytest.mark.parametrize("pedal_start", [True, False])
def test_pedal_change_after_the_last_note_lengthens_the_measure_as_in_music21(pedal_start):
    """A pedal change past a short measure's notes: music21 marks it (measure one beat longer)
    only while a pedal is down."""
    start = ('<direction><direction-type><pedal type="start" line="yes"/></direction-type></direction>'
             if pedal_start else "")
    first = ('<measure number="1"><attributes><divisions>1</divisions><time><beats>4</beats>'
             '<beat-type>4</beat-type></time></attributes>' + start
             + '<note><pitch><step>C</step><octave>4</octave></pitch><duration>2</duration><type>half</type></note>'
             '<forward><duration>1</duration></forward>'
             '<direction><direction-type><pedal type="change" line="yes"/></direction-type></direction></measure>')
    second = ('<measure number="2"><note><pitch><step>D</step><octave>4</octave></pitch><duration>4</duration>'
              '<type>whole</type></note>'
              '<direction><direction-type><pedal type="stop" line="yes"/></direction-type></direction></measure>')
    data = score(f'<part id="P1">{first}{second}</part>')
    ours = symusic.Score.from_midi(musicxml.read_musicxml(data).midi)
    reference, _ = music21_score(data, "pedal.musicxml")
    assert first_difference(ours, reference) is None
    assert [n.time for n in ours.tracks[0].notes] == [0, (3 if pedal_start else 2) * 10080]
