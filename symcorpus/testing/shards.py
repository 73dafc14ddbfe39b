"""A published-corpus-like directory and its token shards, made in this process without Spark.

For tests and benchmarks of what reads them (training, fine-tuning, sampling), where Spark is not
what is tested. The rows come from the pipeline's own pure functions, so they hold what a build and
`symcorpus tokenize` would write:

    corpus_from_files(files, out)   every record through the build steps (steps/), the kept ones
                                    split by hash (split_of): out/corpus/{train,valid,test}/part-00000.parquet
                                    with the published corpus schema, and out/manifest.json
    token_shards(corpus, kind, out) tokenizer built from the corpus labels, rows tokenized
                                    (tokenize_batches): out/{split}/part-00000.parquet (the TOKENS
                                    schema, sorted by id and chunk), tokenizer.json, rejects.parquet,
                                    manifest.json naming the corpus, _SUCCESS
    irish_tunes(root)               both, for music21's essenFolksong/irl.abc (62 tunes), made once

What it leaves out: deduplication (give it sources without duplicates; irl.abc has none) and
splitting large outputs into several shards.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from symcorpus import schema
from symcorpus.config import Settings, TokenizeSettings
from symcorpus.schema import TOKEN_REJECTS, TOKENS
from symcorpus.shards import shard_name
from symcorpus.sources import Record, records_from_bytes
from symcorpus.sources.music21 import corpus_root as music21_corpus_root
from symcorpus.spark.publish import SPLITS, code_version, file_sha256
from symcorpus.spark.split import split_of
from symcorpus.steps import run_records
from symcorpus.steps.batches import to_batch
from symcorpus.steps.parse import stored_midi
from symcorpus.steps.tokenize import label_values, normalized_abc, tokenize_batches
from symcorpus.tokenizers import MIDI_KINDS, build_tokenizer
from symcorpus.tokenizers.conditions import FAMILIES

IRISH_TUNES = "essenFolksong/irl.abc"  # 62 real tunes in music21's corpus
SHARD = shard_name(0)


def _write_shard(table: pa.Table, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / SHARD, compression="zstd")


def _shards(root: Path, folders: list[str]) -> list[dict[str, Any]]:
    return [{"path": shard.relative_to(root).as_posix(), "rows": pq.read_metadata(shard).num_rows,
             "bytes": shard.stat().st_size, "sha256": file_sha256(shard)}
            for folder in folders for shard in sorted((root / folder).glob("part-*.parquet"))]


# --------------------------------------------------------------------------------------------------
# Corpus


def corpus_from_files(files: list[Path], out: Path, settings: Settings, source: str = "src") -> Path:
    """A corpus version in `out` from music files (an ABC file gives one record per tune): the
    records that parse and pass the quality rules, split by the hash of their id (each is its own
    dedup cluster). Returns `out`."""
    records: dict[str, Record] = {}
    for path in files:
        for item in records_from_bytes(source, Path(path).name, Path(path).read_bytes()):
            if isinstance(item, Record):
                records.setdefault(item.id, item)  # an exact copy is one piece
    rows = run_records(sorted(records.values(), key=lambda r: r.id), settings)
    kept = [row for row in rows if row["status"] == schema.STATUS_OK]
    for row in kept:
        row["dedup_cluster"] = row["id"]
        row["split"] = split_of(row["id"], settings.split.ratios(), settings.split.seed)
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    for split in SPLITS:
        in_split = [row for row in kept if row["split"] == split]
        _write_shard(pa.Table.from_batches([to_batch(in_split, schema.CORPUS)], schema.CORPUS), out / "corpus" / split)
    by_split = Counter(row["split"] for row in kept)
    manifest = {
        "schema_version": schema.SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "params": settings.to_dict(),
        "sources": [{"name": source, "uri": ",".join(str(Path(f).resolve()) for f in files), "kind": "files",
                     "units": len(files)}],
        "counts": {"input": len(rows), "kept": len(kept), "duplicates": 0,
                   "rejected": sum(row["status"] == schema.STATUS_REJECTED for row in rows),
                   "errors": sum(row["status"] == schema.STATUS_ERROR for row in rows),
                   "by_split": {s: by_split[s] for s in SPLITS}},
        "shards": _shards(out, [f"corpus/{s}" for s in SPLITS]),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


# --------------------------------------------------------------------------------------------------
# Token shards


def _pieces(corpus_dir: Path, kind: str) -> list[dict[str, Any]]:
    """Every corpus row with `data`, the bytes the tokenizer reads (as the tokenize job selects it)."""
    rows = []
    for split in SPLITS:
        for shard in sorted((corpus_dir / "corpus" / split).glob("*.parquet")):
            rows += pq.read_table(shard).to_pylist()
    for row in rows:
        if kind in MIDI_KINDS:
            row["data"] = stored_midi(row)
        else:
            row["data"] = row["content"] if row["format"] == "abc" else None
    return rows


def _condition_counts(pieces: list[dict[str, Any]], settings: TokenizeSettings) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {f: {} for f in FAMILIES}
    for batch in label_values([pa.RecordBatch.from_pylist(pieces)], settings.max_instruments):
        for family, value in zip(batch.column("family").to_pylist(), batch.column("value").to_pylist()):
            counts[family][value] = counts[family].get(value, 0) + 1
    return counts


def _bpe_texts(pieces: list[dict[str, Any]], settings: TokenizeSettings) -> list[str]:
    """Normalized ABC of the first bpe_max_pieces train tunes by id."""
    train = sorted((r for r in pieces if r["format"] == "abc" and r["split"] == "train"), key=lambda r: r["id"])
    batch = pa.RecordBatch.from_pylist([{"id": r["id"], "data": r["data"]} for r in train[: settings.bpe_max_pieces]])
    return [t for b in normalized_abc([batch], settings.abc_max_annotation) for t in b.column("text").to_pylist()]


def token_shards(corpus_dir: Path, kind: str, out: Path, settings: TokenizeSettings) -> dict[str, Any]:
    """Token shards of the corpus version `corpus_dir` in `out`, laid out as `symcorpus tokenize`
    writes them; returns the manifest."""
    started = time.time()
    corpus_dir, out = Path(corpus_dir).resolve(), Path(out).resolve()
    settings.validate()
    pieces = _pieces(corpus_dir, kind)
    texts = _bpe_texts(pieces, settings) if kind == "abc" and settings.bpe_vocab_size > 0 else None
    tok = build_tokenizer(kind, settings, _condition_counts(pieces, settings), texts)
    tokenizer_json = json.dumps(tok.to_json(), sort_keys=True)
    rows = pa.Table.from_batches(list(tokenize_batches([pa.RecordBatch.from_pylist(pieces)], tokenizer_json)))

    staging = out.parent / f".{out.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    counts = {}
    for split in SPLITS:
        of_split = rows.filter(pc.equal(rows.column("split"), split))
        rejected = of_split.filter(of_split.column("reason").is_valid())
        tokens = of_split.filter(of_split.column("reason").is_null()).sort_by([("id", "ascending"),
                                                                              ("chunk", "ascending")])
        _write_shard(tokens.select(TOKENS.names).cast(TOKENS), staging / split)
        first_chunks = pc.sum(pc.equal(tokens.column("chunk"), 0)).as_py() or 0
        counts[split] = {"pieces_in": first_chunks + rejected.num_rows, "pieces": first_chunks,
                         "chunks": tokens.num_rows, "n_tokens": pc.sum(tokens.column("n_tokens")).as_py() or 0,
                         "rejected": dict(sorted(Counter(rejected.column("reason").to_pylist()).items()))}
    rejects = rows.filter(rows.column("reason").is_valid()).select(TOKEN_REJECTS.names).cast(TOKEN_REJECTS)
    rejects = rejects.sort_by([("split", "ascending"), ("id", "ascending")])
    pq.write_table(rejects, staging / "rejects.parquet", compression="zstd")
    tok.save(staging)
    corpus_manifest = json.loads((corpus_dir / "manifest.json").read_text())
    manifest = {
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code_version": code_version(),
        "corpus": {
            "path": str(corpus_dir),
            "created": corpus_manifest.get("created"),
            "code_version": corpus_manifest.get("code_version"),
            "schema_version": corpus_manifest.get("schema_version"),
            "manifest_sha256": file_sha256(corpus_dir / "manifest.json"),
        },
        "params": asdict(settings),
        "vocab_size": tok.vocab_size,
        "condition_length": tok.conditions.length,
        "max_tokens_per_chunk": tok.max_tokens_per_chunk,
        "tokenizer_sha256": file_sha256(staging / "tokenizer.json"),
        "counts": counts,
        "rejected": rejects.num_rows,
        "seconds": round(time.time() - started, 2),
        "shards": _shards(staging, list(SPLITS)),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (staging / "_SUCCESS").write_text("")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return manifest


# --------------------------------------------------------------------------------------------------
# The Irish tunes


def irish_tunes(root: Path, kind: str = "remi", max_seq_len: int = 256) -> Path:
    """Token shards of music21's Irish folk tunes in root/tok_<kind>_<max_seq_len>, their corpus
    (split 70/15/15) in root/corpus_v1; each made once and reused while it is complete."""
    root = Path(root)
    corpus, tok = root / "corpus_v1", root / f"tok_{kind}_{max_seq_len}"
    if not (corpus / "manifest.json").is_file():
        settings = Settings()
        settings = settings.replace(split=settings.split.replace(train=0.7, valid=0.15, test=0.15))
        corpus_from_files([music21_corpus_root() / IRISH_TUNES], corpus, settings, source="src")
    if not (tok / "_SUCCESS").is_file():
        token_shards(corpus, kind, tok, TokenizeSettings(max_seq_len=max_seq_len))
    return tok


__all__ = ["IRISH_TUNES", "corpus_from_files", "irish_tunes", "token_shards"]
