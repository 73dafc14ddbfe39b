"""NotaGen's ABC through abctoolkit: MusicXML -> xml2abc -> NotaGen's cleaning -> interleaved bars,
the 15-key transposition, and the prompt lines; bad scores are AbcErrors with a reason."""

from __future__ import annotations

import pytest

from symcorpus.config import TokenizeSettings
from symcorpus.tokenizers import TokenizeError, build_tokenizer
from symcorpus.tokenizers import notagen as ng
from symcorpus.tokenizers.abc import AbcError

from tests.conftest import M21

CHORALE = (M21 / "bach/bwv1.6.mxl").read_bytes()


def test_musicxml_becomes_interleaved_abc_without_titles():
    abc = ng.xml_to_abc(CHORALE)
    assert abc.startswith("X:1\n") and "T:" in abc and "L:1/8" in abc  # xml2abc -d 8: unit length 1/8
    [tune] = ng.notagen_tunes(abc)
    assert not any(line.startswith(("X:", "T:", "C:", "%%MIDI")) for line in tune.header)
    assert [line for line in tune.header if line.startswith("V:")] == [f"V:{i} " + rest for i, rest in
                                                                       enumerate(["treble nm=\"Horn 2\" snm=\"Hn 2\"",
                                                                                  "treble nm=\"Soprano\" snm=\"S\"",
                                                                                  "treble nm=\"Alto\" snm=\"A\"",
                                                                                  "treble-8 nm=\"Tenor\" snm=\"T\"",
                                                                                  "bass nm=\"Bass\" snm=\"B\""], 1)]
    assert tune.key == "F" and tune.bars[0] == "[V:1]F2|[V:2]F2|[V:3]C2|[V:4]A2|[V:5]F,2|"
    # One line per bar, every voice that plays in it; bar-number comments are gone.
    assert all(line.startswith("[V:1]") and "%" not in line for line in tune.bars)


def test_fifteen_keys_and_the_prompt_lines():
    tunes = ng.notagen_tunes(ng.xml_to_abc(CHORALE), all_keys=True)
    keys = [next(line for line in t.header if line.startswith("K:")) for t in tunes]
    assert len(tunes) == 15 and len(set(keys)) == 15 and keys[0] == "K:F"
    assert all(len(t.bars) == len(tunes[0].bars) for t in tunes)
    assert ng.prompt_lines({"period": "Baroque", "composer": "Johann Sebastian Bach", "instrumentation": "Choral"}) \
        == ["%Baroque", "%Bach, Johann Sebastian", "%Choral"]
    assert ng.prompt_lines({"composer": "Ludwig van Beethoven"}) == ["%Unknown", "%Beethoven, Ludwig van", "%Unknown"]


def test_the_tokenizer_puts_the_prompt_before_every_chunk():
    settings = TokenizeSettings(max_seq_len=512, abc_style="notagen", abc_prompt=True)
    tok = build_tokenizer("abc", settings, {})
    labels = {"period": "Baroque", "composer": "Johann Sebastian Bach", "instrumentation": "Choral"}
    chunks = tok.encode_music(CHORALE, "musicxml", labels)
    assert len(chunks) > 1
    for chunk in chunks:
        assert tok.decode(chunk).decode().startswith("X:1\n%Baroque\n%Bach, Johann Sebastian\n%Choral\n")
    tunes = ng.notagen_tunes(ng.xml_to_abc(CHORALE))
    body = [line for c in chunks for line in tok.decode(c).decode().split("\n") if line.startswith("[V:")]
    assert body == tunes[0].bars  # the chunks hold every bar once, in order


def test_bad_scores_are_errors_with_a_reason():
    with pytest.raises(AbcError) as error:
        ng.xml_to_abc(b"<?xml version='1.0'?><score-partwise><part-list>")
    assert error.value.reason == "xml2abc_failed"
    unequal = "X:1\nL:1/8\nM:4/4\nK:C\nV:1\nV:2\nV:1\nCDEF GABc|cBAG FEDC|\nV:2\nC8|\n"
    with pytest.raises(AbcError) as error:
        ng.notagen_tunes(unequal)
    assert error.value.reason == "unequal_bar_counts"
    tok = build_tokenizer("abc", TokenizeSettings(abc_style="notagen"), {})
    with pytest.raises(TokenizeError) as failed:
        tok.encode_music(b"PK\x03\x04 not a zip", "musicxml")
    assert failed.value.reason in ("bad_musicxml", "xml2abc_failed")
