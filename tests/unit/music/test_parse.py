"""The musical functions on their own (no Spark): formats, ABC text, parsing, summaries."""

from __future__ import annotations

import collections
import signal

import miditoolkit
import numpy as np
import pytest
import symusic

from symcorpus.music.abc_text import decode_abc, parse_header, split_tunes
from symcorpus.testing.variants import scale_tempo, transpose
from symcorpus.music.formats import detect_format, sniff_format
from symcorpus.music.keys import key_signature_name
from symcorpus.music.notes import TempoMap, canonical_notes, summarize
from symcorpus.music.parse import Limits, ParseError, call_with_time_limit, check_midi_structure, parse_piece

from tests.conftest import HUMDRUM_FILES, M21, MUSICXML_FILES


def test_formats_by_extension_and_by_content(midi_from_abc):
    midi = midi_from_abc[0][1]
    assert detect_format("a/b/song.MID", b"") == "midi"
    assert detect_format("tune.abc", b"") == "abc"
    assert detect_format("x.mxl", b"") == "musicxml"
    assert detect_format("x.krn", b"") == "humdrum"
    assert detect_format("no_extension", midi[:512]) == "midi"
    assert sniff_format((M21 / "bach/bwv281.krn").read_bytes()[:512]) == "humdrum"
    assert sniff_format((M21 / "nottingham-dataset/reelsa-c.abc").read_bytes()[:512]) == "abc"
    assert detect_format("README.txt", b"hello world") is None


def test_multi_tune_abc_splits_and_each_tune_inherits_the_file_header():
    data = (M21 / "josquin/laPlusDesPlus.abc").read_bytes()
    tunes = split_tunes(data)
    assert [t.index for t in tunes] == [1, 2, 3]
    header = data[: data.index(b"X:")]
    assert header.strip().startswith(b"% Copyright")
    for tune in tunes:
        assert tune.content.startswith(header)
        assert tune.content.count(b"\nX:") == 1
    assert b"".join(t.content[len(header):] for t in tunes) == data[len(header):]


def test_abc_header_fields():
    tune = split_tunes((M21 / "nottingham-dataset/reelsa-c.abc").read_bytes())[0]
    header = parse_header(decode_abc(tune.content))
    assert header == {"title": "Cuckoo's Nest", "source": "Scottish, via EF", "meter": "4/4",
                      "unit_length": "1/4", "key": "D"}


def test_abc_header_stops_at_key_and_strips_comments():
    text = "X:1\nT:First % a comment\nT:Second\nC:Trad.\nR:reel\nK:Gmaj\nT:not header\nabc|\n"
    assert parse_header(text) == {"title": "First; Second", "composer": "Trad.", "rhythm": "reel", "key": "Gmaj"}


@pytest.mark.parametrize("rel", MUSICXML_FILES + HUMDRUM_FILES)
def test_musicxml_and_humdrum_parse_through_music21(rel):
    fmt = detect_format(rel, b"")
    piece = parse_piece((M21 / rel).read_bytes(), fmt, Limits(), name=rel)
    assert piece.score.note_num() > 50
    assert len([t for t in piece.score.tracks if len(t.notes)]) >= 4  # four-part chorales
    assert piece.rendered_midi.startswith(b"MThd")
    check_midi_structure(piece.rendered_midi)


def test_abc_parses_with_header_and_rendered_midi():
    tune = split_tunes((M21 / "nottingham-dataset/reelsa-c.abc").read_bytes())[1]
    piece = parse_piece(tune.content, "abc", Limits())
    assert piece.abc_header["title"] == "Little Czech Number"
    summary = summarize(piece)
    assert summary["time_signature"] == "4/4"
    assert summary["key_signature"] == "A minor"
    assert summary["n_notes"] > 40


def test_midi_summary_agrees_with_miditoolkit(midi_from_abc, tmp_path):
    for name, data in midi_from_abc:
        piece = parse_piece(data, "midi", Limits())
        summary = summarize(piece)
        path = tmp_path / name
        path.write_bytes(data)
        reference = miditoolkit.MidiFile(str(path))
        assert summary["n_notes"] == sum(len(i.notes) for i in reference.instruments)
        assert summary["ticks_per_beat"] == reference.ticks_per_beat
        assert summary["tempo_bpm"] == pytest.approx(reference.tempo_changes[0].tempo, rel=1e-3)
        ts = reference.time_signature_changes[0]
        assert summary["time_signature"] == f"{ts.numerator}/{ts.denominator}"
        end = max(n.end for i in reference.instruments for n in i.notes)
        assert summary["duration_quarters"] == pytest.approx(end / reference.ticks_per_beat)


def test_canonical_note_seconds_match_symusic_with_tempo_changes(midi_from_abc):
    data = scale_tempo(midi_from_abc[3][1], 1.37)
    score = symusic.Score.from_midi(data)
    score.tempos.append(symusic.Tempo(score.tpq * 5, 70.0))  # a tempo change mid-piece
    notes = canonical_notes(score)
    reference = score.to("second")
    onsets = np.sort(np.concatenate([t.notes.numpy()["time"] for t in reference.tracks]))
    np.testing.assert_allclose(np.sort(notes["onset_s"]), onsets, atol=2e-3)
    assert np.all(np.diff(notes["onset_q"]) >= 0)


def test_transpose_moves_pitches(midi_from_abc):
    data = midi_from_abc[0][1]
    up = canonical_notes(symusic.Score.from_midi(transpose(data, 5)))
    base = canonical_notes(symusic.Score.from_midi(data))
    np.testing.assert_array_equal(up["pitch"], base["pitch"] + 5)


def test_tempo_map_default_before_first_event():
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(960, 60.0))
    tempo = TempoMap.of(score)
    # 2 quarters at the default 120 bpm (1 s), then 1 quarter at 60 bpm (1 s).
    assert tempo.seconds(960 + 480) == pytest.approx(2.0)


def test_key_signature_names():
    assert key_signature_name(0, False) == "C major"
    assert key_signature_name(-1, True) == "D minor"
    assert key_signature_name(3, False) == "A major"
    assert key_signature_name(9, False) is None


@pytest.mark.parametrize(
    ("limits", "reason"),
    [(Limits(max_bytes=100), "too_large"), (Limits(max_notes=10), "too_many_notes")],
)
def test_bounds_are_errors_with_reasons(midi_from_abc, limits, reason):
    with pytest.raises(ParseError) as err:
        parse_piece(midi_from_abc[0][1], "midi", limits)
    assert err.value.reason == reason
    # the errors table stores str(error): the reason code, then what was over the limit
    assert str(err.value) == f"{reason}: {err.value.detail}" and "over max_" in err.value.detail


def test_subprocess_time_limit():
    tune = split_tunes((M21 / "nottingham-dataset/reelsa-c.abc").read_bytes())[0]
    with pytest.raises(ParseError) as err:
        parse_piece(tune.content, "abc", Limits(subprocess_timeout_s=1e-4))
    assert err.value.reason == "timeout"


def test_music21_time_limit():
    rel = MUSICXML_FILES[0]
    with pytest.raises(ParseError) as err:
        parse_piece((M21 / rel).read_bytes(), "musicxml", Limits(parse_timeout_s=1e-3), name=rel)
    assert err.value.reason == "timeout"


def test_a_budget_that_runs_out_around_the_call_is_always_a_parse_error():
    # Microsecond budgets run out while the timer is being set or cleared; that must still be
    # ParseError('timeout') (the alarm's own exception once escaped and failed a worker's task).
    handler = signal.getsignal(signal.SIGALRM)
    outcomes = collections.Counter()
    for i in range(5000):
        try:
            assert call_with_time_limit(1e-6 * (1 + i % 4), len, "abc") == 3
            outcomes["returned"] += 1
        except ParseError as e:
            assert e.reason == "timeout"
            outcomes["timeout"] += 1
    assert outcomes["timeout"] > 0
    assert signal.getsignal(signal.SIGALRM) is handler
    assert call_with_time_limit(60, len, "abc") == 3


def test_scores_with_repeats_music21_cannot_unfold_still_parse():
    # music21's repeat expansion fails on this chorale; it is rendered as written instead.
    piece = parse_piece((M21 / "bach/bwv277.krn").read_bytes(), "humdrum", Limits(), name="bwv277.krn")
    assert piece.score.note_num() > 200


def test_midi_with_trailing_padding_is_read(midi_from_abc):
    data = midi_from_abc[0][1]
    padded = data + b"\x00" * 64  # some writers pad files; the declared tracks are all there
    check_midi_structure(padded)
    assert parse_piece(padded, "midi", Limits()).score.note_num() == parse_piece(data, "midi", Limits()).score.note_num()
    with pytest.raises(ParseError):
        check_midi_structure(data[:14] + data[22:])  # a track chunk header cut out
