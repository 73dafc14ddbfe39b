"""`symcorpus tokenize`: a published corpus version in, token shards out. A thin Spark driver.

    corpus/{train,valid,test}  --mapInArrow(label values)-->  condition vocabulary (driver)
                               [abc + BPE: normalized tunes of an id-ordered sample --> BPE (driver)]
                               --mapInArrow(Tokenize step)-->  TOK/{split}/part-*.parquet
    TOK/tokenizer.json, TOK/rejects.parquet, TOK/manifest.json, TOK/_SUCCESS, renamed into place

Token shards: id (the corpus row), chunk (0..), tokens (list<int32>, music only), n_tokens, conditions
(list<int32>). Pieces the tokenizer cannot take are rows of rejects.parquet (id, split, reason, detail).
Same corpus and params give the same bytes.
"""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from symcorpus.config import Settings, TokenizeSettings
from symcorpus.errors import UsageError
from symcorpus.schema import TOKEN_REJECTS, TOKENS
from symcorpus.shards import write_empty
from symcorpus.spark.frames import spark_schema, write_table
from symcorpus.spark.publish import SPLITS, code_version, corpus_manifest, file_sha256, finish, prepare_out, staged
from symcorpus.spark.session import spark_session
from symcorpus.steps.tokenize import LABEL_COLUMNS, OUTPUT, VALUES, Tokenize, label_values, normalized_abc
from symcorpus.tokenizers import ABC_FORMATS, KINDS, MIDI_KINDS, Tokenizer, build_tokenizer
from symcorpus.tokenizers.conditions import FAMILIES


class TokenizeJobError(RuntimeError):
    """The shards written do not match what the job counted: a bug, never published."""


def _split_dirs(corpus_dir: Path) -> list[str]:
    return [str(corpus_dir / "corpus" / split) for split in SPLITS
            if any((corpus_dir / "corpus" / split).glob("*.parquet"))]


def _corpus_frame(spark, corpus_dir: Path, kind: str):
    """Every kept piece with `id`, `split`, `format`, `data` (what the tokenizer reads) and the
    label columns the corpus has; None for a corpus without pieces."""
    from pyspark.sql import functions as F

    directories = _split_dirs(corpus_dir)
    if not directories:
        return None
    frame = spark.read.parquet(*directories)
    columns = set(frame.columns)
    if kind in MIDI_KINDS:
        # steps/parse.py stored_midi, as a column: an .rmi keeps its unwrapped MIDI in score_midi.
        data = F.when(F.col("format") == "midi", F.coalesce("score_midi", "content")).otherwise(F.col("score_midi"))
    else:
        data = F.when(F.col("format").isin(*ABC_FORMATS), F.col("content"))  # MusicXML through xml2abc
    selected = [F.col("id"), F.col("split"), F.col("format"), data.alias("data")]
    selected += [F.col(c) for c in LABEL_COLUMNS if c in columns]
    return frame.select(*selected)


def condition_counts(spark, corpus_dir: Path, settings: TokenizeSettings) -> dict[str, dict[str, int]]:
    """family -> value -> pieces over every split: a cheap first pass over the label columns."""
    counts: dict[str, dict[str, int]] = {f: {} for f in FAMILIES}
    directories = _split_dirs(corpus_dir)
    if not directories:
        return counts
    frame = spark.read.parquet(*directories)
    rows = frame.select(*[c for c in LABEL_COLUMNS if c in frame.columns])
    run = functools.partial(label_values, max_instruments=settings.max_instruments)
    for r in rows.mapInArrow(run, spark_schema(VALUES)).groupBy("family", "value").count().collect():
        counts[r["family"]][r["value"]] = r["count"]
    return counts


def bpe_sample(spark, corpus_dir: Path, settings: TokenizeSettings) -> list[str]:
    """Normalized ABC of the first `bpe_max_pieces` train tunes by id (deterministic)."""
    frame = _corpus_frame(spark, corpus_dir, "abc")
    if frame is None:
        return []
    run = functools.partial(normalized_abc, max_annotation=settings.abc_max_annotation)
    train = frame.where("format = 'abc' AND split = 'train'").select("id", "data")
    sample = (train.orderBy("id").limit(settings.bpe_max_pieces)
              .mapInArrow(run, "id string, text string").orderBy("id").collect())
    return [r["text"] for r in sample]


def build_corpus_tokenizer(spark, corpus_dir: Path, kind: str, settings: TokenizeSettings) -> Tokenizer:
    """A tokenizer whose condition vocabulary holds the corpus' label values (and, for abc with
    bpe_vocab_size > 0, a BPE trained on a sample of its tunes)."""
    counts = condition_counts(spark, corpus_dir, settings)
    texts = bpe_sample(spark, corpus_dir, settings) if kind == "abc" and settings.bpe_vocab_size > 0 else None
    return build_tokenizer(kind, settings, counts, texts)


def count_tokens(rows) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Per split: pieces in, pieces tokenized, chunks, tokens and rejections by reason; the reject rows."""
    from pyspark.sql import functions as F

    split_counts = {s: {"pieces_in": 0, "pieces": 0, "chunks": 0, "n_tokens": 0, "rejected": {}} for s in SPLITS}
    stats = rows.groupBy("split", "reason").agg(
        # Every piece (and every reject) has one row with chunk 0: rows, not distinct ids, so a corpus
        # that holds one id twice is counted as it is.
        F.count("*").alias("rows"), F.sum(F.when(F.col("chunk") == 0, 1).otherwise(0)).alias("pieces"),
        F.sum("n_tokens").alias("n_tokens")).collect()
    for r in stats:
        c = split_counts[r["split"]]
        if r["reason"] is None:
            c.update(pieces=r["pieces"], chunks=r["rows"], n_tokens=int(r["n_tokens"] or 0))
        else:
            c["rejected"][r["reason"]] = r["rows"]
        c["pieces_in"] += r["pieces"]
    for c in split_counts.values():
        c["rejected"] = dict(sorted(c["rejected"].items()))
    rejects = []
    if any(c["rejected"] for c in split_counts.values()):
        rejects = [r.asDict() for r in rows.where(F.col("reason").isNotNull())
                   .select("id", "split", "reason", "detail").collect()]
    return split_counts, sorted(rejects, key=lambda r: (r["split"], r["id"]))


def write_token_shards(rows, root: Path, split_counts: dict[str, dict[str, Any]], shard_bytes: int) -> None:
    """Each split's token rows as shards sorted by (id, chunk): same corpus, same bytes."""
    from pyspark.sql import functions as F

    for split in SPLITS:
        target, c = root / split, split_counts[split]
        if not c["chunks"]:
            write_empty(target, TOKENS)
            continue
        n_shards = max(1, math.ceil(c["n_tokens"] * 4 / shard_bytes))
        write_table(rows.where((F.col("split") == split) & F.col("reason").isNull()).select(*TOKENS.names), target,
                    n_shards, TOKENS, sort_by=("id", "chunk"))


def token_manifest(root: Path, corpus_dir: Path, kind: str, tok: Tokenizer, settings: TokenizeSettings,
                   split_counts: dict[str, dict[str, Any]], rejected: int, started: float) -> dict[str, Any]:
    """manifest.json of the token shards in `root`, after checking each split holds what was counted."""
    shards = []
    for split in SPLITS:
        for shard in sorted((root / split).glob("part-*.parquet")):
            shards.append({"path": shard.relative_to(root).as_posix(), "rows": pq.read_metadata(shard).num_rows,
                           "bytes": shard.stat().st_size, "sha256": file_sha256(shard)})
    for split, c in split_counts.items():
        rows_on_disk = sum(s["rows"] for s in shards if s["path"].startswith(f"{split}/"))
        if rows_on_disk != c["chunks"]:
            raise TokenizeJobError(f"{split}/ holds {rows_on_disk} rows, the job counted {c['chunks']}")
    corpus = corpus_manifest(corpus_dir)
    manifest = {
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code_version": code_version(),
        "corpus": {"path": str(corpus_dir), "created": corpus.get("created"),
                   "code_version": corpus.get("code_version"), "schema_version": corpus.get("schema_version"),
                   "manifest_sha256": file_sha256(corpus_dir / "manifest.json")},
        "params": settings.to_dict(),
        "vocab_size": tok.vocab_size,
        "condition_length": tok.conditions.length,
        "max_tokens_per_chunk": tok.max_tokens_per_chunk,
        "tokenizer_sha256": file_sha256(root / "tokenizer.json"),
        "counts": split_counts,
        "rejected": rejected,
        "seconds": round(time.time() - started, 2),
        "shards": shards,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def check_call(corpus_dir: Path, kind: str, out: Path, overwrite: bool) -> tuple[Path, Path]:
    """The corpus and output folders, resolved; a UsageError for a mistake, before any work."""
    if kind not in KINDS:
        raise UsageError(f"unknown tokenizer {kind!r}: choose {' or '.join(KINDS)}")
    corpus_dir = Path(corpus_dir).expanduser().resolve()
    corpus_manifest(corpus_dir)
    return corpus_dir, prepare_out(out, overwrite)


def tokenize_corpus(spark, corpus_dir: Path, kind: str, out: Path, settings: TokenizeSettings,
                    *, overwrite: bool = False) -> dict[str, Any]:
    """Token shards of a published corpus version, written atomically to `out`; returns the manifest."""
    from pyspark import StorageLevel

    started = time.time()
    corpus_dir, out = check_call(corpus_dir, kind, out, overwrite)
    tok = build_corpus_tokenizer(spark, corpus_dir, kind, settings)
    frame = _corpus_frame(spark, corpus_dir, kind)
    rows = None
    with staged(out) as staging:
        try:
            split_counts = {s: {"pieces_in": 0, "pieces": 0, "chunks": 0, "n_tokens": 0, "rejected": {}}
                            for s in SPLITS}
            rejects: list[dict[str, Any]] = []
            if frame is not None:
                cores = spark.sparkContext.defaultParallelism
                if frame.rdd.getNumPartitions() < 2 * cores:
                    frame = frame.repartition(2 * cores, "id")
                run = Tokenize(json.dumps(tok.to_json(), sort_keys=True)).run
                rows = frame.mapInArrow(run, spark_schema(OUTPUT)).persist(StorageLevel.MEMORY_AND_DISK)
                split_counts, rejects = count_tokens(rows)
            write_token_shards(rows, staging, split_counts, settings.shard_bytes)
            pq.write_table(pa.Table.from_pylist(rejects, schema=TOKEN_REJECTS), staging / "rejects.parquet",
                           compression="zstd")
            tok.save(staging)
            manifest = token_manifest(staging, corpus_dir, kind, tok, settings, split_counts, len(rejects), started)
            finish(staging, out, overwrite)
        finally:
            if rows is not None:
                rows.unpersist()
    return manifest


def tokenize(corpus: Path, kind: str, out: Path, settings: Settings, *, spark_master: str | None = None,
             overwrite: bool = False) -> dict[str, Any]:
    """`symcorpus tokenize --corpus V --tokenizer remi|abc --out TOK`: the Spark session, then the job."""
    check_call(corpus, kind, out, overwrite)  # before Spark starts
    spark = spark_session(settings.spark, spark_master)
    return tokenize_corpus(spark, Path(corpus), kind, Path(out), settings.tokenize, overwrite=overwrite)
