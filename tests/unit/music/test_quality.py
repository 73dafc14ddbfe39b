"""Quality rules on real tunes and on pieces made to break one rule each."""

from __future__ import annotations

from pathlib import Path

import pytest
import symusic

from symcorpus.music.abc_text import decode_abc, split_tunes
from symcorpus.music.abc_voices import voice_bar_counts
from symcorpus.music.convert import to_midi
from symcorpus.music.features import piece_features
from symcorpus.music.notes import note_table, summarize
from symcorpus.music.parse import Limits, parse_piece
from symcorpus.music.quality import DEFAULT_RULES, OFF_BY_DEFAULT, RULE_CODES, evaluate, rules_for
from symcorpus.config import SettingsError, load_settings

from tests.conftest import M21
from tests.unit.music.musical_rejects import UNEQUAL_VOICES_ABC, musical_rejects

REPO = Path(__file__).resolve().parents[3]


def fields_of(data: bytes, fmt: str = "midi") -> dict:
    piece = parse_piece(data, fmt, Limits())
    table = note_table(piece.score)
    fields = {**summarize(piece, table), **piece_features(piece.score, table)}
    if fmt == "abc":
        fields["abc_voice_bars"] = voice_bar_counts(decode_abc(data))
    return fields


def test_every_rule_has_defaults_and_a_made_piece_that_breaks_it():
    made = musical_rejects()
    assert set(DEFAULT_RULES) == set(RULE_CODES)
    active = rules_for({code: True for code in OFF_BY_DEFAULT})
    for code, data in made.items():
        verdict = evaluate(fields_of(data), active)
        assert verdict.reason == code, (code, verdict)
        assert verdict.detail and verdict.quality_score is None
    empty = symusic.Score(480)
    empty.tracks.append(symusic.Track(program=0))
    assert evaluate(fields_of(empty.dumps_midi()), active).reason == "no_pitched_notes"
    verdict = evaluate(fields_of(UNEQUAL_VOICES_ABC, "abc"), active)
    assert verdict.reason == "abc_unequal_voices"
    assert "=8" in verdict.detail and "=6" in verdict.detail  # both voices' bar counts are named


def test_real_tunes_pass_with_a_score_in_range():
    tunes = split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[:40]
    active = rules_for({})
    scores = []
    for tune in tunes:
        verdict = evaluate(fields_of(to_midi(tune.content, "abc")), active)
        assert verdict.reason is None, (tune.index, verdict)
        scores.append(verdict.quality_score)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len(set(scores)) > 5  # it tells pieces apart


def test_thresholds_and_overrides_change_the_verdict():
    data = musical_rejects()["too_few_notes"]
    fields = fields_of(data)
    assert evaluate(fields, rules_for({"too_few_notes": {"min_notes": 4}})).reason != "too_few_notes"
    assert evaluate(fields, rules_for({"too_few_notes": False})).reason != "too_few_notes"
    strict = rules_for({}, {"too_few_notes": {"min_notes": 500}})
    real = fields_of(to_midi(split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[0].content, "abc"))
    assert evaluate(real, strict).reason == "too_few_notes"
    with pytest.raises(ValueError, match="unknown filter rule"):
        rules_for({"too_few_note": {}})
    with pytest.raises(ValueError, match="unknown threshold"):
        rules_for({"too_few_notes": {"min_note": 3}})


def test_a_rule_off_by_default_runs_only_when_named():
    coarse = fields_of(musical_rejects()["tpq_below_grid"])
    assert coarse["ticks_per_beat"] == 2
    assert "tpq_below_grid" not in rules_for({}) and evaluate(coarse, rules_for({})).reason is None
    assert evaluate(coarse, rules_for({"tpq_below_grid": True})).reason == "tpq_below_grid"
    verdict = evaluate(coarse, rules_for({}, {"tpq_below_grid": {"min_tpq": 4}}))
    assert verdict.reason == "tpq_below_grid" and verdict.detail == "2 ticks per quarter, fewer than the grid's 4 steps"
    assert evaluate(coarse, rules_for({"tpq_below_grid": {"min_tpq": 2}})).reason is None  # the grid fits
    assert "tpq_below_grid" not in rules_for({"tpq_below_grid": True}, {"tpq_below_grid": False})
    ordinary = fields_of(to_midi(split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[0].content, "abc"))
    assert evaluate(ordinary, rules_for({"tpq_below_grid": {"min_tpq": 12}})).reason is None  # abc2midi: 480
    assert "tpq_below_grid" not in load_settings(REPO / "params.yaml").filter.active(None)


def test_params_file_rules_are_checked(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("filter:\n  sources:\n    mine: {too_long: {max_secs: 3}}\n")
    with pytest.raises(SettingsError, match="max_secs"):
        load_settings(bad)
    good = tmp_path / "good.yaml"
    good.write_text("filter:\n  rules: {too_few_notes: {min_notes: 30}}\n  sources:\n    mine: {too_few_notes: false}\n")
    settings = load_settings(good)
    assert settings.filter.active("other")["too_few_notes"] == {"min_notes": 30}
    assert "too_few_notes" not in settings.filter.active("mine")
