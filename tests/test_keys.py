"""Key estimation from notes (music/keys.py) on real tunes and transpositions of them."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from symcorpus.music.abc_text import decode_abc, parse_header, split_tunes
from symcorpus.music.convert import to_midi, transpose
from symcorpus.music.keys import Key, abc_key, estimate_key, mirex_score, pitch_class_histogram
from symcorpus.music.notes import canonical_notes

from .conftest import M21


def key_of(midi: bytes) -> Key:
    notes = canonical_notes(symusic.Score.from_midi(midi))
    return estimate_key(pitch_class_histogram(notes["pitch"], notes["duration_q"]))


@pytest.fixture(scope="module")
def tunes() -> list[tuple[Key, bytes]]:
    """Major and minor tunes of O'Neill's collection with their declared K: key."""
    out = []
    for tune in split_tunes((M21 / "oneills1850/0001-0050.abc").read_bytes()):
        declared = abc_key(parse_header(decode_abc(tune.content)).get("key", ""))
        if declared is not None:
            out.append((declared, to_midi(tune.content, "abc")))
    return out


def test_abc_key_fields():
    assert abc_key("G") == Key(7, False, 1.0)
    assert abc_key("Em") == Key(4, True, 1.0)
    assert abc_key("F#min") == Key(6, True, 1.0)
    assert abc_key("Bb major") == Key(10, False, 1.0)
    assert abc_key("A Dorian") is None and abc_key("none") is None


def test_most_real_tunes_match_their_declared_key(tunes):
    assert len(tunes) >= 30
    estimates = [key_of(midi) for _, midi in tunes]
    exact = [(e.tonic, e.minor) == (k.tonic, k.minor) for e, (k, _) in zip(estimates, tunes)]
    assert np.mean(exact) >= 0.75


def test_transposing_a_tune_transposes_its_key(tunes):
    for _, midi in tunes[:10]:
        base = key_of(midi)
        for shift in (2, 5, -3):
            moved = key_of(transpose(midi, shift))
            assert (moved.tonic, moved.minor) == ((base.tonic + shift) % 12, base.minor)


def test_mirex_weights():
    c_major = Key(0, False, 1.0)
    assert mirex_score(Key(0, False, 0.5), c_major) == 1.0
    assert mirex_score(Key(7, False, 0.5), c_major) == 0.5
    assert mirex_score(Key(9, True, 0.5), c_major) == 0.3
    assert mirex_score(Key(0, True, 0.5), c_major) == 0.2
    assert mirex_score(Key(1, False, 0.5), c_major) == 0.0


def test_empty_histogram_has_no_key():
    assert estimate_key(np.zeros(12)) is None
