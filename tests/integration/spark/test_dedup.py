"""Deduplication in the build, on families of variants of real tunes and on music21's own corpus."""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import symusic

from symcorpus.music.fingerprint import jaccard, shingles
from symcorpus.music.notes import canonical_notes
from symcorpus.testing.variants import MUST_MATCH, retick, scale_tempo, transpose
from symcorpus.spark.build import build, restage
from symcorpus.spark.split import split_of

from tests.conftest import make_settings

FAMILY_VARIANTS = {
    "copy.mid": lambda m, rng: m,
    "transposed.mid": lambda m, rng: transpose(m, 4),
    "slower.mid": lambda m, rng: scale_tempo(m, 0.75),
    "reticked.mid": lambda m, rng: retick(m, 192),
    "dropped.mid": MUST_MATCH["notes_dropped_5pct"],
    "trimmed.mid": MUST_MATCH["trimmed_10pct"],
}
N_FAMILIES = 4


@pytest.fixture(scope="module")
def families(midi_from_abc, tmp_path_factory) -> Path:
    """Four families (a tune and six variants) and eight unrelated tunes, as files."""
    root = tmp_path_factory.mktemp("families")
    rng = np.random.default_rng(5)
    for f, (_, midi) in enumerate(midi_from_abc[:N_FAMILIES]):
        folder = root / f"family{f}"
        folder.mkdir()
        (folder / "original.mid").write_bytes(midi)
        for name, make in FAMILY_VARIANTS.items():
            (folder / name).write_bytes(make(midi, rng))
    for name, midi in midi_from_abc[N_FAMILIES:]:
        (root / "other" / name).parent.mkdir(exist_ok=True)
        (root / "other" / name).write_bytes(midi)
    return root


@pytest.fixture(scope="module")
def deduped(spark, families, tmp_path_factory):
    return build([str(families)], tmp_path_factory.mktemp("dedup") / "v", make_settings())


def tables(out: Path) -> tuple[list[dict], list[dict]]:
    corpus = pq.read_table(out / "corpus").to_pylist()
    duplicates = pq.read_table(out / "duplicates").to_pylist()
    return corpus, duplicates


def cluster_of(out: Path) -> dict[str, str]:
    corpus, duplicates = tables(out)
    return {**{r["path"]: r["dedup_cluster"] for r in corpus}, **{r["path"]: r["cluster_id"] for r in duplicates}}


def test_each_family_is_one_cluster_and_unrelated_tunes_stay_apart(deduped, midi_from_abc):
    cluster = cluster_of(deduped.out)
    for f in range(N_FAMILIES):
        members = {cluster[f"family{f}/{name}"] for name in ["original.mid", *FAMILY_VARIANTS]}
        assert len(members) == 1, f"family {f} split over {len(members)} clusters"
    others = [cluster[f"other/{name}"] for name, _ in midi_from_abc[N_FAMILIES:]]
    family_clusters = {cluster[f"family{f}/original.mid"] for f in range(N_FAMILIES)}
    assert len(set(others)) == len(others) and not set(others) & family_clusters
    assert deduped.counts["kept"] == N_FAMILIES + len(others)
    assert deduped.counts["duplicates"] == N_FAMILIES * len(FAMILY_VARIANTS)


def test_duplicate_rows_name_their_representative_and_kind(deduped, families):
    corpus, duplicates = tables(deduped.out)
    kept = {r["id"]: r for r in corpus}
    for dup in duplicates:
        rep = kept[dup["representative_id"]]
        assert dup["cluster_id"] == rep["dedup_cluster"] == rep["id"]
        if dup["kind"] == "exact":
            assert dup["id"] == rep["id"] and dup["similarity"] == 1.0
        elif dup["kind"] == "notes":
            assert dup["id"] != rep["id"] and dup["similarity"] == 1.0
        else:
            # Different notes; the shingle *sets* can still be equal (a trimmed tune that repeats).
            assert dup["kind"] == "near" and 0 < dup["similarity"] <= 1
    # The representative is the most complete member: no duplicate has more notes than it.
    for dup in duplicates:
        notes = symusic.Score(str(families / dup["path"])).note_num()
        assert notes <= kept[dup["representative_id"]]["n_notes"], dup["path"]
    family_kind = {d["path"].split("/")[1]: d["kind"] for d in duplicates if d["path"].startswith("family0/")}
    rep_name = next(r["path"].split("/")[1] for r in corpus if r["path"].startswith("family0/"))
    same_notes = {"original.mid", "copy.mid", "transposed.mid", "slower.mid", "reticked.mid"}
    assert rep_name in same_notes  # the edited variants have fewer notes
    for name in same_notes - {rep_name}:
        twin = {rep_name, name} == {"original.mid", "copy.mid"}
        assert family_kind[name] == ("exact" if twin else "notes"), name
    assert family_kind["dropped.mid"] == family_kind["trimmed.mid"] == "near"


def test_splits_follow_clusters_and_no_similar_pair_crosses_splits(deduped, families):
    corpus, _ = tables(deduped.out)
    settings = make_settings()
    for row in corpus:
        assert row["split"] == split_of(row["dedup_cluster"], settings.split.ratios(), settings.split.seed)
    assert len({r["dedup_cluster"] for r in corpus}) == len(corpus)
    sets = {r["path"]: shingles(canonical_notes(symusic.Score.from_midi(r["content"]))) for r in corpus}
    split = {r["path"]: r["split"] for r in corpus}
    for a, b in itertools.combinations(sets, 2):
        if split[a] != split[b]:
            assert jaccard(sets[a], sets[b]) < settings.dedup.threshold, (a, b)


def test_manifest_reports_dedup_and_adds_up(deduped):
    manifest = json.loads((deduped.out / "manifest.json").read_text())
    c = manifest["counts"]
    assert c["input"] == c["kept"] + c["duplicates"] + c["rejected"] + c["errors"]
    by_kind = manifest["dedup"]["duplicates_by_kind"]
    assert sum(by_kind.values()) == c["duplicates"]
    assert manifest["dedup"]["near_verified_pairs"] >= 1


def test_dedup_alone_on_a_published_version(spark, families, tmp_path):
    exact_only = make_settings()
    exact_only.dedup.levels = ["exact"]
    first = build([str(families)], tmp_path / "exact", exact_only)
    assert first.counts["duplicates"] == N_FAMILIES  # only the byte copies
    again = restage(first.out, tmp_path / "all", make_settings())
    assert again.counts["input"] == first.counts["input"]
    assert again.counts["duplicates"] == N_FAMILIES * len(FAMILY_VARIANTS)
    corpus, duplicates = tables(again.out)
    kept_ids = {r["id"] for r in corpus}
    assert all(d["representative_id"] in kept_ids for d in duplicates)
    assert cluster_of(again.out).keys() == cluster_of(first.out).keys()


# The same tunes printed in two of music21's collections (found by bench/music21_duplicates.py).
CROSS_COLLECTION = [
    ("oneills1850/1116-1135_mh.abc", 5, "ryansMammoth/TeaInTheMorningJig.abc", 1),  # Tea in the Morning
    ("oneills1850/0981-1000.abc", 14, "ryansMammoth/GreenSleevesJig.abc", 1),  # Green Sleeves
    ("oneills1850/1476-1555.abc", 20, "ryansMammoth/WalkerStreetReel.abc", 1),  # Walker Street
]
# Other tunes of the same O'Neill's file, printed once in music21's corpus.
SINGLES = [("oneills1850/1476-1555.abc", i) for i in (1, 2, 3, 5, 6, 9)]


def test_real_duplicates_across_music21_collections(spark, tmp_path):
    from symcorpus.music.abc_text import split_tunes

    from tests.conftest import M21

    src = tmp_path / "tunes"
    names = {}
    for rel, index in [t for pair in CROSS_COLLECTION for t in (pair[:2], pair[2:])] + SINGLES:
        tune = split_tunes((M21 / rel).read_bytes())[index - 1]
        name = f"{rel.replace('/', '_')}_{index}.abc"
        (src / name).parent.mkdir(exist_ok=True)
        (src / name).write_bytes(tune.content)
        names[(rel, index)] = f"{name}#1"
    result = build([str(src)], tmp_path / "out", make_settings())
    cluster = cluster_of(result.out)
    for a_rel, a_i, b_rel, b_i in CROSS_COLLECTION:
        assert cluster[names[(a_rel, a_i)]] == cluster[names[(b_rel, b_i)]], (a_rel, b_rel)
    singles = [cluster[names[s]] for s in SINGLES]
    pairs = {cluster[names[p[:2]]] for p in CROSS_COLLECTION}
    assert len(set(singles)) == len(singles) and not set(singles) & pairs
    assert result.counts["duplicates"] == len(CROSS_COLLECTION)


def test_dedup_in_the_driver_finds_what_spark_finds(spark, families, tmp_path, monkeypatch):
    """The whole dedup in the driver (spark/dedup_driver.py), and the near level's LSH alone there
    (spark/lsh.py), give the clusters, representatives, kinds, similarities and pair counts that
    Spark's jobs give."""
    from pyspark.sql import functions as F

    from symcorpus.spark import dedup_driver, lsh
    from symcorpus.spark.build import list_sources, pieces_frame
    from symcorpus.spark.dedup import LIGHT_COLUMNS, SIGNATURE_COLUMNS, dedup_rows, deduplicate
    from symcorpus.spark.session import NoProgress

    settings = make_settings()
    settings.dedup.max_bucket_size = 2  # a family's buckets hold up to 7 pieces: stars too, both ways
    units = list_sources([str(families)], settings, NoProgress()).all_units()
    seen = dedup_rows(pieces_frame(spark, units, settings, stage=tmp_path / "stage")
                      .withColumn("node", F.xxhash64("source", "path"))).cache()
    light = seen.select(*LIGHT_COLUMNS)
    rows = seen.count()

    def clusters(rows: int | None) -> tuple[list, dict]:
        result = deduplicate(light, seen.select(*SIGNATURE_COLUMNS), settings.dedup, rows)
        return sorted(tuple(r) for r in result.assignment.collect()), result.stats

    in_driver, driver_stats = clusters(rows)
    fetch = functools.partial(lsh.fetch_signatures, spark, seen.select(*SIGNATURE_COLUMNS))
    table, _ = dedup_driver.assign(light.toArrow(), fetch, settings.dedup)  # what `rows` made it run
    assert sorted(tuple(r.values()) for r in table.to_pylist()) == in_driver
    lsh_in_driver, lsh_stats = clusters(None)
    monkeypatch.setattr(lsh, "DRIVER_MAX_BAND_VALUES", 0)
    in_spark, spark_stats = clusters(rows)  # too many band values for the driver: Spark's jobs
    assert in_driver == lsh_in_driver == in_spark
    assert driver_stats == lsh_stats == spark_stats and driver_stats["near_verified_pairs"] > 0
    kinds = {r[9] for r in in_driver}  # (node, id, source, path, format, size_bytes, cluster_id, representative_id,
    assert kinds == {None, "exact", "notes", "near"}  #  is_representative, kind, similarity, passes): every kind
