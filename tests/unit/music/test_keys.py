"""Key estimation from notes (music/keys.py) on real tunes and transpositions of them."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from symcorpus.music.abc_text import decode_abc, parse_header, split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.music.keys import KEY_CUES, KEY_WEIGHTS, Key, abc_key, key_cues, key_of_notes, mirex_score
from symcorpus.music.notes import canonical_notes
from symcorpus.testing.profile_key import estimate_key, pitch_class_histogram
from symcorpus.testing.variants import transpose

from tests.conftest import M21

# Collections whose K: states the mode; two files the previous estimator found hard.
SAMPLE_FILES = ("oneills1850/0101-0200.abc", "miscFolk/northumbrianminstrelsyopus.abc")


def pitched(midi: bytes) -> np.ndarray:
    notes = canonical_notes(symusic.Score.from_midi(midi))
    return notes[~notes["is_drum"]]


def key_of(notes: np.ndarray) -> Key:
    return key_of_notes(notes["pitch"], notes["onset_q"], notes["duration_q"])


def same_key(a: Key, b: Key) -> bool:
    return (a.tonic, a.minor) == (b.tonic, b.minor)


def declared_tunes(relative: str) -> list[tuple[Key, bytes]]:
    """Major and minor tunes of one ABC file with their declared K: key, as rendered MIDI."""
    out = []
    for tune in split_tunes((M21 / relative).read_bytes()):
        declared = abc_key(parse_header(decode_abc(tune.content)).get("key", ""))
        if declared is not None:
            out.append((declared, to_midi(tune.content, "abc")))
    return out


@pytest.fixture(scope="module")
def sample() -> list[tuple[Key, np.ndarray]]:
    return [(k, pitched(midi)) for relative in SAMPLE_FILES for k, midi in declared_tunes(relative)]


@pytest.fixture(scope="module")
def oneills() -> list[tuple[Key, bytes]]:
    return declared_tunes("oneills1850/0001-0050.abc")


def test_abc_key_fields():
    assert abc_key("G") == Key(7, False, 1.0)
    assert abc_key("Em") == Key(4, True, 1.0)
    assert abc_key("F#min") == Key(6, True, 1.0)
    assert abc_key("Bb major") == Key(10, False, 1.0)
    assert abc_key("A Dorian") is None and abc_key("none") is None


def test_most_real_tunes_match_their_declared_key(sample):
    assert len(sample) >= 200
    minor = [k.minor for k, _ in sample]
    assert 10 <= sum(minor) <= len(sample) - 100  # both modes are tested
    ours = np.mean([same_key(key_of(notes), k) for k, notes in sample])
    previous = np.mean([
        same_key(estimate_key(pitch_class_histogram(notes["pitch"], notes["duration_q"])), k) for k, notes in sample])
    assert ours >= 0.85
    assert ours > previous  # the cues beat the duration-weighted profile alone
    minor_right = np.mean([same_key(key_of(notes), k) for k, notes in sample if k.minor])
    assert minor_right >= 0.7  # minor tunes are not sacrificed to the majority


def test_transposing_the_notes_transposes_the_key(sample):
    for _, notes in sample[::4]:
        base = key_of(notes)
        for shift in range(1, 12):
            moved = key_of_notes(notes["pitch"] + shift, notes["onset_q"], notes["duration_q"])
            assert (moved.tonic, moved.minor) == ((base.tonic + shift) % 12, base.minor)
            assert moved.confidence == pytest.approx(base.confidence)


def test_transposing_a_midi_file_transposes_its_key(oneills):
    assert len(oneills) >= 30
    for _, midi in oneills[:10]:
        base = key_of(pitched(midi))
        for shift in (2, 5, -3):
            moved = key_of(pitched(transpose(midi, shift)))
            assert (moved.tonic, moved.minor) == ((base.tonic + shift) % 12, base.minor)


def test_key_does_not_depend_on_the_order_of_the_notes(sample):
    rng = np.random.default_rng(0)
    for _, notes in sample[:20]:
        shuffled, key = key_of(notes[rng.permutation(len(notes))]), key_of(notes)
        assert same_key(shuffled, key)
        assert shuffled.confidence == pytest.approx(key.confidence)  # sums in another order


def test_cues_and_confidence(sample):
    _, notes = sample[0]
    cues = key_cues(notes["pitch"], notes["onset_q"], notes["duration_q"])
    assert cues.shape == (24, len(KEY_CUES)) == (24, len(KEY_WEIGHTS))
    assert np.all(np.abs(cues[:, :4]) <= 1 + 1e-9)  # correlations
    assert set(np.unique(cues[:, 4:])) <= {0.0, 1.0}  # yes/no cues
    for _, notes in sample[:30]:
        key = key_of(notes)
        assert 1 / 24 < key.confidence <= 1.0
        assert " major" in key.name or " minor" in key.name


def test_empty_and_degenerate_input():
    empty = np.array([], dtype=np.int64)
    assert key_of_notes(empty, empty.astype(float), empty.astype(float)) is None
    assert estimate_key(np.zeros(12)) is None
    # One sustained note: its pitch class is the tonic, whatever its duration.
    for pitch in (60, 67, 70):
        for duration in (0.0, 4.0):
            key = key_of_notes(np.array([pitch]), np.array([0.0]), np.array([duration]))
            assert key.tonic == pitch % 12


def test_mirex_weights():
    c_major = Key(0, False, 1.0)
    assert mirex_score(Key(0, False, 0.5), c_major) == 1.0
    assert mirex_score(Key(7, False, 0.5), c_major) == 0.5
    assert mirex_score(Key(9, True, 0.5), c_major) == 0.3
    assert mirex_score(Key(0, True, 0.5), c_major) == 0.2
    assert mirex_score(Key(1, False, 0.5), c_major) == 0.0
