"""Note-level tokens on real music: music21's Irish tunes through the pipeline's own build steps
(testing/shards.py, no Spark), encoded one row per note and decoded back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import symusic
import torch

from symcorpus.music.chords import CHORD_NAMES, chord_names, window_chord_indices, windows
from symcorpus.music.features import metric_grid
from symcorpus.music.notes import note_table
from symcorpus.testing.shards import irish_tunes
from symcorpus.tokenizers import TokenizeSettings, Tokenizer, load_tokenizer, notes, remi
from symcorpus.train.data import Packer, SequenceFormat, examples_stream, pack_batch, to_inputs_targets

NOTE_FIELDS = ("time", "duration", "pitch", "velocity", "program")


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return irish_tunes(tmp_path_factory.mktemp("irish"), "notes", 256)


@pytest.fixture(scope="module")
def tunes(shards) -> list[bytes]:
    rows = pq.read_table(shards.parent / "corpus_v1" / "corpus" / "train").to_pylist()
    return [row["score_midi"] for row in rows]


@pytest.fixture(scope="module")
def whole(shards) -> Tokenizer:
    """A note tokenizer whose chunks hold any tune whole."""
    return Tokenizer("notes", TokenizeSettings(max_seq_len=100_000), load_tokenizer(shards).conditions.values)


def grid_notes(piece: remi.DecodedPiece) -> list[tuple]:
    return sorted(zip(*[piece.notes[k].tolist() for k in NOTE_FIELDS]))


def test_notes_decode_to_what_remi_keeps_and_encode_back_to_the_same_rows(tunes, whole):
    rt = Tokenizer("remi", whole.settings, whole.conditions.values)
    assert len(tunes) > 30
    for midi in tunes:
        (rows,) = whole.encode_music(midi, "midi")
        assert len(rows) % notes.STRIDE == 0
        by_remi = remi.decode_tokens(rt.encode_music(midi, "midi")[0], rt.remi)
        by_notes = notes.decode_rows(rows, whole.notes)
        assert grid_notes(by_notes) == grid_notes(by_remi)
        assert by_notes.time_signatures[0][1:] == by_remi.time_signatures[0][1:]
        again = whole.encode_music(whole.decode(rows), "midi")[0]
        assert np.array_equal(again, rows)  # all 8 attributes, chords included


def test_every_attribute_stays_in_its_own_id_range(tunes, whole):
    starts, sizes = np.array(whole.notes.starts), np.array(whole.notes.sizes)
    assert starts[0] == whole.music_range[0] and starts[-1] + sizes[-1] == whole.music_range[1]
    assert np.all(starts[1:] == starts[:-1] + sizes[:-1])
    for midi in tunes[:10]:
        rows = whole.encode_music(midi, "midi")[0].reshape(-1, notes.STRIDE) - starts
        assert ((rows >= 0) & (rows < sizes)).all()
        assert rows[0, notes.TYPE] != notes.SAME_BAR  # a piece opens a bar


def test_the_chord_attribute_is_the_annotators_chord_of_the_beat(tunes, whole):
    names = [*CHORD_NAMES, "N"]
    seen = []
    for midi in tunes[:5]:
        score = symusic.Score.from_midi(midi)
        table = note_table(score)
        _, beats, end = metric_grid(score, table)
        per_beat = chord_names(window_chord_indices(table, *windows(beats, end)))
        rows = whole.encode_music(midi, "midi")[0].reshape(-1, notes.STRIDE)
        chords = [names[c] for c in rows[:, notes.CHORD] - whole.notes.starts[notes.CHORD]]
        onsets = np.sort(table["onset"])  # rows are in time order, as the table
        expected = [per_beat[max(0, np.searchsorted(beats, t, side="right") - 1)] for t in onsets]
        assert chords == expected
        seen += chords
    assert sum(c != "N" for c in seen) > len(seen) / 4  # beats of a melody often name a chord


def test_chunks_are_cut_at_bars_and_decode_on_their_own(tunes, whole):
    tok = Tokenizer("notes", TokenizeSettings(max_seq_len=64), whole.conditions.values)  # 48 notes a chunk
    assert tok.stride == notes.STRIDE and tok.max_tokens_per_chunk % notes.STRIDE == 0
    long = max(tunes, key=lambda m: len(whole.encode_music(m, "midi")[0]))
    (rows,) = whole.encode_music(long, "midi")
    chunks = tok.encode_music(long, "midi")
    assert len(chunks) > 1
    assert all(len(c) <= tok.max_tokens_per_chunk and len(c) % notes.STRIDE == 0 for c in chunks)
    assert sum(len(c) for c in chunks) == len(rows)
    same = tok.notes.starts[notes.TYPE] + notes.SAME_BAR
    assert all(c[notes.TYPE] != same for c in chunks)  # each chunk opens a bar
    # Each chunk's notes are the piece's notes of those bars, shifted to start at bar 0.
    all_notes = grid_notes(notes.decode_rows(rows, tok.notes))
    pitches = sorted(p for c in chunks for p in notes.decode_rows(c, tok.notes).notes["pitch"].tolist())
    assert pitches == sorted(n[2] for n in all_notes)


def test_readable_values_name_their_tokens(whole):
    v = whole.notes
    inst = notes.ATTRIBUTES.index("instrument")
    assert v.value_of("instrument", "Violin") == v.starts[inst] + 40
    assert v.value_of("instrument", "piano") == v.starts[inst] + 0  # an everyday alias
    assert v.value_of("instrument", "Drums") == v.starts[inst] + 128
    vel = notes.ATTRIBUTES.index("velocity")
    assert v.bins.velocities[v.value_of("velocity", 80) - v.starts[vel]] == 79  # the nearest of the 32 bins
    for bad in (("instrument", "Theremin"), ("velocity", "loud"), ("colour", "red")):
        with pytest.raises(ValueError, match=bad[0]):
            v.value_of(*bad)


def test_the_tokenizer_file_rebuilds_it(shards):
    tok = load_tokenizer(shards)
    data = tok.to_json()
    assert data["kind"] == "notes" and data["stride"] == 8
    assert len(data["tokens"]) == tok.vocab_size
    assert Tokenizer.from_json(data).vocab_size == tok.vocab_size


def test_packed_blocks_hold_whole_notes(shards):
    tok = load_tokenizer(shards)
    fmt = SequenceFormat.of(tok, 0.0, 0.0)
    table = pq.read_table(shards / "train")
    stream = examples_stream(table, fmt, np.ones(table.num_rows, dtype=bool))
    positions = stream.reshape(-1, notes.STRIDE)
    first = positions[:, 0]
    is_note = (first >= tok.notes.starts[0]) & (first < tok.notes.starts[0] + tok.notes.sizes[0])
    # Rows that are not notes are bos, conditions, sep or eos in the first slot and padding after.
    assert (positions[~is_note, 1:] == tok.pad_id).all()
    assert is_note.sum() * notes.STRIDE == sum(table.column("n_tokens").to_pylist())
    assert (first == tok.bos_id).sum() == table.num_rows == (first == tok.eos_id).sum()
    packer = Packer(32, tok.pad_id, notes.STRIDE)
    blocks = np.concatenate([packer.push(stream), packer.flush()])
    assert blocks.shape[1] == 33 * notes.STRIDE
    rebuilt = np.concatenate([blocks[0]] + [b[notes.STRIDE:] for b in blocks[1:]])
    assert np.array_equal(rebuilt[: len(stream)], stream)  # consecutive blocks share one position
    x, y = to_inputs_targets(torch.from_numpy(blocks[:2]), tok.pad_id, notes.STRIDE)
    positions = torch.from_numpy(blocks[:2]).long().view(2, 33, notes.STRIDE)
    expected = positions[:, 1:].clone()
    expected[expected == tok.pad_id] = -1
    assert torch.equal(x, positions[:, :-1]) and torch.equal(y, expected)


def test_ray_datas_packing_function_keeps_notes_whole_too(shards):
    tok = load_tokenizer(shards)
    fmt = SequenceFormat.of(tok)  # with the tokenizer's condition and family dropout
    blocks = pack_batch(pq.read_table(shards / "train"), fmt.to_dict(), 32, seed=3)["block"]
    assert blocks.shape[1] == 33 * notes.STRIDE and len(blocks) > 10
    positions = blocks.reshape(-1, notes.STRIDE)
    first = positions[:, 0]
    starts, sizes = np.array(tok.notes.starts), np.array(tok.notes.sizes)
    is_note = (first >= starts[0]) & (first < starts[0] + sizes[0])
    in_range = (positions - starts >= 0) & (positions - starts < sizes)
    assert in_range[is_note].all()  # every note position is 8 attributes in their own ranges
    assert (positions[~is_note, 1:] == tok.pad_id).all()


def test_each_time_signature_condition_maps_to_the_type_of_a_bar_in_it(shards):
    tok = load_tokenizer(shards)
    pairs = notes.opening_lines(tok.notes, tok.conditions)
    names = dict(zip(range(tok.notes.offset, tok.notes.size), tok.notes.names()))
    conditions = {i: name for name, i in tok.conditions.ids["time_signature"].items()}
    assert pairs and {c for c, _ in pairs} <= set(conditions)
    for condition, kind in pairs:
        assert names[kind] == f"Type_Bar+1_{conditions[condition]}"
    # the irish tunes' own metres are all mapped
    assert {"6/8", "2/4"} <= {conditions[c] for c, _ in pairs}
