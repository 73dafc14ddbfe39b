"""Tokenizers on real music: REMI+ round trips, ABC normalization, condition tokens and prompts.

REMI+ is checked against a reference quantizer written here, note by note in plain Python, from the
rules in symcorpus/tokenizers/remi.py's docstring: encode then decode must give exactly the
reference's notes, programs, tempos and time signatures.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import symusic

from symcorpus.music.abc_text import decode_abc, split_tunes
from symcorpus.music.abc_voices import AbcError, split_bars, unequal_voices_reason, voice_bar_counts
from symcorpus.music.convert import to_midi
from symcorpus.tokenizers import Tokenizer, TokenizeError, build_tokenizer, load_tokenizer
from symcorpus.tokenizers import abc as abc_tok
from symcorpus.tokenizers import remi
from symcorpus.tokenizers.conditions import FAMILIES, NONE, UNKNOWN, ConditionVocab, piece_values
from symcorpus.config import SettingsError, TokenizeSettings
from symcorpus.recipes import load_recipe, recipe_settings

from tests.conftest import M21

SITE = Path(symusic.__file__).resolve().parents[1]
PRIMITIVE = sorted((SITE / "music21" / "midi" / "testPrimitive").glob("*.mid"))
OMR = sorted((SITE / "music21" / "omr").glob("*.mid"))
MIDITOOLKIT = SITE / "miditoolkit" / "midi" / "examples_data" / "1390.mid"
SETTINGS = TokenizeSettings()
VOCAB = remi.RemiVocab(SETTINGS)


def tune_text(rel: str, index: int) -> str:
    return decode_abc(split_tunes((M21 / rel).read_bytes())[index - 1].content)


# --------------------------------------------------------------------------------------------------
# Reference quantizer: the documented rules, one event at a time


def _round_half_up(ticks: int, tpq: int, grid: int) -> int:
    return math.floor(Fraction(ticks * grid, tpq) + Fraction(1, 2))


def _nearest(values, x):
    return min(values, key=lambda v: (abs(v - x), -v))  # ties to the higher value


def reference(score: symusic.Score, s: TokenizeSettings) -> dict:
    tpq, g = score.ticks_per_quarter, s.grid
    durations, velocities, tempos = s.duration_steps(), s.velocity_values(), s.tempo_values()
    notes = []
    for track in score.tracks:
        program = 128 if track.is_drum else track.program
        for n in track.notes:
            d = _round_half_up(max(n.duration, 0), tpq, g)
            d = durations[0] if d <= 0 else durations[-1] if d >= durations[-1] else _nearest(durations, d)
            notes.append((_round_half_up(n.time, tpq, g), d, n.pitch, _nearest(velocities, n.velocity), program))
    end = max(n[0] for n in notes)

    last_per_time: dict[int, float] = {}
    for t in sorted(score.tempos, key=lambda t: t.time):
        last_per_time[_round_half_up(t.time, tpq, g)] = _nearest(tempos, 6e7 / t.mspq)
    tempo_changes = []
    for time, qpm in sorted(last_per_time.items()):
        if time <= end and (not tempo_changes or tempo_changes[-1][1] != qpm):
            tempo_changes.append((time, qpm))

    vocab_ts = set(s.time_signatures())
    start, current, signatures = 0, (4, 4), []
    for ts in sorted(score.time_signatures, key=lambda t: t.time):
        t = _round_half_up(ts.time, tpq, g)
        if t > end:
            break
        length = current[0] * 4 * g // current[1]
        at = start + math.ceil((t - start) / length) * length
        if at > end:
            break
        new = (ts.numerator, ts.denominator) if (ts.numerator, ts.denominator) in vocab_ts else (4, 4)
        if at > start:
            signatures.append((start, *current))
            start = at
        current = new
    signatures.append((start, *current))
    merged = [signatures[0]] + [b for a, b in zip(signatures, signatures[1:]) if a[1:] != b[1:]]
    return {"notes": sorted(notes), "tempos": tempo_changes, "time_signatures": merged}


def decoded(midi: bytes, s: TokenizeSettings) -> dict:
    score = symusic.Score.from_midi(midi)
    tpq = score.ticks_per_quarter
    assert tpq % s.grid == 0
    f = tpq // s.grid
    notes = []
    for track in score.tracks:
        program = 128 if track.is_drum else track.program
        notes += [(n.time // f, n.duration // f, n.pitch, n.velocity, program) for n in track.notes]
    tempos = [(t.time // f, _nearest(s.tempo_values(), 6e7 / t.mspq)) for t in score.tempos]
    ts = [(t.time // f, t.numerator, t.denominator) for t in score.time_signatures]
    return {"notes": sorted(notes), "tempos": tempos, "time_signatures": ts}


def real_midi(midi_from_abc) -> list[tuple[str, bytes]]:
    files = [(p.name, p.read_bytes()) for p in PRIMITIVE + OMR + [MIDITOOLKIT]]
    return files + list(midi_from_abc)


def humanized(data: bytes, seed: int) -> bytes:
    """The same piece with every onset and duration moved by a few ticks (rounding edges)."""
    score = symusic.Score.from_midi(data)
    rng = np.random.default_rng(seed)
    for track in score.tracks:
        for note in track.notes:
            note.time = max(0, note.time + int(rng.integers(-25, 26)))
            note.duration = max(0, note.duration + int(rng.integers(-25, 26)))
            note.velocity = int(rng.integers(1, 128))
    return score.dumps_midi()


# --------------------------------------------------------------------------------------------------
# REMI+


def test_remi_round_trip_is_lossless_at_the_grid(midi_from_abc):
    files = real_midi(midi_from_abc)
    files += [(f"{name}~{i}", humanized(data, i)) for i, (name, data) in enumerate(files[:8])]
    for name, data in files:
        score = symusic.Score.from_midi(data)
        encoding = remi.encode_score(score, VOCAB)
        midi = remi.decode_to_midi(encoding.tokens, VOCAB)
        want, got = reference(score, SETTINGS), decoded(midi, SETTINGS)
        assert got["notes"] == want["notes"], name
        assert got["tempos"] == want["tempos"], name
        assert got["time_signatures"] == want["time_signatures"], name
        assert encoding.n_notes == score.note_num() == len(got["notes"])
        # Decoding then encoding again changes nothing.
        assert np.array_equal(remi.encode_score(symusic.Score.from_midi(midi), VOCAB).tokens, encoding.tokens), name


def test_remi_round_trip_of_multi_track_scores_and_drums():
    """A Bach chorale from MusicXML (four parts), and a piece with drums and tempo changes."""
    chorale = to_midi((M21 / "bach/bwv1.6.mxl").read_bytes(), "musicxml", "bwv1.6.mxl")
    score = symusic.Score.from_midi(chorale)
    drums = symusic.Track("kit", 0, True)
    drums.notes = symusic.Note.from_numpy(np.arange(0, 9600, 240, dtype=np.int32), np.full(40, 60, np.int32),
                                          np.full(40, 42, np.int8), np.full(40, 90, np.int8))
    score.tracks.append(drums)
    score.tempos.append(symusic.Tempo(score.ticks_per_quarter * 8, 72.0))
    tokens = remi.encode_score(score, VOCAB).tokens
    got = decoded(remi.decode_to_midi(tokens, VOCAB), SETTINGS)
    assert got["notes"] == reference(score, SETTINGS)["notes"]
    assert {n[4] for n in got["notes"]} == {t.program for t in score.tracks if not t.is_drum} | {128}
    assert VOCAB.program0 + 128 in tokens  # drums are their own program
    assert len(got["tempos"]) >= 2


def test_remi_tokens_follow_the_grammar(midi_from_abc):
    names = ["<special>"] * VOCAB.offset + VOCAB.names()
    tokens = remi.encode_score(symusic.Score.from_midi(midi_from_abc[0][1]), VOCAB).tokens
    kinds = [names[t].split("_")[0] for t in tokens]
    assert kinds[:3] == ["Bar", "TimeSig", "Position"]
    for i, kind in enumerate(kinds):
        if kind == "Pitch":
            assert kinds[i + 1 : i + 3] == ["Velocity", "Duration"]
            assert kinds[i - 1] in ("Program", "Duration")
        if kind == "Program":
            assert kinds[i - 1] in ("Position", "Duration", "Tempo")
    # Positions rise within a bar.
    pos = -1
    for t, kind in zip(tokens, kinds):
        if kind == "Bar":
            pos = -1
        elif kind == "Position":
            assert VOCAB.value_lut[t] > pos
            pos = VOCAB.value_lut[t]


def test_remi_chunks_are_cut_at_bars_and_decode_on_their_own():
    score = symusic.Score.from_file(PRIMITIVE[3])  # test04: 21 tracks, 6,059 notes, many tempo changes
    encoding = remi.encode_score(score, VOCAB)
    budget = 700
    chunks = remi.chunk_encoding(encoding, VOCAB, budget)
    assert len(chunks) > len(encoding.tokens) // budget
    whole = remi.decode_tokens(encoding.tokens, VOCAB)
    bar_starts = np.concatenate([[0], np.cumsum(VOCAB.ts_steps[encoding.bar_ts - VOCAB.ts0])])
    first_bar = 0
    for chunk in chunks:
        assert len(chunk) <= budget and chunk[0] == VOCAB.bar and VOCAB.ts0 <= chunk[1] < VOCAB.pos0
        n_bars = int(np.count_nonzero(chunk == VOCAB.bar))
        lo, hi = bar_starts[first_bar], bar_starts[first_bar + n_bars]
        part = remi.decode_tokens(chunk, VOCAB)
        inside = (whole.notes["time"] >= lo) & (whole.notes["time"] < hi)
        notes = whole.notes
        want = sorted(zip(notes["time"][inside] - lo, notes["pitch"][inside], notes["program"][inside]))
        assert sorted(zip(part.notes["time"], part.notes["pitch"], part.notes["program"])) == want
        # The tempo in force at the chunk's first bar is stated at its start.
        before = whole.tempos[0] <= lo
        if before.any():
            assert part.tempos[0][0] == 0 and part.tempos[1][0] == whole.tempos[1][before][-1]
        first_bar += n_bars
    assert first_bar == len(encoding.bar_offsets)


def test_remi_decoding_tolerates_model_output():
    tokens = [VOCAB.pitch0 + 60, VOCAB.velocity0 + 10, VOCAB.duration0 + 11,  # before any Bar
              VOCAB.bar, VOCAB.pos0 + 6, VOCAB.pitch0 + 62, VOCAB.duration0,  # a note missing its velocity
              VOCAB.pos0 + 12, VOCAB.program0 + 40, VOCAB.pitch0 + 64, VOCAB.velocity0 + 5, VOCAB.duration0 + 5,
              9999, -3]
    piece = remi.decode_tokens(tokens, VOCAB)
    assert piece.notes["pitch"].tolist() == [60, 64]
    assert piece.notes["time"].tolist() == [0, 12] and piece.notes["program"].tolist() == [0, 40]
    assert symusic.Score.from_midi(remi.decode_to_midi(tokens, VOCAB)).note_num() == 2


def test_a_recipe_pitch_range_and_zero_length_notes_are_left_out(midi_from_abc):
    """AMD's preprocessing as tokenizer options (the amd recipe sets them): notes outside MIDI 12-119
    and notes whose length rounds to zero on the grid are dropped before encoding, the piece stays.
    By default every note is tokenized."""
    original = symusic.Score.from_midi(midi_from_abc[0][1])
    tpq = original.ticks_per_quarter
    track = next(t for t in original.tracks if t.note_num())
    score = original.copy()
    planted = next(t for t in score.tracks if t.note_num())
    for note in (symusic.Note(0, tpq, 5, 80), symusic.Note(tpq, tpq, 124, 80),  # outside 12-119
                 symusic.Note(2 * tpq, tpq // 48, 70, 80)):  # half a step of 12 per quarter: rounds to 0
        planted.notes.append(note)
    shortest = symusic.Note(3 * tpq, tpq // 24, 71, 80)  # exactly half a step: rounds up to one, kept
    planted.notes.append(shortest)
    kept = original.copy()
    next(t for t in kept.tracks if t.note_num()).notes.append(shortest)
    data = score.dumps_midi()

    amd = TokenizeSettings(pitch_range=[12, 119], drop_zero_length=True)
    recipe = recipe_settings(load_recipe("amd"), None)
    assert (recipe.tokenize.pitch_range, recipe.tokenize.drop_zero_length) == ([12, 119], True)
    assert recipe.filter.active("aria-midi")["tpq_below_grid"] == {"min_tpq": 4}
    for settings, want in ((SETTINGS, score), (amd, kept)):
        tok = build_tokenizer("remi", settings, {})
        [chunk] = tok.encode_music(data, "midi")
        assert decoded(tok.decode(chunk), settings)["notes"] == reference(want, settings)["notes"]
    assert track.note_num() + 4 == score.note_num()
    # A piece with every note outside the range is a token reject, not a crash.
    low = symusic.Score(tpq)
    low.tracks.append(symusic.Track(program=0))
    low.tracks[0].notes.append(symusic.Note(0, tpq, 6, 80))
    with pytest.raises(TokenizeError) as caught:
        build_tokenizer("remi", amd, {}).encode_music(low.dumps_midi(), "midi")
    assert caught.value.reason == "no_notes"


def test_settings_are_validated():
    with pytest.raises(SettingsError, match="divisions"):
        TokenizeSettings(durations=[[0, 4, 8]]).validate()
    with pytest.raises(SettingsError, match="powers of two"):
        TokenizeSettings(time_signature_denominators=[3]).validate()
    with pytest.raises(SettingsError, match="pitch_range"):
        TokenizeSettings(pitch_range=[119, 12]).validate()
    s = TokenizeSettings()
    assert s.tempo_values()[0] == 30 and s.tempo_values()[-1] <= 390 and len(s.tempo_values()) == 66
    assert s.duration_steps()[:3] == [1, 2, 3] and s.duration_steps()[-1] == 16 * 12
    assert (4, 4) in s.time_signatures() and (6, 8) in s.time_signatures() and (13, 4) not in s.time_signatures()


# --------------------------------------------------------------------------------------------------
# ABC


def _render(text: str) -> list[tuple]:
    score = symusic.Score.from_abc(text)
    f = Fraction(480, score.ticks_per_quarter)
    return sorted((int(n.time * f), n.pitch, int(n.duration * f)) for t in score.tracks for n in t.notes)


MULTI_VOICE = [("airdsAirs/book3.abc", 135), ("airdsAirs/book6.abc", 3), ("miscFolk/americanfifeopus.abc", 5)]


@pytest.mark.parametrize("rel,index", MULTI_VOICE)
def test_abc_voices_are_interleaved_bar_by_bar_and_play_the_same(rel, index):
    original = tune_text(rel, index)
    text = abc_tok.normalize_abc(original)
    header, body = text.split("K:", 1)
    bar_lines = body.split("\n")[1:-1]
    voices = voice_bar_counts(original)
    assert len(voices) >= 2 and len(set(voices.values())) == 1
    assert len(bar_lines) == next(iter(voices.values()))
    for line in bar_lines:
        assert re.findall(r"\[V:(\w+)\]", line) == list(voices)
    assert _render(abc_tok.playable(text)) == _render(original)


def test_abc_normalization_keeps_the_music_of_real_tunes():
    """Tunes from four collections play note for note the same after normalization,
    except where abc2midi obeys what NotaGen's normalization drops on purpose (R:hornpipe swing,
    %%MIDI lines)."""
    compared = 0
    for rel in ["nottingham-dataset/reelsa-c.abc", "essenFolksong/altdeu10.abc", "oneills1850/0001-0050.abc",
                "airdsAirs/book1.abc"]:
        for tune in split_tunes((M21 / rel).read_bytes())[:12]:
            original = decode_abc(tune.content)
            text = abc_tok.normalize_abc(original)
            assert text.isascii() and not re.search(r"^(X|T|C|W|w|Z|N|O|R|S|B):", text, re.M)
            assert "%%MIDI" not in text and "\n\n" not in text
            if re.search(r"^R:\s*hornpipe|%%MIDI", original, re.I | re.M):
                continue
            assert _render(abc_tok.playable(text)) == _render(original), (rel, tune.index)
            compared += 1
    assert compared >= 30


def test_abc_fields_lyrics_comments_and_key_none():
    original = tune_text("airdsAirs/book3.abc", 135)
    head, body = original.split("K:D\n", 1)
    lines = body.split("\n")
    edited = (head.replace("T:Care thou Canker.", "T:Caf\u00e9 Dvo\u0159\u00e1k")
              + "C:Anon\nW:words\n%%MIDI program 40\nK:none\n" + lines[0] + "  % bar 1\nw: la la la\n"
              + "\n".join(lines[1:]) + "\nN:after the blank line\n")
    text = abc_tok.normalize_abc(edited)
    assert text.isascii()
    assert "K:C\n" in text and "K:none" not in text
    for gone in ("Caf", "Anon", "words", "program 40", "bar 1", "la la", "after the blank"):
        assert gone not in text
    assert _render(abc_tok.playable(text))  # readers accept it


def test_abc_unequal_voices_are_rejected_with_a_reason():
    original = tune_text("airdsAirs/book3.abc", 135)
    # Voice 2 loses its first bar.
    broken = original.replace("[V:2] f3g f2f2  |", "[V:2] ", 1)
    counts = voice_bar_counts(broken)
    assert counts == {"1": 8, "2": 7, "3": 8}
    with pytest.raises(AbcError) as error:
        abc_tok.normalize_abc(broken)
    assert error.value.reason == "unequal_bar_counts" and "2=7" in str(error.value)
    assert unequal_voices_reason(counts) and unequal_voices_reason({"1": 8}) is None


def test_abc_bars_are_cut_at_every_kind_of_bar_line():
    bars = split_bars('|: "Am"A2 !trill!B| [K:G]c2 |1 d :|2 e |] [1 f "a|b" ||')
    assert bars == ['|: "Am"A2 !trill!B|', "[K:G]c2|1", "d:|2", "e|]", '[1 f "a|b"||']


def test_abc_characters_and_bpe_round_trip():
    texts = []
    for tune in split_tunes((M21 / "nottingham-dataset/reelsa-c.abc").read_bytes())[:2]:
        texts.append(abc_tok.normalize_abc(decode_abc(tune.content)))
    for path in sorted(M21.glob("essenFolksong/*.abc"))[:2]:
        texts += [abc_tok.normalize_abc(decode_abc(t.content)) for t in split_tunes(path.read_bytes())[:60]]
    chars = abc_tok.AbcCodec(4)
    for text in texts:
        assert chars.decode(chars.encode(text)) == text
    train, held_out = texts[:100], texts[100:]
    bpe = abc_tok.train_bpe(train, 400)
    assert bpe.to_str() == abc_tok.train_bpe(train, 400).to_str()  # deterministic
    codec = abc_tok.AbcCodec(4, bpe)
    assert len(CHARS := abc_tok.CHARS) < codec.size - 4 <= 400 and all(c in bpe.get_vocab() for c in CHARS)
    for text in held_out:
        ids = codec.encode(text)
        assert codec.decode(ids) == text
        assert len(ids) < len(chars.encode(text))


def test_abc_chunks_repeat_the_header_and_play():
    tok = build_tokenizer("abc", TokenizeSettings(max_seq_len=160), {})
    tune = split_tunes((M21 / "airdsAirs/book3.abc").read_bytes())[134].content
    chunks = tok.encode_music(tune, "abc")
    assert len(chunks) >= 2 and all(len(c) <= tok.max_tokens_per_chunk for c in chunks)
    whole = abc_tok.normalize_tune(decode_abc(tune))
    bars = []
    for chunk in chunks:
        text = tok.decode(chunk).decode()
        assert text.startswith("X:1\n" + "\n".join(whole.header) + "\n")
        bars += text.split("\n")[1 + len(whole.header) : -1]
        assert _render(text)
    assert bars == whole.bars
    with pytest.raises(TokenizeError) as error:
        tok.encode_music(to_midi(tune, "abc"), "midi")
    assert error.value.reason == "not_abc"


def test_musicxml_scores_tokenize_as_abc_through_xml2abc():
    tok = build_tokenizer("abc", TokenizeSettings(max_seq_len=4096), {})
    chorale = (M21 / "bach/bwv10.7.mxl").read_bytes()
    [chunk] = tok.encode_music(chorale, "musicxml")
    text = tok.decode(chunk).decode()
    header, bars = text.split("\n[V:1]", 1)[0], text.split("\n")
    assert "K:" in header and header.count("V:") == 4  # the four voices declared, then bar lines
    lines = [line for line in bars if line.startswith("[V:1]")]
    assert lines and all(line.count("[V:") == 4 for line in lines)  # every line holds bar i of each voice
    assert _render(text)


# --------------------------------------------------------------------------------------------------
# Conditions and prompts


# Label values as a corpus pass counts them; some are outside the labels' closed vocabularies.
COUNTS = {
    "period": {"Baroque": 3, "Romantic": 2},
    "composer": {"Fr\u00e9d\u00e9ric Chopin": 2, "Johann Sebastian Bach": 3, "Hildegard Zwilling": 1},
    "instrumentation": {"Keyboard": 4},
    "genre": {"reel": 7, "hambo": 2},
    "time_signature": {"11/8": 1},
}


def test_conditions_of_a_row_and_of_a_prompt_are_the_same_tokens():
    tok = build_tokenizer("remi", TokenizeSettings(), COUNTS)
    row = {"labels": {"period": "Romantic", "composer": "Fr\u00e9d\u00e9ric Chopin", "instrumentation": "Keyboard"},
           "key": "E minor", "time_signature": "3/4", "tempo_bpm": 80.0, "duration_seconds": 200.0,
           "instruments": ["Acoustic Grand Piano", "Violin"], "has_drums": False}
    from_row = tok.encode_conditions(row)
    prompt = ('period=Romantic composer=Chopin instrumentation=keyboard key="E minor" time_signature=3/4 '
              f'tempo=Andante instruments=violin,piano length="{piece_values(row, 5)["length"]}"')
    assert tok.encode_prompt(prompt) == from_row
    assert len(from_row) == tok.conditions.length == len(FAMILIES) - 1 + 5
    names = tok.token_names()
    assert [names[i] for i in from_row][:4] == ["period=Romantic", "composer=Fr\u00e9d\u00e9ric Chopin",
                                                "instrumentation=Keyboard", "genre=<unknown>"]
    assert all(tok.conditions.offset <= i < tok.vocab_size for i in from_row)


def test_missing_labels_and_columns_give_unknown_tokens():
    tok = build_tokenizer("remi", TokenizeSettings(), COUNTS)
    names = tok.token_names()
    bare = [names[i] for i in tok.encode_conditions({"id": "x"})]
    assert bare == [f"{f}={UNKNOWN}" for f in FAMILIES if f != "instruments"][:7] + [f"instruments={UNKNOWN}"] * 5 + \
        [f"length={UNKNOWN}"]
    some = [names[i] for i in tok.encode_conditions({"labels": None, "key_signature": "D minor", "instruments": [],
                                                      "has_drums": True, "time_signature": "13/16"})]
    assert "key=D minor" in some and "time_signature=<unknown>" in some
    assert some.count("instruments=Drums") == 1 and some.count(f"instruments={NONE}") == 4
    assert tok.encode_prompt("") == tok.encode_conditions({})


def test_vocabulary_holds_corpus_values_in_a_fixed_order():
    a = ConditionVocab.build(COUNTS, 5)
    b = ConditionVocab.build({f: dict(reversed(list(v.items()))) for f, v in reversed(list(COUNTS.items()))}, 5)
    assert a.names() == b.names()
    assert {"time_signature=11/8", "genre=hambo", "composer=Hildegard Zwilling"} <= set(a.names())
    rare = ConditionVocab.build(COUNTS, 5, min_count=2).names()
    assert "composer=Hildegard Zwilling" not in rare and "genre=hambo" in rare
    # The labels' closed vocabularies are there whatever the corpus holds.
    empty = ConditionVocab.build({}, 5).names()
    assert {"period=Classical", "composer=Wolfgang Amadeus Mozart", "tempo=Presto", "key=F# minor",
            "instruments=Violin", "instruments=Drums"} <= set(empty)
    for family in FAMILIES:
        assert a.values[family][0] == UNKNOWN


@pytest.mark.parametrize("prompt,message", [
    ("colour=red", "unknown condition family 'colour'"),
    ("composer=\"Taylor Swift\"", "composer='Taylor Swift' is not in the vocabulary"),
    ("composer=Christoph", "ambiguous"),
    ('key="H minor"', "key='H minor'"),
    ("tempo=Andantino", "nearest: Andante"),
    ('key="E minor', "quote"),
    ("period=Baroque period=Romantic", "given twice"),
    ("instruments=piano,kazoo", "instruments='kazoo'"),
    ("period=Baroque Romantic", "'Romantic' is not family=value"),
    ("Romantic kazoo", "cannot read 'kazoo'"),  # without an '=' a prompt is English (prompts.py)
])
def test_prompt_errors_name_the_family_and_value(prompt, message):
    tok = build_tokenizer("remi", TokenizeSettings(), COUNTS)
    with pytest.raises(ValueError, match=re.escape(message)):
        tok.encode_prompt(prompt)


def test_tokenizer_saves_and_loads(tmp_path):
    tok = build_tokenizer("remi", TokenizeSettings(grid=8, durations=[[0, 4, 8], [4, 8, 2]]), COUNTS)
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.token_names() == tok.token_names() and again.vocab_size == tok.vocab_size
    assert (again.pad_id, again.bos_id, again.eos_id, again.sep_id) == (0, 1, 2, 3)
    assert again.kind == "remi" and again.suffix == ".mid" and again.condition_families == list(FAMILIES)
    assert again.encode_prompt("composer=Chopin") == tok.encode_prompt("composer=Chopin")
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    assert data["conditions"]["values"]["composer"][0] == UNKNOWN and data["max_seq_len"] == 1024
    midi = PRIMITIVE[8].read_bytes()
    chunks = again.encode_music(midi, "midi")
    assert symusic.Score.from_midi(again.decode(np.concatenate(chunks))).note_num() == \
        symusic.Score.from_midi(midi).note_num()
    with pytest.raises(TokenizeError) as error:
        again.encode_music(b"MThd garbage", "midi")
    assert error.value.reason == "bad_midi"
    # the rejects table stores reason and detail apart: the detail is symusic's message alone
    assert error.value.detail and not error.value.detail.startswith("bad_midi")
    far = symusic.Score(1)  # one tick per quarter: the latest time MIDI can say is far past the limit
    track = symusic.Track("x", 0, False)
    track.notes.append(symusic.Note(2**28 - 1, 1, 60, 80))
    far.tracks.append(track)
    with pytest.raises(TokenizeError) as error:
        again.encode_music(far.dumps_midi(), "midi")
    assert error.value.reason == "too_long"
    assert isinstance(Tokenizer.from_json(data), Tokenizer)


def test_augmentation_moves_notes_tempo_and_their_conditions_together():
    """Real pieces (a chorale with a drum kit added, an Irish tune) transposed and tempo-shifted:
    decoded, the pitched notes move by the semitones, drums stay, tempos scale by 1.04 per bin,
    and the key and tempo conditions name the shifted music."""
    import pyarrow as pa

    from symcorpus.music.keys import abc_key
    from symcorpus.music.labels import tempo_word
    from symcorpus.tokenizers.augment import Augmentation

    tok = build_tokenizer("remi", TokenizeSettings(max_seq_len=100_000), COUNTS)
    chorale = symusic.Score.from_midi(to_midi((M21 / "bach/bwv1.6.mxl").read_bytes(), "musicxml", "bwv1.6.mxl"))
    drums = symusic.Track("kit", 0, True)
    drums.notes = symusic.Note.from_numpy(np.arange(0, 9600, 240, dtype=np.int32), np.full(40, 60, np.int32),
                                          np.full(40, 42, np.int8), np.full(40, 90, np.int8))
    chorale.tracks.append(drums)
    tune = (M21 / "essenFolksong/irl.abc").read_text(encoding="latin-1")
    tune = "X:" + tune.split("\nX:")[3]
    pieces = [(chorale.dumps_midi(), "F major", 120.0), (to_midi(tune.encode(), "abc", "irl.abc"), "G major", 100.0)]
    rows = [tok.encode_music(bytes(midi), "midi")[0] for midi, _, _ in pieces]
    conds = [tok.encode_conditions({"key": key, "tempo_bpm": bpm, "time_signature": "4/4"}) for _, key, bpm in pieces]
    tokens = pa.array([r.tolist() for r in rows], pa.list_(pa.int32()))
    conditions = pa.array(conds, pa.list_(pa.int32()))
    aug = Augmentation.of(tok, 5, 8)
    names = tok.token_names()

    def notes(row):
        score = symusic.Score.from_midi(tok.decode(np.asarray(row)))
        out = {True: [], False: []}
        for track in score.tracks:
            out[track.is_drum] += sorted((n.time, n.pitch) for n in track.notes)
        return sorted(out[False]), sorted(out[True]), [t.qpm for t in score.tempos]

    def condition(row, family):
        return [names[i].split("=", 1)[1] for i in row if names[i].startswith(family + "=")][0]

    for semis, bins in [(3, 4), (-5, -8), (0, 0), (2, 0)]:
        new_tokens, new_conditions = aug.apply(tokens, conditions, np.array([semis, semis]), np.array([bins, bins]))
        for i, (_, key, _) in enumerate(pieces):
            pitched, drum, tempos = notes(tokens[i].as_py())
            pitched2, drum2, tempos2 = notes(new_tokens[i].as_py())
            assert len(pitched) > 20 and tempos
            assert [(t, p + semis) for t, p in pitched] == pitched2
            assert drum == drum2 and (i == 1 or len(drum) == 40)
            assert tempos2 == pytest.approx([q * 1.04 ** bins for q in tempos], rel=0.02)
            new_cond = new_conditions[i].as_py()
            moved, was = abc_key(condition(new_cond, "key")), abc_key(key)
            assert (moved.tonic, moved.minor) == ((was.tonic + semis) % 12, was.minor)
            want_tempo = condition(conditions[i].as_py(), "tempo") if bins == 0 else tempo_word(tempos2[0])
            assert condition(new_cond, "tempo") == want_tempo
            assert condition(new_cond, "time_signature") == "4/4"

    # A shift that would leave 0..127 leaves the pitches alone; an unknown key stays unknown.
    same, cond = aug.apply(tokens, pa.array([tok.encode_conditions({})] * 2, pa.list_(pa.int32())),
                           np.array([127, -127]), np.array([0, 0]))
    assert same.to_pylist() == tokens.to_pylist()
    assert all(condition(c, "key") == UNKNOWN for c in cond.to_pylist())
    with pytest.raises(ValueError, match="need REMI tokens"):
        Augmentation.of(build_tokenizer("abc", TokenizeSettings(max_seq_len=160), {}), 5, 8)
    shifts = aug.draw(np.linspace(0, 0.999, 1000), np.linspace(0, 0.999, 1000))
    assert shifts[0].min() == -5 and shifts[0].max() == 5 and shifts[1].min() == -8 and shifts[1].max() == 8


BLOCK_SYMUSIC = """
import importlib, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("symusic", "music21"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
for name in sys.argv[1:]:
    importlib.import_module(name)
from symcorpus.config import TokenizeSettings
from symcorpus.tokenizers import build_tokenizer
from symcorpus.tokenizers.conditions import FAMILIES
assert build_tokenizer("abc", TokenizeSettings(), {}).kind == "abc"
assert "symusic" not in sys.modules and len(FAMILIES) > 0
"""


def test_conditions_labels_and_the_abc_tokenizer_load_without_symusic():
    """A process that only reads prompts or condition families (config, a trainer) need not load
    symusic; only the REMI tokenizer does."""
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    modules = ["symcorpus.tokenizers.conditions", "symcorpus.tokenizers.special", "symcorpus.tokenizers.abc",
               "symcorpus.music.labels", "symcorpus.music.keys", "symcorpus.music.abc_voices"]
    done = subprocess.run([sys.executable, "-c", BLOCK_SYMUSIC, *modules], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    blocked = subprocess.run([sys.executable, "-c", BLOCK_SYMUSIC, "symcorpus.tokenizers.remi"], env=env,
                             capture_output=True, text=True)
    assert blocked.returncode != 0 and "blocked: symusic" in blocked.stderr  # the blocker does block

