"""Filter and annotate inside `symcorpus build`, and alone on a published version."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import symusic

from symcorpus.music.captions import read_caption
from symcorpus.music.quality import OFF_BY_DEFAULT
from symcorpus.spark.build import restage
from symcorpus.spark.build import build
from symcorpus.catalog.export import export_captions

from tests.conftest import M21, make_settings
from tests.unit.music.musical_rejects import UNEQUAL_VOICES_ABC, musical_rejects
from tests.integration.spark.test_build import corpus_rows


@pytest.fixture(scope="module")
def source(tmp_path_factory, midi_from_abc) -> Path:
    root = tmp_path_factory.mktemp("annotated")
    for rel in ["oneills1850/0721-0730.abc", "bach/bwv10.7.mxl", "bach/bwv281.krn"]:
        (root / Path(rel).name).write_bytes((M21 / rel).read_bytes())
    for name, data in midi_from_abc[:6]:
        (root / name).write_bytes(data)
    # A real tune whose file declares a key it is not in: the estimate must not copy it.
    score = symusic.Score.from_midi(midi_from_abc[6][1])
    score.key_signatures.clear()
    score.key_signatures.append(symusic.KeySignature(0, -3, 0))  # Eb major
    (root / "declared_eb.mid").write_bytes(score.dumps_midi())
    made = root / "made"
    made.mkdir()
    for code, data in musical_rejects().items():
        (made / f"{code}.mid").write_bytes(data)
    (made / "unequal.abc").write_bytes(UNEQUAL_VOICES_ABC)
    return root


def with_every_rule():
    """Settings with the rules that are off by default on too, so that each made piece meets its rule."""
    settings = make_settings()
    settings.filter.rules = {code: True for code in OFF_BY_DEFAULT}
    return settings


@pytest.fixture(scope="module")
def built(spark, source, tmp_path_factory):
    return build([str(source)], tmp_path_factory.mktemp("annotated_out") / "v1", with_every_rule())


def test_each_made_piece_is_rejected_with_its_reason(built):
    rejects = {Path(r["path"]).stem: r for r in pq.read_table(built.out / "rejects").to_pylist()}
    for code in list(musical_rejects()) + ["abc_unequal_voices"]:
        name = "unequal" if code == "abc_unequal_voices" else code
        assert rejects[name]["reason"] == code
        assert rejects[name]["detail"]
    counts = built.counts
    assert counts["rejected"] == len(rejects)
    assert counts["input"] == counts["kept"] + counts["duplicates"] + counts["rejected"] + counts["errors"]
    assert sum(c.get("rejected", 0) for c in built.by_format.values()) == counts["rejected"]


def test_every_kept_piece_is_annotated(built):
    rows = corpus_rows(built.out)
    assert rows
    for row in rows:
        assert row["key"] and row["key_confidence"] is not None
        assert 0.0 <= row["quality_score"] <= 1.0
        assert row["features"]["n_bars"] > 0
        assert row["labels"]["length_class"]
        if row["format"] == "abc":  # abc2midi's default 120 is not a declared tempo
            assert bool(row["labels"]["tempo_word"]) == bool(row["abc"].get("tempo"))
        elif row["format"] == "midi":  # these files carry a tempo event
            assert row["labels"]["tempo_word"]
        assert row["caption"] and row["caption"][0].isupper()
        tags = json.loads(row["tags"])
        assert read_caption(row["caption"]) == tags
    abc = [r for r in rows if r["format"] == "abc"]
    assert len(abc) >= 8
    for row in abc:  # O'Neill's tunes declare their dance in R:, and have no composer: traditional
        assert row["labels"]["genre"] and row["labels"]["genre"].lower() in row["abc"]["rhythm"].lower()
        assert row["labels"]["period"] == "Traditional"
    chorale = next(r for r in rows if r["format"] == "musicxml")  # parts Soprano, Alto, Tenor, Bass
    assert chorale["labels"]["instrumentation"] == "Choral"
    assert chorale["labels"]["composer"] == "Johann Sebastian Bach" and chorale["labels"]["period"] == "Baroque"


def test_key_is_estimated_not_copied_from_the_declared_signature(built):
    row = next(r for r in corpus_rows(built.out) if r["path"] == "declared_eb.mid")
    assert row["key_signature"] == "Eb major"
    assert row["key"] != "Eb major"


def test_filter_alone_with_stricter_rules(built, tmp_path):
    settings = with_every_rule()
    settings.filter.rules["too_few_notes"] = {"min_notes": 200}
    result = restage(built.out, tmp_path / "v2", settings, stages=("filter",))
    c = result.counts
    assert c["input"] == built.counts["input"]
    assert c["rejected"] > built.counts["rejected"]
    assert c["kept"] < built.counts["kept"]
    rejects = pq.read_table(tmp_path / "v2" / "rejects").to_pylist()
    new = [r for r in rejects if r["reason"] == "too_few_notes" and "200" in r["detail"]]
    assert len(new) == c["rejected"] - built.counts["rejected"]
    assert all(r["n_notes"] >= 200 for r in corpus_rows(tmp_path / "v2"))


def test_export_captions_as_json_lines(built, tmp_path):
    out = tmp_path / "captions.jsonl"
    n = export_captions(built.out, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert n == len(lines) == built.counts["kept"]
    assert all(set(line) == {"location", "id", "caption"} and line["caption"] for line in lines)
    assert out.read_bytes() == (export_captions(built.out, tmp_path / "again.jsonl") and (tmp_path / "again.jsonl").read_bytes())
