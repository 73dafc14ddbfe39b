"""Real MIDI files from elsewhere (shipped by music21 and miditoolkit), read by our parser and by an
independent reader (miditoolkit): tempo, time signature and instruments must agree."""

from __future__ import annotations

from pathlib import Path

import miditoolkit
import mido
import music21
import numpy as np
import pytest

from symcorpus.music.features import piece_features
from symcorpus.music.instruments import GM_PROGRAMS
from symcorpus.music.notes import note_table, summarize
from symcorpus.music.parse import Limits, parse_piece

_M21 = Path(music21.__file__).parent
_MTK = Path(miditoolkit.__file__).parent
REAL_MIDI = sorted((_M21 / "midi" / "testPrimitive").glob("*.mid")) + sorted((_M21 / "omr").glob("*.mid")) + sorted(
    (_MTK / "midi" / "examples_data").glob("*.mid"))


def test_there_are_real_files_to_read():
    assert len(REAL_MIDI) >= 20


@pytest.mark.parametrize("path", REAL_MIDI, ids=lambda p: p.name)
def test_tempo_time_signature_and_instruments_agree_with_miditoolkit(path: Path):
    piece = parse_piece(path.read_bytes(), "midi", Limits())
    table = note_table(piece.score)
    ours = {**summarize(piece, table), **piece_features(piece.score, table)}
    ref = miditoolkit.MidiFile(str(path))

    notes = [n for i in ref.instruments for n in i.notes]
    first_onset = min(n.start for n in notes)
    last_offset = max(n.end for n in notes)
    changes = sorted(ref.tempo_changes, key=lambda t: t.time)
    in_force = [t for t in changes if t.time <= first_onset]
    expected_tempo = in_force[-1].tempo if in_force else 120.0
    if any(m.type == "set_tempo" for t in mido.MidiFile(str(path)).tracks for m in t):
        assert ours["tempo_bpm"] == pytest.approx(expected_tempo, rel=1e-3)
    else:  # no tempo event: MIDI's default is no declared tempo
        assert ours["tempo_bpm"] is None and ours["tempo_source"] in ("placeholder", "estimated")

    # Time-weighted mean tempo over the music (= quarters per minute overall), from miditoolkit's list.
    times = np.array([first_onset] + [t.time for t in changes if first_onset < t.time < last_offset] + [last_offset])
    tempi = np.array([expected_tempo] + [t.tempo for t in changes if first_onset < t.time < last_offset])
    seconds = np.diff(times) / ref.ticks_per_beat * 60.0 / tempi
    if seconds.sum() > 0:
        assert ours["tempo_mean_bpm"] == pytest.approx(float(np.dot(seconds, tempi) / seconds.sum()), rel=1e-2)

    if ref.time_signature_changes:
        ts = min(ref.time_signature_changes, key=lambda t: t.time)
        assert ours["time_signature"] == f"{ts.numerator}/{ts.denominator}"
    else:
        assert ours["time_signature"] == "4/4"  # the MIDI default

    programs = sorted({i.program for i in ref.instruments if not i.is_drum and i.notes})
    # A file without any program change chose no instrument: unknown (mido, a third reader, says
    # whether it has one).
    chosen = any(m.type == "program_change" for t in mido.MidiFile(str(path)).tracks for m in t)
    assert ours["instruments"] == ([GM_PROGRAMS[p] for p in programs] if chosen or not programs else None)
    assert ours["has_drums"] == any(i.is_drum and i.notes for i in ref.instruments)
    assert ours["n_notes"] == len(notes)
