"""`recipe build amd` and `recipe build notagen` end to end on miniature replicas of their corpora
(laid out as each corpus publishes them): the corpus version with its join report, the subsets,
token shards, and a few training steps on them. The NotaGen corpora are read from a real S3-API
server on 127.0.0.1, through the Spark workers."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from symcorpus.recipes import build_recipe, load_recipe, recipe_settings, recipe_sources
from symcorpus.steps import run_local_sources
from symcorpus.testing import replicas as r
from symcorpus.testing.s3 import s3, s3_server  # noqa: F401  (fixtures)
from symcorpus.tokenizers import load_tokenizer
from symcorpus.train import commands

from tests.integration.train.test_train import tiny_settings


def settings_for(name: str):
    settings = recipe_settings(load_recipe(name), None)
    settings.spark.master = "local[2]"
    settings.split.train, settings.split.valid, settings.split.test = 0.7, 0.15, 0.15
    return settings





@pytest.fixture(scope="module")
def amd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("amd_root")
    lakh = r.make_lakh(root / "lakh")
    midicaps = r.make_midicaps(root / "midicaps", lakh, archive=False)
    giga = r.make_gigamidi(root / "gigamidi", lakh=lakh)
    aria = r.make_aria_midi(root)
    xmidi = r.make_xmidi(root, midicaps=midicaps)
    return root, lakh, midicaps, giga, aria, xmidi


def test_recipe_amd_end_to_end(spark, amd_root, tmp_path):
    root, lakh, midicaps, giga, aria, xmidi = amd_root
    settings = settings_for("amd")
    recipe = load_recipe("amd")
    result = build_recipe(recipe, str(root), tmp_path / "amd", settings, tokens=tmp_path / "amd-tok")
    manifest = result.build.manifest
    # The join report from Spark is the one the same sources give in one process, and says what was planted.
    sources, _ = recipe_sources(recipe, str(root), settings)
    local = run_local_sources(sources, settings, steps=[])
    assert manifest["joins"] == local.joins and manifest["captions"] == local.captions
    joins = {(j["source"], j["join"]): j for j in manifest["joins"]}
    caps = joins[("lakh", "midicaps")]
    assert (caps["matched"], caps["files_without_metadata"]) == (len(midicaps.locations_with_file),
                                                                 len(midicaps.files_without_caption))
    assert (caps["metadata_without_files"], caps["collided_keys"]) == (1, 1)
    no_drums = len(giga.files) - len(giga.drums_only)
    assert joins[("gigamidi", "gigamidi")]["files"] == no_drums
    assert joins[("aria-midi", "aria_metadata")]["files_without_metadata"] == len(aria.files_without_metadata)
    assert joins[("xmidi", "captions")]["matched"] == len(xmidi.captioned)
    captions = manifest["captions"]
    assert captions["pieces_with_caption"] == len(midicaps.locations_with_file) + len(xmidi.captioned)
    assert captions["shared_across_sources"] == len(xmidi.shared_with_midicaps)
    # Every record accounted for; the Lakh file GigaMIDI also ships is kept once, with its caption.
    counts = manifest["counts"]
    assert counts["input"] == len(lakh.full_files) + no_drums + len(aria.files) + len(xmidi.files)
    assert counts["errors"] == len(lakh.corrupt_files)
    kept = pq.read_table(tmp_path / "amd" / "corpus").to_pylist()
    shared = [row for row in kept if Path(row["path"]).stem == giga.shared_with_lakh[0]]
    assert [(row["source"], bool(row["source_caption"])) for row in shared] == [("lakh", True)]
    # The captioned subset: exactly the kept train pieces that came with a caption.
    planted = {("lakh", loc) for loc in midicaps.locations_with_file}
    planted |= {("xmidi", name) for name in xmidi.captioned}
    expected = sorted(row["id"] for row in kept if row["split"] == "train" and (row["source"], row["path"]) in planted)
    assert result.subsets["captioned"].read_text().split() == expected
    # Token shards of every kept piece, and a model trains on them.
    assert sum(c["pieces"] for c in result.tokens["counts"].values()) == counts["kept"]
    run = commands.pretrain(tmp_path / "amd-tok", "amd", no_ray=True, settings=tiny_settings(
        tmp_path / "runs", max_steps=4, log_every=2, checkpoint_every=4, eval_batches=1))
    assert Path(run.checkpoint).exists()


def test_recipe_notagen_end_to_end_from_object_storage(spark, s3, tmp_path):
    pdmx = r.make_pdmx(tmp_path / "local")
    fs = s3.fsspec_filesystem()
    for path in sorted(p for p in pdmx.root.rglob("*") if p.is_file()):
        fs.pipe(f"{s3.bucket}/root/PDMX/{path.relative_to(pdmx.root).as_posix()}", path.read_bytes())
    settings = settings_for("notagen")
    result = build_recipe(load_recipe("notagen"), s3.uri("root"), tmp_path / "notagen", settings,
                          tokens=tmp_path / "notagen-tok")
    manifest = result.build.manifest
    [join] = manifest["joins"]
    assert (join["files"], join["matched"]) == (len(pdmx.mxl_files), pdmx.rows - len(pdmx.rows_without_mxl))
    assert join["examples"]["files_without_metadata"] == [m[2:] for m in pdmx.mxl_without_row]
    assert join["examples"]["metadata_without_files"] == [m[2:] for m in pdmx.rows_without_mxl]
    assert manifest["sources"][0]["uri"] == s3.uri("root/PDMX")
    kept = pq.read_table(tmp_path / "notagen" / "corpus").to_pylist()
    assert {row["format"] for row in kept} == {"musicxml"}
    assert all(row["license"] == r.PUBLIC_DOMAIN[0] for row in kept if row["source_meta"])
    # MusicXML tokenizes as NotaGen's interleaved ABC, the prompt lines first.
    tok = load_tokenizer(tmp_path / "notagen-tok")
    assert result.tokens["rejected"] == 0 and sum(c["pieces"] for c in result.tokens["counts"].values()) == len(kept)
    labels = {row["id"]: row["labels"] for row in kept}
    for row in pq.read_table(tmp_path / "notagen-tok" / "train").to_pylist():
        lines = tok.decode(row["tokens"]).decode().split("\n")
        assert lines[0] == "X:1" and all(line.startswith("%") for line in lines[1:4])
        assert lines[1] == "%" + (labels[row["id"]]["period"] or "Unknown")
        assert any(line.startswith("[V:1]") for line in lines[4:])
    run = commands.pretrain(tmp_path / "notagen-tok", "notagen", no_ray=True, settings=tiny_settings(
        tmp_path / "runs", max_steps=4, log_every=2, checkpoint_every=4, eval_batches=1))
    assert Path(run.checkpoint).exists()
    assert json.loads((tmp_path / "notagen-tok" / "manifest.json").read_text())["params"]["abc_style"] == "notagen"
