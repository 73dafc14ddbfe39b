"""Piece features (music/features.py) and chord recognition (music/chords.py) on real music.

Real tunes and chorales come from music21's corpus through our own parsers; music21 (measures,
chordify) and symusic (downbeats, beats) are the independent references. Edge cases (silence, loops,
out-of-range pitches, empty scores, jittered timing) are made from real pieces by symusic.
"""

from __future__ import annotations

import warnings

import music21
import numpy as np
import pyarrow as pa
import pytest
import symusic

from symcorpus.music.abc_text import decode_abc, split_tunes
from symcorpus.music.chords import (
    CHORD_NAMES,
    NO_CHORD,
    QUALITIES,
    chord_names,
    progression_of_indices,
    recognize,
    window_histograms,
    windows,
)
from symcorpus.music.convert import to_midi
from symcorpus.music.features import (
    EXPRESSIVE_DEPTH,
    FEATURES,
    TimeSignatureMap,
    bar_starts,
    beat_starts,
    metric_grid,
    piece_features,
)
from symcorpus.music.keys import PITCH_NAMES
from symcorpus.music.notes import note_table, pitched_notes, quarter_notes
from symcorpus.music.parse import Limits, parse_piece

from tests.conftest import M21

PRIMITIVE = M21.parent / "midi" / "testPrimitive"
CHORALES = ["bwv1.6.mxl", "bwv10.7.mxl", "bwv101.7.mxl"]


def features_of(score: symusic.Score) -> dict:
    return piece_features(score, note_table(score))


def window_chords(table: np.ndarray, starts: np.ndarray, end: float) -> list[str]:
    """One chord per window from grid starts (ticks; the last window ends at `end`), drums left out."""
    pitched = table[~table["is_drum"]]
    onset = pitched["onset"]
    return chord_names(recognize(*window_histograms(onset, onset + pitched["duration"], pitched["pitch"],
                                                    *windows(starts, end))))


def most_common_progression(chords: list[str], length: int = 4) -> str | None:
    return progression_of_indices(np.array([CHORD_NAMES.index(c) if c != NO_CHORD else -1 for c in chords]), length)


def abc_tunes(rel: str, count: int) -> list[bytes]:
    return [t.content for t in split_tunes((M21 / rel).read_bytes())[:count]]


@pytest.fixture(scope="module")
def essen() -> list[tuple[bytes, symusic.Score]]:
    """Folk tunes from the Essen collection (no repeats, no pickups): ABC text and our parse."""
    return [(abc, parse_piece(abc, "abc", Limits()).score) for abc in abc_tunes("essenFolksong/han1.abc", 20)]


@pytest.fixture(scope="module")
def oneill() -> list[symusic.Score]:
    """Irish tunes (grace notes, triplets, several meters) as MIDI made by our converter."""
    return [symusic.Score.from_midi(to_midi(abc, "abc")) for abc in abc_tunes("oneills1850/0001-0050.abc", 20)]


@pytest.fixture(scope="module")
def chorales() -> dict[str, symusic.Score]:
    """Four-voice Bach chorales: MusicXML through our music21-backed parser."""
    out = {}
    for name in CHORALES:
        path = M21 / "bach" / name
        out[name] = parse_piece(path.read_bytes(), "musicxml", Limits(), name=name).score
    return out


def build(notes: list[tuple[int, int, int]], tpq: int = 480, qpm: float = 120.0, program: int = 0) -> symusic.Score:
    """A one-track score from (onset, duration, pitch) in ticks."""
    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(0, qpm))
    track = symusic.Track("t", program, False)
    for onset, duration, pitch in notes:
        track.notes.append(symusic.Note(onset, duration, pitch, 80))
    score.tracks.append(track)
    return score


def copy_notes(src: symusic.Score, transform) -> symusic.Score:
    """The same score with every note's (onset, duration) passed through `transform`."""
    out = src.copy()
    for track in out.tracks:
        for note in track.notes:
            note.time, note.duration = transform(note.time, note.duration)
        track.notes.sort()
    return out


# --------------------------------------------------------------------------------------------------
# Contract


def test_every_field_fits_the_arrow_struct(essen, chorales):
    rows = [features_of(score) for _, score in essen[:5]] + [features_of(s) for s in chorales.values()]
    rows.append(features_of(symusic.Score(480)))
    assert all(list(row) == FEATURES.names for row in rows)
    array = pa.array(rows, type=FEATURES)  # raises on any value of the wrong type
    assert array.null_count == 0 and len(array) == len(rows)


def test_same_input_same_output(oneill):
    for score in oneill[:5]:
        table = note_table(score)
        assert piece_features(score, table) == piece_features(score, table.copy())


def test_empty_score_and_empty_tracks_give_zeros_and_nulls():
    for score in (symusic.Score(480), build([])):
        f = features_of(score)
        assert f["n_bars"] == 0 and f["chords"] == [] and f["metric_depth"] == []
        assert f["pitch_min"] is None and f["velocity_mean"] is None and f["timing"] is None
        assert f["time_signatures"] == ["4/4"] and f["tempo_mean_bpm"] == 120.0


# --------------------------------------------------------------------------------------------------
# Bars, tempo, signatures


def test_bar_count_matches_music21_measures_on_folk_tunes(essen):
    equal = []
    for abc, score in essen:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = music21.converter.parseData(decode_abc(abc), format="abc")
        measures = len(parsed.parts[0].getElementsByClass("Measure"))
        equal.append(features_of(score)["n_bars"] == measures)
    assert np.mean(equal) >= 0.9


def test_bar_count_of_chorales_within_a_pickup_of_music21(chorales):
    for name, score in chorales.items():
        # Measure numbers: a bar split over two systems (bwv101.7's 3 + 1 beats) is one bar.
        measures = {m.number for m in music21.corpus.parse(f"bach/{name}").parts[0].getElementsByClass("Measure")}
        assert len(measures) >= 10
        assert abs(features_of(score)["n_bars"] - len(measures)) <= 1, name


def test_bar_and_beat_grid_agree_with_symusic_on_real_midi():
    """symusic's own downbeats and beats (C++) on files with pickups, 3/4 after 4/4, 6/8, 3/8."""
    for name in ("test02", "test03", "test09", "test14", "test16"):
        score = symusic.Score(PRIMITIVE / f"{name}.mid")
        bars, beats, _ = metric_grid(score, note_table(score))
        assert np.array_equal(bars, np.asarray(score.get_downbeats())), name
        assert np.array_equal(beats, np.asarray(score.get_beats())), name


def test_time_signature_changes_are_counted_and_bars_follow_them():
    score = symusic.Score(PRIMITIVE / "test03.mid")  # 4/4, then 3/4
    f = features_of(score)
    assert f["time_signatures"] == ["4/4", "3/4"] and f["n_time_signature_changes"] == 1
    # Two bars of 4/4 then three of 3/4, built by hand, last note ending on the final bar line.
    built = build([(0, 3840, 60), (3840, 4320, 64)])
    built.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    built.time_signatures.append(symusic.TimeSignature(3840, 3, 4))
    f = features_of(built)
    assert f["n_bars"] == 5 and f["duration_bars"] == pytest.approx(5.0)
    # Half a bar more: one more bar, half a bar more in duration.
    built.tracks[0].notes.append(symusic.Note(8160, 720, 67, 80))
    f = features_of(built)
    assert f["n_bars"] == 6 and f["duration_bars"] == pytest.approx(5.5)


def test_declared_key_signatures_in_order():
    import mido

    path = PRIMITIVE / "test08.mid"  # three key signatures
    declared = [m.key for m in mido.MidiFile(path).merged_track if m.type == "key_signature"]
    names = features_of(symusic.Score(path))["key_signatures"]
    assert len(names) == len(declared) == 3
    assert [n.split()[0] for n in names] == declared
    assert features_of(symusic.Score(PRIMITIVE / "test01.mid"))["key_signatures"] == []


def test_mean_tempo_is_time_weighted_over_the_notes(essen):
    score = essen[0][1].copy()
    table = note_table(score)
    start, end = int(table["onset"][0]), int((table["onset"] + table["duration"]).max())
    middle = (start + end) // 2
    score.tempos.clear()
    score.tempos.extend([symusic.Tempo(0, 90.0), symusic.Tempo(middle, 150.0)])
    tpq = score.ticks_per_quarter
    minutes = (middle - start) / tpq / 90.0 + (end - middle) / tpq / 150.0
    f = features_of(score)
    assert f["tempo_mean_bpm"] == pytest.approx((end - start) / tpq / minutes)
    assert 90.0 < f["tempo_mean_bpm"] < 120.0  # nearer the slow half, which lasts longer
    assert f["note_density"] == pytest.approx(len(table) / (minutes * 60.0))


def test_resolution_does_not_change_bars_tempo_or_timing(oneill):
    for score in oneill[:6]:
        base = features_of(score)
        for tpq in (384, 96, 100, 1):
            f = features_of(score.resample(tpq))
            assert f["n_bars"] == base["n_bars"], tpq
            assert f["tempo_mean_bpm"] == pytest.approx(base["tempo_mean_bpm"], rel=0.02), tpq
            assert f["timing"] == "quantized", tpq


# --------------------------------------------------------------------------------------------------
# Notes over time


def test_chorales_have_as_many_notes_sounding_as_voices(chorales):
    """Four voices (bwv1.6 adds a horn: five), nearly always all sounding."""
    for name, score in chorales.items():
        voices = len(music21.corpus.parse(f"bach/{name}").parts)
        assert voices == (5 if name == "bwv1.6.mxl" else 4)
        f = features_of(score)
        assert 0.85 * voices <= f["polyphony_mean"] <= voices, name
        assert f["polyphony_max"] == voices, name
        assert 28 <= f["pitch_min"] < f["pitch_max"] <= 84
        assert len(f["metric_depth"]) == voices and f["timing"] == "quantized"


def test_a_folk_tune_is_one_voice(essen):
    for _, score in essen[:5]:
        f = features_of(score)
        assert f["polyphony_max"] == 1 and f["polyphony_mean"] == 1.0


def test_longest_silence_finds_an_inserted_gap(essen):
    score = essen[1][1]
    assert len(score.tempos) <= 1  # one tempo: seconds are ticks times a constant
    qpm = score.tempos[0].qpm if len(score.tempos) else 120.0
    seconds_per_tick = 60.0 / (qpm * score.ticks_per_quarter)
    table = note_table(score)
    first, end = int(table["onset"][0]), int((table["onset"] + table["duration"]).max())
    gap = int(round(3.0 / seconds_per_tick))
    joined = score.copy()  # the tune, 3 s of silence, the tune again
    joined.tracks[0].notes.extend(copy_notes(score, lambda t, d: (t + end + gap, d)).tracks[0].notes)
    assert features_of(score)["longest_silence_seconds"] < 1.0
    # The second copy's first note comes `first` ticks after its own start.
    assert features_of(joined)["longest_silence_seconds"] == pytest.approx((gap + first) * seconds_per_tick)


def test_out_of_range_and_zero_length_notes_are_shares(essen):
    score = essen[2][1].copy()
    n = score.note_num()
    extra = [symusic.Note(0, 240, 5, 80), symusic.Note(480, 240, 124, 80), symusic.Note(960, 0, 60, 80)]
    score.tracks[0].notes.extend(extra)
    score.tracks[0].notes.sort()
    f = features_of(score)
    assert f["pitch_out_of_range_share"] == pytest.approx(2 / (n + 3))
    assert f["zero_duration_share"] == pytest.approx(1 / (n + 3))
    assert f["pitch_min"] == 5 and f["pitch_max"] == 124


def test_drums_count_apart_from_pitched_notes(essen):
    score = essen[3][1].copy()
    drums = symusic.Track("kit", 0, True)
    drums.notes.extend([symusic.Note(t, 60, 36, 100) for t in range(0, 4800, 480)])
    score.tracks.append(drums)
    f = features_of(score)
    assert f["n_drum_notes"] == 10 and f["n_pitched_notes"] == essen[3][1].note_num()
    assert f["instrument_families"] == ["Piano", "Drums"] and f["n_programs"] == 1
    assert len(f["metric_depth"]) == 2


# --------------------------------------------------------------------------------------------------
# Timing


def test_quantized_tunes_are_quantized(oneill):
    for score in oneill:
        f = features_of(score)
        assert f["timing"] == "quantized"
        assert max(f["metric_depth"]) < EXPRESSIVE_DEPTH


def test_real_performed_midi_is_expressive():
    """music21's test17.mid was played in (onsets 10, 544, 1050... at 1024 ticks per quarter);
    test03 and test09 were written on a grid."""
    assert features_of(symusic.Score(PRIMITIVE / "test17.mid"))["timing"] == "expressive"
    for name in ("test03", "test09"):
        assert features_of(symusic.Score(PRIMITIVE / f"{name}.mid"))["timing"] == "quantized"


@pytest.mark.parametrize("tpq", [480, 384])
def test_jittered_onsets_are_expressive(oneill, tpq):
    rng = np.random.default_rng(7)
    for score in oneill[:8]:
        score = score.resample(tpq)
        qpm = score.tempos[0].qpm if len(score.tempos) else 120.0
        ticks_per_ms = qpm / 60.0 * tpq / 1000.0

        def jitter(t, d):  # a player 5 to 30 ms early or late
            shift = int(round(rng.uniform(5, 30) * rng.choice([-1, 1]) * ticks_per_ms))
            return max(t + shift, 0), d

        f = features_of(copy_notes(score, jitter))
        assert f["timing"] == "expressive"
        assert f["metric_depth"] == [EXPRESSIVE_DEPTH]


# --------------------------------------------------------------------------------------------------
# Loops and repetition


def test_one_bar_repeated_is_a_loop(essen):
    score = essen[4][1]
    bar = TimeSignatureMap.of(score).bar_ticks(0)
    first_bar = [(n.time, n.duration, n.pitch) for n in score.tracks[0].notes if n.time < bar]
    loop = build([(t + int(k * bar), d, p) for k in range(16) for t, d, p in first_bar])
    loop.time_signatures.extend(score.time_signatures)
    f = features_of(loop)
    assert f["top_bar_share"] == 1.0 and f["repetition_score"] == pytest.approx(15 / 16)
    tune = features_of(score)
    assert tune["top_bar_share"] < 0.5 and 0.0 <= tune["repetition_score"] < 1.0


def test_a_tune_played_twice_repeats_at_least_half_its_bars(essen):
    score = essen[5][1]
    f = features_of(score)
    bar = TimeSignatureMap.of(score).bar_ticks(0)
    twice = score.copy()
    twice.tracks[0].notes.extend(copy_notes(score, lambda t, d: (t + int(f["n_bars"] * bar), d)).tracks[0].notes)
    assert features_of(twice)["repetition_score"] >= 0.5


# --------------------------------------------------------------------------------------------------
# Chords


def test_every_template_chord_is_named_in_root_position():
    for name in CHORD_NAMES:
        root = PITCH_NAMES.index(name[:2] if name[1:2] in ("#", "b") else name[:1])
        quality = name[len(PITCH_NAMES[root]):]
        notes = [(0, 1920, 48 + root + iv) for iv in QUALITIES[quality]]  # a whole-note chord
        score = build(notes + [(0, 1920, 36 + root)])  # and the root an octave below
        assert features_of(score)["chords"] == [name], name


def test_inversions_keep_their_root():
    for root in range(12):
        for quality in ("", "m", "7", "maj7", "m7"):
            tones = [48 + root + iv for iv in QUALITIES[quality]]
            inverted = tones[1:] + [tones[0] + 12]  # third in the bass
            assert features_of(build([(0, 1920, p) for p in inverted]))["chords"] == [PITCH_NAMES[root] + quality]


def test_too_little_to_name_is_no_chord():
    assert features_of(build([(0, 1920, 60)]))["chords"] == [NO_CHORD]
    # Bar 2 holds nothing but silence; bar 1 a C major triad.
    f = features_of(build([(0, 1920, 60), (0, 1920, 64), (0, 1920, 67), (3840, 10, 60)]))
    assert f["chords"] == ["C", NO_CHORD, NO_CHORD]


def test_chorales_have_chords_in_most_bars(chorales):
    for name, score in chorales.items():
        chords = features_of(score)["chords"]
        assert np.mean([c != NO_CHORD for c in chords]) >= 0.85, name


MUSIC21_QUALITY = {
    "major triad": "", "minor triad": "m", "dominant seventh chord": "7", "major seventh chord": "maj7",
    "minor seventh chord": "m7", "diminished triad": "dim", "half-diminished seventh chord": "m7b5",
    "augmented triad": "aug",
}  # fmt: skip


def test_beat_chords_agree_with_music21_chordify(chorales):
    """Per beat, music21's chordified slice that fills most of the beat against our beat chord."""
    roots = names = 0
    n_root = n_name = 0
    for name, score in chorales.items():
        table = note_table(score)
        _, beats, end = metric_grid(score, table)
        ours = window_chords(table, beats, end)
        slices = [
            (float(c.offset), float(c.offset + c.quarterLength), c)
            for c in music21.corpus.parse(f"bach/{name}").chordify().flatten().getElementsByClass("Chord")
        ]
        starts, stops = np.array([s[0] for s in slices]), np.array([s[1] for s in slices])
        tpq = score.ticks_per_quarter
        for i, beat in enumerate(beats / tpq):
            stop = beats[i + 1] / tpq if i + 1 < len(beats) else end / tpq
            chord = slices[int((np.minimum(stops, stop) - np.maximum(starts, beat)).argmax())][2]
            if len({p.pitchClass for p in chord.pitches}) < 3 or ours[i] == NO_CHORD:
                continue
            root = PITCH_NAMES[chord.root().pitchClass]
            n_root += 1
            roots += ours[i].startswith(root) and ours[i][len(root):len(root) + 1] not in ("#", "b")
            if chord.commonName in MUSIC21_QUALITY:
                n_name += 1
                names += ours[i] == root + MUSIC21_QUALITY[chord.commonName]
    assert n_root >= 150 and n_name >= 100
    assert roots / n_root >= 0.8
    assert names / n_name >= 0.8


def test_bar_chords_of_a_chorale_follow_its_key(chorales):
    """bwv10.7 is in G minor: its bars' chords are mostly diatonic there (Gm, Cm, D, Eb, F, Bb...)."""
    score = chorales["bwv10.7.mxl"]
    table = note_table(score)
    starts, _, end = metric_grid(score, table)
    chords = [c for c in window_chords(table, starts, end) if c != NO_CHORD]
    scale = {"G", "A", "Bb", "C", "D", "Eb", "F", "F#"}
    roots = [c[:2] if c[1:2] in ("#", "b") else c[:1] for c in chords]
    assert np.mean([r in scale for r in roots]) >= 0.9
    assert features_of(score)["chords"] == window_chords(table, starts, end)


def test_long_pieces_name_each_window_as_if_alone():
    """test04.mid has 280 bars: the chord scores run in blocks, and blocks must not change a name."""
    score = symusic.Score(PRIMITIVE / "test04.mid")
    table = note_table(score)
    starts, _, end = metric_grid(score, table)
    pitched = table[~table["is_drum"]]
    hist, bass = window_histograms(pitched["onset"], pitched["onset"] + pitched["duration"], pitched["pitch"],
                                   *windows(starts, end))
    assert len(hist) > 256
    together = recognize(hist, bass)
    alone = np.concatenate([recognize(hist[i : i + 1], bass[i : i + 1]) for i in range(len(hist))])
    assert np.array_equal(together, alone)
    assert np.mean(together >= 0) >= 0.8


def test_most_common_progression():
    assert most_common_progression(["C", "G", "Am", "F"] * 3 + ["C"]) == "C G Am F"
    assert most_common_progression(["C", "N", "G", "Am", "F", "C"]) == "G Am F C"
    assert most_common_progression(["C", "G", "N", "F"]) is None
    assert most_common_progression(["C", "G"]) is None
    # Ties: the run heard first.
    assert most_common_progression(["Dm", "G7", "C", "Am", "E"]) == "Dm G7 C Am"
    assert most_common_progression(["C", "F", "G", "C"] * 2, length=2) == "C F"


def test_beat_and_bar_grids_cover_a_tune(oneill):
    for score in oneill[:5]:
        table = note_table(score)
        ts = TimeSignatureMap.of(score)
        end = float((table["onset"] + table["duration"]).max())
        bars, beats = bar_starts(ts, end), beat_starts(ts, end)
        assert bars[0] == 0 and bars[-1] < end and len(beats) >= len(bars)
        assert set(bars.tolist()) <= set(beats.tolist())


def test_pitched_notes_are_the_rows_a_boolean_index_keeps(chorales):
    for score in chorales.values():
        table = note_table(score)
        assert pitched_notes(table) is table  # no drums: nothing copied
        drums = table.copy()
        drums["is_drum"] = drums["track"] % 2 == 1  # every other part played as drums
        expected = drums[~drums["is_drum"]]
        assert 0 < len(expected) < len(drums)
        # Row by row, every field (the aligned rows' padding bytes are no part of a note).
        assert _same_rows(pitched_notes(drums), expected)
        quarters = quarter_notes(drums, int(score.ticks_per_quarter))
        assert _same_rows(pitched_notes(quarters), quarters[~quarters["is_drum"]])


def _same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tolist() == b.tolist()


def test_the_compiled_passes_give_what_numpy_gives(chorales, oneill):
    """sounding and track_depths (compiled, music/loops.py) against the numpy they replaced, on
    chorales (several voices), folk tunes, those tunes with inserted silences, and a chorale with
    drums and zero-length notes."""
    from symcorpus.music.features import DEPTH_QUANTILE, onset_depths, sounding, track_depths

    def numpy_sounding(onset, offset):
        key = np.concatenate((offset * 2, onset * 2 + 1))
        key.sort(kind="stable")
        times, count = key >> 1, ((key & 1) * 2 - 1).cumsum()
        dt = times[1:] - times[:-1]
        active = count[:-1] > 0
        gaps = (~active & (dt > 0)).nonzero()[0]
        return (int(dt[active].sum()), int((count[:-1] * dt)[active].sum()), int(count.max()) if len(count) else 0,
                times[gaps].tolist(), times[gaps + 1].tolist())

    def numpy_depths(depth, track):
        hist = np.bincount(track.astype(np.int64) * 16 + depth, minlength=(int(track.max()) + 1) * 16).reshape(-1, 16)
        hist = hist[hist.any(axis=1)]
        rank = np.maximum(np.ceil(DEPTH_QUANTILE * hist.sum(axis=1)).astype(np.int64) - 1, 0)
        return np.count_nonzero(hist.cumsum(axis=1) <= rank[:, None], axis=1).tolist()

    gapped = [copy_notes(s, lambda t, d, q=s.ticks_per_quarter: (t + 4 * q * (t > 8 * q), d)) for s in oneill[:5]]
    mixed = chorales["bwv1.6.mxl"].copy()
    mixed.tracks[0].is_drum = True
    mixed.tracks[1].notes[3].duration = 0
    scores = list(chorales.values()) + oneill + gapped + [mixed]
    silences = 0
    for score in scores:
        table = note_table(score)
        onset, duration = table["onset"], table["duration"]
        lasting = duration > 0
        offset = onset + np.where(lasting, duration, 0)
        sound = sounding(onset[lasting], offset[lasting])
        got = (sound.ticks, sound.note_ticks, sound.most, sound.gap_from.tolist(), sound.gap_to.tolist())
        assert got == numpy_sounding(onset[lasting], offset[lasting])
        silences += len(sound.gap_from)
        depth = onset_depths(onset, score.ticks_per_quarter)
        assert track_depths(depth, table["track"]).tolist() == numpy_depths(depth, table["track"])
    assert silences >= 5  # the gapped tunes have one each
    empty = np.empty(0, dtype=np.int64)
    assert (sounding(empty, empty).ticks, sounding(empty, empty).most) == (0, 0)
