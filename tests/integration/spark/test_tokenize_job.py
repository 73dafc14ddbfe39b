"""`symcorpus tokenize` end to end: a small real corpus built by `build`, tokenized with Spark, read
back with DuckDB and Ray Data."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import symusic

from symcorpus.spark.build import build
from symcorpus.spark.publish import NotACorpusError, OutputExistsError
from symcorpus.schema import TOKENS
from symcorpus.spark.tokenize import tokenize_corpus
from symcorpus.tokenizers import load_tokenizer
from symcorpus.tokenizers.abc import CHARS
from symcorpus.config import TokenizeSettings

from tests.conftest import M21, make_settings

SITE = Path(symusic.__file__).resolve().parents[1]
SPLITS = ("train", "valid", "test")
# Small enough that the longest pieces (test04: ~24,000 tokens) are split many times.
SMALL = TokenizeSettings(max_seq_len=512)


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory, midi_from_abc) -> Path:
    """A published corpus of real pieces: MIDI that packages ship and MIDI made from music21's ABC,
    and ABC tunes (some with several voices; their rendered MIDI is what REMI reads)."""
    src = tmp_path_factory.mktemp("tok_src")
    for path in sorted((SITE / "music21" / "midi" / "testPrimitive").glob("*.mid")):
        shutil.copy(path, src / path.name)
    shutil.copy(SITE / "miditoolkit" / "midi" / "examples_data" / "1390.mid", src / "1390.mid")
    for name, data in midi_from_abc:
        (src / name).write_bytes(data)
    for rel in ["miscFolk/americanfifeopus.abc", "nottingham-dataset/reelsa-c.abc"]:
        shutil.copy(M21 / rel, src / Path(rel).name)
    out = tmp_path_factory.mktemp("tok_corpus") / "v1"
    build([str(src)], out, make_settings())
    return out


def sql(query: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(query).fetchall()


def corpus_rows(corpus: Path) -> dict[str, dict]:
    rows = sql(f"SELECT id, format, n_notes, split FROM '{corpus}/corpus/*/*.parquet'")
    return {r[0]: {"format": r[1], "n_notes": r[2], "split": r[3]} for r in rows}


@pytest.fixture(scope="module")
def remi_tok(spark, corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "remi"
    tokenize_corpus(spark, corpus, "remi", out, SMALL)
    return out


def test_remi_shards_hold_every_piece_in_chunks_that_fit(corpus, remi_tok):
    manifest = json.loads((remi_tok / "manifest.json").read_text())
    tok = load_tokenizer(remi_tok)
    pieces = corpus_rows(corpus)
    full = {r["id"]: r for r in pq.read_table(corpus / "corpus").to_pylist()}
    assert (remi_tok / "_SUCCESS").exists()
    assert sum(c["pieces"] for c in manifest["counts"].values()) + manifest["rejected"] == len(pieces)
    assert manifest["rejected"] == 0  # every piece has MIDI (content or score_midi)
    assert tok.kind == "remi" and tok.vocab_size == manifest["vocab_size"]
    for split in SPLITS:
        table = pq.read_table(remi_tok / split)
        assert table.schema.names == TOKENS.names
        by_id: dict[str, list] = {}
        for row in table.to_pylist():
            assert pieces[row["id"]]["split"] == split  # lineage to the corpus row
            assert row["n_tokens"] == len(row["tokens"]) <= tok.max_tokens_per_chunk
            assert row["conditions"] == tok.encode_conditions(full[row["id"]])
            assert len(row["conditions"]) == tok.conditions.length
            assert all(4 <= t < tok.conditions.offset for t in row["tokens"])
            assert row["tokens"][0] == tok.remi.bar  # chunks start at a bar line
            by_id.setdefault(row["id"], []).append(row)
        assert len(by_id) == manifest["counts"][split]["pieces"]
        assert table.num_rows == manifest["counts"][split]["chunks"]
        for piece_id, chunks in by_id.items():
            assert [c["chunk"] for c in chunks] == list(range(len(chunks)))
            music = np.concatenate([c["tokens"] for c in chunks])
            decoded = symusic.Score.from_midi(tok.decode(music))
            assert decoded.note_num() == pieces[piece_id]["n_notes"]
    long_ones = sql(f"SELECT count(DISTINCT id) FROM '{remi_tok}/*/*.parquet' WHERE chunk >= 10")[0][0]
    assert long_ones >= 2


def test_shards_read_with_duckdb_and_ray_data(remi_tok):
    manifest = json.loads((remi_tok / "manifest.json").read_text())
    n, total = sql(f"SELECT count(*), sum(n_tokens) FROM '{remi_tok}/*/*.parquet'")[0]
    assert n == sum(c["chunks"] for c in manifest["counts"].values())
    assert total == sum(c["n_tokens"] for c in manifest["counts"].values())
    per_row = sql(f"SELECT bool_and(len(tokens) = n_tokens) FROM '{remi_tok}/train/*.parquet'")[0][0]
    assert per_row

    import ray

    from symcorpus.train.ray_connect import connect_ray

    connect_ray(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        # One pass of Ray Data over the split (each of count, take and sum would run the read again).
        batches = list(ray.data.read_parquet(str(remi_tok / "train")).iter_batches(batch_format="pyarrow"))
    finally:
        ray.shutdown()
    assert sum(b.num_rows for b in batches) == manifest["counts"]["train"]["chunks"]
    assert sum(pc.sum(b["n_tokens"]).as_py() for b in batches) == manifest["counts"]["train"]["n_tokens"]
    row = batches[0].slice(0, 1).to_pylist()[0]
    assert len(row["tokens"]) == row["n_tokens"] and len(row["conditions"]) == manifest["condition_length"]


def test_same_corpus_gives_the_same_bytes(spark, corpus, remi_tok, tmp_path):
    again = tmp_path / "remi2"
    tokenize_corpus(spark, corpus, "remi", again, SMALL)
    first = json.loads((remi_tok / "manifest.json").read_text())
    second = json.loads((again / "manifest.json").read_text())
    assert [(s["path"], s["sha256"]) for s in first["shards"]] == [(s["path"], s["sha256"]) for s in second["shards"]]
    for name in ("tokenizer.json", "rejects.parquet"):
        assert hashlib.sha256((remi_tok / name).read_bytes()).digest() == \
            hashlib.sha256((again / name).read_bytes()).digest()
    with pytest.raises(OutputExistsError):
        tokenize_corpus(spark, corpus, "remi", again, SMALL)
    with pytest.raises(NotACorpusError, match="not a published corpus"):
        tokenize_corpus(spark, tmp_path, "remi", tmp_path / "x", SMALL)


def test_abc_shards_take_abc_tunes_and_say_why_others_are_left(spark, corpus, tmp_path):
    out = tmp_path / "abc"
    manifest = tokenize_corpus(spark, corpus, "abc", out, TokenizeSettings(max_seq_len=400, bpe_vocab_size=300))
    tok = load_tokenizer(out)
    assert tok.abc.bpe is not None and tok.abc.size - 4 > len(CHARS)  # BPE trained on the train tunes
    pieces = corpus_rows(corpus)
    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    kept = sql(f"SELECT DISTINCT id FROM '{out}/*/*.parquet'")
    assert len(kept) + len(rejects) == len(pieces)
    for piece_id, in kept:
        assert pieces[piece_id]["format"] == "abc"
    assert {r["reason"] for r in rejects if pieces[r["id"]]["format"] != "abc"} == {"not_abc"}
    assert all(r["detail"] for r in rejects)
    # Every chunk of an ABC tune is a tune ABC readers accept, with the piece's notes in it.
    rows = sql(f"SELECT id, tokens, conditions FROM '{out}/train/*.parquet' WHERE chunk = 0 ORDER BY id LIMIT 15")
    names = tok.token_names()
    full = {r["id"]: r for r in pq.read_table(corpus / "corpus").to_pylist()}
    for piece_id, tokens, conditions in rows:
        text = tok.decode(tokens).decode("ascii")
        assert text.startswith("X:1\n") and "K:" in text
        assert symusic.Score.from_abc(text).note_num() > 0
        # Conditions are the corpus row's labels (unknown where a label or column is missing).
        assert conditions == tok.encode_conditions(full[piece_id])
        assert names[conditions[4]] != "key=<unknown>"  # every tune declares its key (K:)
    n_abc = sum(1 for p in pieces.values() if p["format"] == "abc")
    assert sum(c["pieces"] for c in manifest["counts"].values()) == n_abc >= 30
