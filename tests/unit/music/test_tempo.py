"""Tempo from the notes: real tunes whose beat is notated (ABC `Q:3/8=120`), performed by our
re-timer like a pianist on a recording (120 bpm placeholder, drift, jitter, rubato), must give back
the beat they were played at; and each piece's tempo must come from the right place."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from symcorpus.music.convert import to_midi
from symcorpus.music.features import piece_features
from symcorpus.music.notes import note_table
from symcorpus.music.tempo import (
    DECLARED,
    ESTIMATED,
    PLACEHOLDER,
    PieceTempo,
    TempoEstimate,
    declared_tempo,
    estimate_score_tempo,
    estimate_tempo,
    octave_nearer_preference,
    piece_tempo,
    tempo_source,
)
from symcorpus.testing.performance import notated_beat, perform, performed_tunes

from tests.conftest import HUMDRUM_FILES, M21, MUSICXML_FILES

N_TUNES = 150
# Measured on these 150 performances (deterministic: seeded); the test holds the estimator to it.
STRICT_RATE = 0.88  # within 4% of the notated beat as played
DOCUMENTED_RATE = 0.93  # within 4%, or at the octave nearer 100 bpm (tempo.py's documented choice)


@pytest.fixture(scope="module")
def tunes():
    return performed_tunes(sorted((M21 / "airdsAirs").glob("*.abc")), N_TUNES, seed=0)


def _score(midi: bytes) -> tuple[symusic.Score, np.ndarray]:
    score = symusic.Score.from_midi(midi)
    return score, note_table(score)


def test_the_set_is_varied(tunes):
    truths = np.array([t.true_bpm for t in tunes])
    beats = {t.beat_quarters for t in tunes}
    assert len(tunes) == N_TUNES
    assert beats >= {1.0, 1.5, 2.0}  # quarter, dotted-quarter and half-note beats
    assert truths.min() < 70 and truths.max() > 130
    assert len({t.meter for t in tunes}) >= 4


def test_estimates_recover_the_played_beat(tunes):
    estimates = [estimate_score_tempo(*_score(t.performance.midi)) for t in tunes]
    truths = [t.true_bpm for t in tunes]
    strict = [e is not None and abs(e.bpm / t - 1) <= 0.04 for e, t in zip(estimates, truths)]
    documented = [s or (e is not None and octave_nearer_preference(e.bpm, t))
                  for s, e, t in zip(strict, estimates, truths)]
    assert np.mean(strict) >= STRICT_RATE, f"{np.mean(strict):.3f} within 4%"
    assert np.mean(documented) >= DOCUMENTED_RATE, f"{np.mean(documented):.3f} within 4% or documented octave"
    # Every miss the documented rule excuses is an octave nearer 100 bpm, never farther.
    for e, t in zip(estimates, truths):
        if e is not None and abs(e.bpm / t - 1) > 0.04 and octave_nearer_preference(e.bpm, t):
            assert abs(np.log2(e.bpm / 100)) < abs(np.log2(t / 100))


def test_tempo_source_is_estimated_for_performances_and_declared_for_scores(tunes):
    sources = {"performance": [], "original": []}
    for t in tunes:
        for kind, midi in (("performance", t.performance.midi), ("original", t.original)):
            score, table = _score(midi)
            timing = piece_features(score, table)["timing"]
            sources[kind].append((timing, piece_tempo(score, table, timing)))
    assert all(timing == "expressive" for timing, _ in sources["performance"])
    assert all(tempo.source == ESTIMATED for _, tempo in sources["performance"])
    assert all(timing == "quantized" for timing, _ in sources["original"])
    for t, (_, tempo) in zip(tunes, sources["original"]):
        # abc2midi writes the notated beat as quarters per minute: Q:3/8=120 is 180 qpm.
        assert tempo == PieceTempo(DECLARED, pytest.approx(t.notated_bpm * t.beat_quarters, rel=1e-4), None)


@pytest.mark.parametrize("rel", MUSICXML_FILES + HUMDRUM_FILES)
def test_four_voice_chorales_give_their_quarter_beat(rel):
    # Polyphony, as on a piano: Bach chorales (4/4, the quarter is the beat) played slow and quick.
    # A slow one (bwv1.6 at 0.7 x 76 = 53 quarters a minute) comes out in eighths: the documented octave.
    fmt = "humdrum" if rel.endswith(".krn") else "musicxml"
    score = symusic.Score.from_midi(to_midi((M21 / rel).read_bytes(), fmt, name=rel))
    for seed, factor in ((1, 0.7), (2, 1.0)):
        played = perform(score, seed, tempo_factor=factor, rubato=0.1)
        estimate = estimate_score_tempo(*_score(played.midi))
        assert estimate is not None
        assert abs(estimate.bpm / played.mean_qpm - 1) <= 0.04 or octave_nearer_preference(estimate.bpm, played.mean_qpm)


# --------------------------------------------------------------------------------------------------
# The estimator on signals whose answer is known exactly


def test_a_metronome_gives_its_tempo_with_full_confidence():
    clicks = np.arange(0, 30, 60 / 93.0)
    estimate = estimate_tempo(clicks)
    assert estimate is not None
    assert estimate.bpm == pytest.approx(93.0, rel=0.005)
    assert estimate.confidence > 0.9


def test_accented_triple_meter_picks_the_beat_not_the_subdivision():
    # Eighth notes at 330 per minute with every third one long and loud: a 6/8 at 110 beats.
    onsets = np.arange(0, 40, 60 / 330.0)
    strong = np.arange(len(onsets)) % 3 == 0
    estimate = estimate_tempo(onsets, np.where(strong, 110, 60), np.where(strong, 0.5, 0.1))
    assert estimate is not None and estimate.bpm == pytest.approx(110.0, rel=0.01)


def test_no_estimate_without_evidence():
    assert estimate_tempo(np.array([0.0, 0.5, 1.0])) is None  # too few onsets
    assert estimate_tempo(np.zeros(40)) is None  # one chord, however many notes
    assert estimate_tempo(np.linspace(0, 2, 20)) is None  # two seconds of music


def test_octave_rule_counts_only_octaves_nearer_the_preference():
    assert octave_nearer_preference(132.0, 66.0)  # a slow half-note beat heard in quarters
    assert octave_nearer_preference(75.0, 150.0)
    assert not octave_nearer_preference(33.0, 66.0)  # away from the preference
    assert not octave_nearer_preference(300.0, 150.0)
    assert not octave_nearer_preference(99.0, 66.0)  # x1.5 is no octave


# --------------------------------------------------------------------------------------------------
# Where the tempo comes from


def test_tempo_source_rule():
    estimate = TempoEstimate(96.0, 0.3)
    assert tempo_source(120.0, "quantized", None) == PieceTempo(DECLARED, 120.0, None)
    # No tempo event: MIDI's default 120 is what a player uses, not what anyone chose.
    assert tempo_source(None, "quantized", estimate) == PieceTempo(PLACEHOLDER, None, None)
    assert tempo_source(87.5, "quantized", estimate) == PieceTempo(DECLARED, 87.5, None)
    assert tempo_source(120.0, "expressive", estimate) == PieceTempo(ESTIMATED, 96.0, 0.3)
    assert tempo_source(None, "expressive", estimate) == PieceTempo(ESTIMATED, 96.0, 0.3)
    assert tempo_source(70.0, "expressive", estimate) == PieceTempo(ESTIMATED, 96.0, 0.3)  # not confirmed
    assert tempo_source(192.0, "expressive", estimate) == PieceTempo(DECLARED, 192.0, 0.3)  # confirmed (x2)
    assert tempo_source(120.0, "expressive", None) == PieceTempo(PLACEHOLDER, None, None)
    assert tempo_source(None, "expressive", None) == PieceTempo(PLACEHOLDER, None, None)
    assert tempo_source(70.0, "expressive", None) == PieceTempo(DECLARED, 70.0, None)
    assert tempo_source(None, None, None) == PieceTempo(PLACEHOLDER, None, None)


# --------------------------------------------------------------------------------------------------
# The re-timer itself


def test_notated_beat_reads_the_abc_tempo_field():
    assert notated_beat("3/8=120") == (1.5, 120.0)
    assert notated_beat(" 1/2 = 104 ") == (2.0, 104.0)
    assert notated_beat("1/4=80 \"Slow\"") is None
    assert notated_beat("120") is None


def test_perform_writes_performance_midi(tunes):
    tune = tunes[0]
    original = symusic.Score.from_midi(tune.original)
    again = perform(original, 7)
    assert again == perform(original, 7)  # same seed, same bytes
    assert again.midi != perform(original, 8).midi
    played = symusic.Score.from_midi(again.midi)
    assert [(t.time, round(t.qpm, 3)) for t in played.tempos] == [(0, 120.0)]
    before, after = note_table(original), note_table(played)
    assert sorted(before["pitch"].tolist()) == sorted(after["pitch"].tolist())
    assert again.mean_qpm == pytest.approx(declared_tempo(original), rel=0.05)
    faster = perform(original, 7, tempo_factor=1.2, drift=0.0, rubato=0.0)
    assert faster.mean_qpm == pytest.approx(1.2 * declared_tempo(original), rel=1e-6)
