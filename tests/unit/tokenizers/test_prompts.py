"""English prompts onto the condition vocabulary. The phrasings below were written for this test by
hand, not generated from the caption grammar, and each names the exact condition set it means."""

from __future__ import annotations

import pytest

from symcorpus.tokenizers.conditions import ConditionVocab
from symcorpus.tokenizers.prompts import parse_english, prompt_values

VOCAB = ConditionVocab.build({}, max_instruments=5)  # the values every vocabulary holds

HELD_OUT = [
    ("a lively reel in D major for fiddle",
     {"genre": "reel", "key": "D major", "tempo": "Vivace", "instruments": ["Fiddle"]}),
    ("Slow air in E minor for tin whistle and harp, 3/4 time",
     {"genre": "air", "key": "E minor", "tempo": "Adagio", "time_signature": "3/4",
      "instruments": ["Whistle", "Orchestral Harp"]}),
    ("Write me a brisk jig in 6/8 for accordion",
     {"genre": "jig", "time_signature": "6/8", "tempo": "Allegro", "instruments": ["Accordion"]}),
    ("a gentle lullaby in F major at 60 bpm",
     None),  # "gentle" is no tempo word: the error names it
    ("a lullaby in F major at 60 bpm",
     {"genre": "lullaby", "key": "F major", "tempo": "Largo"}),
    ("Baroque fugue in G minor by Bach for organ",
     {"period": "Baroque", "genre": "fugue", "key": "G minor", "composer": "Johann Sebastian Bach",
      "instruments": ["Church Organ"]}),
    ("a short hornpipe in B-flat major, common time",
     {"length": "short piece", "genre": "hornpipe", "key": "Bb major", "time_signature": "4/4"}),
    ("Chopin nocturne in C# minor for solo piano, very slow",
     {"composer": "Frédéric Chopin", "genre": "nocturne", "key": "C# minor", "tempo": "Largo",
      "instruments": ["Acoustic Grand Piano"]}),
    ("a Renaissance motet for choir",
     {"period": "Renaissance", "genre": "motet", "instrumentation": "Choral"}),
    ("polka in A for banjo and guitar at 130 bpm",
     {"genre": "polka", "key": "A major", "tempo": "Allegro",
      "instruments": ["Banjo", "Acoustic Guitar (nylon)"]}),
    ("a march in 2/4 for trumpet, trombone and drums, Allegro",
     {"genre": "march", "time_signature": "2/4", "tempo": "Allegro", "instruments": ["Trumpet", "Trombone", "Drums"]}),
    ("a long Romantic-era waltz in E flat major",
     {"length": "long piece", "period": "Romantic", "genre": "waltz", "key": "Eb major"}),
    ("string quartet in C minor, Andante",
     {"key": "C minor", "tempo": "Andante", "instruments": ["Violin", "Viola", "Cello"]}),
    ("a minuet by Mozart in 3/4 for harpsichord",
     {"genre": "minuet", "composer": "Wolfgang Amadeus Mozart", "time_signature": "3/4",
      "instruments": ["Harpsichord"]}),
]


def canonical(values: dict) -> dict:
    return {k: sorted(v) if isinstance(v, list) else v for k, v in values.items()}


@pytest.mark.parametrize("text,expected", [h for h in HELD_OUT if h[1] is not None], ids=lambda x: str(x)[:30])
def test_held_out_phrasings_map_to_their_exact_condition_sets(text, expected):
    assert canonical(parse_english(VOCAB, text)) == canonical(expected)


def test_unknown_words_are_named_in_a_one_line_error():
    with pytest.raises(ValueError) as e:
        parse_english(VOCAB, "a gentle lullaby in F major at 60 bpm")
    assert "'gentle'" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError) as e:
        parse_english(VOCAB, "an Irish reel for fiddle with sparkle")
    assert "'Irish'" in str(e.value) and "'sparkle'" in str(e.value)
    assert "'reel'" not in str(e.value) and "'fiddle'" not in str(e.value)


def test_two_values_for_one_family_are_an_error():
    with pytest.raises(ValueError, match="two values for tempo: 'lively' .Vivace. and 'slow' .Adagio."):
        parse_english(VOCAB, "a lively slow reel")
    with pytest.raises(ValueError, match="key"):
        parse_english(VOCAB, "a reel in D major or G major")


def test_both_syntaxes_give_the_same_tokens():
    english = prompt_values(VOCAB, "a lively reel in D major for fiddle")
    words = prompt_values(VOCAB, 'genre=reel key="D major" tempo=Vivace instruments=Fiddle')
    assert VOCAB.encode_values(english) == VOCAB.encode_values(words)
