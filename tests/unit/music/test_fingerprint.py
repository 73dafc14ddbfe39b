"""Dedup fingerprints on real tunes and their variants (no Spark)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import symusic

from symcorpus.music.fingerprint import (
    MinHasher,
    band_hashes,
    jaccard,
    notes_hash,
    pack_signature,
    packed_similarities,
    shingles,
)
from symcorpus.music.notes import canonical_notes
from symcorpus.testing.variants import (
    MUST_MATCH, change_instruments, humanize_velocities, merge_tracks, retick, scale_tempo, split_tracks, transpose,
)
from symcorpus.spark.split import split_of
from symcorpus.testing.synthetic import piece, planted


def notes_of(midi: bytes) -> np.ndarray:
    return canonical_notes(symusic.Score.from_midi(midi))


@pytest.fixture(scope="module")
def tune(midi_from_abc) -> bytes:
    return midi_from_abc[2][1]


@pytest.mark.parametrize(
    "make",
    [
        lambda m, rng: scale_tempo(m, 1.3),
        lambda m, rng: retick(m, 384),
        change_instruments,
        lambda m, rng: split_tracks(m),
        lambda m, rng: merge_tracks(split_tracks(m)),
        humanize_velocities,
    ],
    ids=["tempo", "retick", "instruments", "split", "merge", "velocities"],
)
def test_same_notes_hash_whatever_the_encoding(tune, make):
    variant = make(tune, np.random.default_rng(0))
    assert variant != tune
    assert notes_hash(notes_of(variant)) == notes_hash(notes_of(tune))


def test_transposition_changes_the_notes_hash_unless_invariant(tune):
    up = notes_of(transpose(tune, 3))
    assert notes_hash(up) != notes_hash(notes_of(tune))
    assert notes_hash(up, transpose_invariant=True) == notes_hash(notes_of(tune), transpose_invariant=True)


def test_different_tunes_have_different_fingerprints(midi_from_abc):
    sets = [shingles(notes_of(m)) for _, m in midi_from_abc]
    hashes = {notes_hash(notes_of(m), transpose_invariant=True) for _, m in midi_from_abc}
    assert len(hashes) == len(midi_from_abc)
    for a, b in itertools.combinations(sets, 2):
        assert jaccard(a, b) < 0.3


def test_shingles_ignore_transposition_and_tempo(tune):
    base = shingles(notes_of(tune))
    assert jaccard(base, shingles(notes_of(scale_tempo(transpose(tune, -5), 0.8)))) == 1.0


@pytest.mark.parametrize("kind", ["notes_dropped_5pct", "notes_added_5pct", "intro_added", "trimmed_10pct"])
def test_edited_variants_stay_similar(midi_from_abc, kind):
    rng = np.random.default_rng(1)
    for _, midi in midi_from_abc[:6]:
        assert jaccard(shingles(notes_of(midi)), shingles(notes_of(MUST_MATCH[kind](midi, rng)))) > 0.35


def test_minhash_estimates_jaccard(midi_from_abc):
    hasher = MinHasher(256, seed=3)
    rng = np.random.default_rng(2)
    for _, midi in midi_from_abc[:6]:
        a = shingles(notes_of(midi))
        b = shingles(notes_of(MUST_MATCH["notes_dropped_5pct"](midi, rng)))
        estimate = packed_similarities([pack_signature(hasher.signature(a))], [pack_signature(hasher.signature(b))])[0]
        assert abs(estimate - jaccard(a, b)) < 0.12


def test_identical_signatures_share_every_band_and_different_ones_few(midi_from_abc):
    hasher = MinHasher(240)
    sig_a = hasher.signature(shingles(notes_of(midi_from_abc[0][1])))
    sig_b = hasher.signature(shingles(notes_of(midi_from_abc[1][1])))
    np.testing.assert_array_equal(band_hashes(sig_a, 80, 3), band_hashes(sig_a.copy(), 80, 3))
    assert np.sum(band_hashes(sig_a, 80, 3) == band_hashes(sig_b, 80, 3)) <= 4


def test_split_of_is_deterministic_and_follows_ratios():
    ratios = {"train": 0.8, "valid": 0.1, "test": 0.1}
    keys = [f"key-{i}" for i in range(20000)]
    splits = [split_of(k, ratios, "s") for k in keys]
    assert splits == [split_of(k, ratios, "s") for k in keys]
    share = {name: splits.count(name) / len(keys) for name in ratios}
    for name, ratio in ratios.items():
        assert abs(share[name] - ratio) < 0.01
    assert splits != [split_of(k, ratios, "another seed") for k in keys]


def _voices_as_one_score(rel: str) -> symusic.Score:
    """The voices of a music21 ABC file (one tune per voice) as one polyphonic score."""
    from symcorpus.music.abc_text import split_tunes
    from symcorpus.music.convert import to_midi

    from tests.conftest import M21

    voices = [symusic.Score.from_midi(to_midi(t.content, "abc")) for t in split_tunes((M21 / rel).read_bytes())]
    score = voices[0].copy()
    for voice in voices[1:]:
        for track in voice.tracks:
            score.tracks.append(track.copy())
    return score


def test_a_played_piece_re_encoded_at_a_coarser_resolution_keeps_its_shingles():
    # A performer's chords are spread over a few milliseconds, and another resolution moves every
    # onset a little: notes under 1/32 quarter apart are one chord, so the tokens stay.
    from symcorpus.testing.performance import perform

    played = perform(_voices_as_one_score("josquin/petiteCamusette.abc"), seed=0).midi
    assert jaccard(shingles(notes_of(played)), shingles(notes_of(retick(played, 96)))) > 0.6


def test_a_tune_with_its_repeats_written_out_is_the_same_tune(midi_from_abc):
    # Collections print the same tune once, or with its repeats written out: the shingles are a
    # set, so the two share every k-gram (counted repeats would put them at a half).
    tune = symusic.Score.from_midi(midi_from_abc[0][1])
    twice, end = tune.copy(), tune.end()
    for track, shifted in zip(twice.tracks, tune.shift_time(end).tracks):
        for note in shifted.notes:
            track.notes.append(note)
    once, played_twice = shingles(notes_of(midi_from_abc[0][1])), shingles(notes_of(twice.dumps_midi()))
    assert jaccard(once, played_twice) > 0.9


def test_an_edit_spread_over_a_songs_repeats_stays_near():
    # A 6,400-note song whose sections recur a dozen times and its copy with 5% of notes dropped
    # (the scale corpus' planted pair piece_009510 of piece_009279): as a plain set, the k-grams each
    # pass's drops make outnumbered the song's own and the pair fell to 0.31; weighted by the log of
    # their repeats, the recurring material outweighs them.
    original = piece((1, 9279))
    edited = planted(original, "notes_dropped_5pct", np.random.default_rng([1, 9510, 1]))
    assert jaccard(shingles(notes_of(original)), shingles(notes_of(edited))) > 0.37


def test_repeats_weigh_with_their_log():
    # A song played 8 times over: its k-grams that recur 12 times or more weigh 2 (two hashes) or more.
    tune = symusic.Score.from_midi(MUST_MATCH["transposed"](piece((1, 7)), np.random.default_rng(0)))
    once = shingles(notes_of(tune.dumps_midi()))
    assert len(np.unique(once)) == len(once)
    eight = tune.copy()
    for track in eight.tracks:
        track.notes.clear()
    for r in range(8):
        for track, shifted in zip(eight.tracks, tune.shift_time(r * tune.end()).tracks):
            for note in shifted.notes:
                track.notes.append(note)
    repeated = shingles(notes_of(eight.dumps_midi()))
    assert len(np.unique(repeated)) == len(repeated)
    assert np.isin(once, repeated).mean() > 0.95
    assert len(repeated) > 1.8 * len(once)


def test_sparse_signatures_estimate_small_sets_closely(midi_from_abc):
    # Folk tunes have fewer shingles than the signature has bins: bins empty in both tunes say
    # nothing, and leaving them out of the estimate (instead of densifying) keeps it near the exact
    # similarity where a threshold decides.
    hasher = MinHasher(240, seed=1)
    rng = np.random.default_rng(4)
    errors = []
    for _, midi in midi_from_abc:
        a = shingles(notes_of(midi))
        b = shingles(notes_of(MUST_MATCH["notes_dropped_5pct"](midi, rng)))
        assert len(a) < 240
        sparse = packed_similarities([pack_signature(hasher.sparse_signature(a))],
                                     [pack_signature(hasher.sparse_signature(b))])[0]
        errors.append(abs(sparse - jaccard(a, b)))
    assert max(errors) < 0.06 and np.mean(errors) < 0.025
    empty = pack_signature(hasher.sparse_signature(np.empty(0, dtype=np.uint64)))
    assert packed_similarities([empty], [empty])[0] == 1.0
    assert packed_similarities([empty], [pack_signature(hasher.sparse_signature(a))])[0] == 0.0


def test_densified_bins_borrow_from_the_first_filled_bin_they_probe(tune):
    """Every empty bin takes the value of the first filled bin along its own probe sequence, or,
    when all its probes miss (sets of a handful of shingles), of the nearest filled bin to its right;
    filled bins keep theirs. Checked bin by bin against that rule, on a real tune's shingles and on
    subsets of them down to one shingle (where probes run out)."""
    hasher = MinHasher(240, 1)
    probes = hasher.probes  # (bins, attempts)
    full = shingles(notes_of(tune))
    assert len(full) > 40
    fallbacks = 0
    for size in (len(full), 40, 12, 5, 3, 1):
        sparse = hasher.sparse_signature(full[:size])
        dense = hasher.densified(sparse)
        filled = np.flatnonzero(sparse != 2**32 - 1)
        assert 0 < len(filled) < 240
        for b in range(240):
            if b in filled:
                expected = sparse[b]
            else:
                hits = [p for p in probes[b] if p in filled]
                fallbacks += not hits
                expected = sparse[hits[0]] if hits else sparse[next((f for f in filled if f > b), filled[0])]
            assert dense[b] == expected, (size, b)
    assert fallbacks > 0  # the rule's last resort was exercised
