"""`symcorpus tokenize`: a published corpus version in, token shards out. A thin Spark driver.

    corpus/{train,valid,test}  --mapInArrow(label values)-->  condition vocabulary (driver)
                               [abc + BPE: normalized tunes of an id-ordered sample --> BPE (driver)]
                               --mapInArrow(tokenize)-->  TOK/{split}/part-*.parquet
    TOK/tokenizer.json, TOK/rejects.parquet, TOK/manifest.json, TOK/_SUCCESS, renamed into place

Token shards: id (the corpus row), chunk (0..), tokens (list<int32>, music only), n_tokens, conditions
(list<int32>). Pieces the tokenizer cannot take are rows of rejects.parquet (id, split, reason, detail).
Same corpus and params give the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from symcorpus.pipeline import publish
from symcorpus.pipeline.split import SPLITS
from symcorpus.tokenizers import KINDS, TokenizeError, Tokenizer, build_tokenizer
from symcorpus.tokenizers.abc import AbcError, normalize_abc
from symcorpus.tokenizers.conditions import FAMILIES, piece_values
from symcorpus.config import TokenizeSettings

TOKENS = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("chunk", pa.int32(), nullable=False),
    pa.field("tokens", pa.list_(pa.int32())),
    pa.field("n_tokens", pa.int32()),
    pa.field("conditions", pa.list_(pa.int32())),
])
REJECTS = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("split", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("detail", pa.string()),
])
# What the tokenize function emits: token rows, and reject rows (reason set, tokens null).
_OUTPUT = pa.schema(list(TOKENS) + [pa.field("split", pa.string()), pa.field("reason", pa.string()),
                                     pa.field("detail", pa.string())])
_VALUES = pa.schema([pa.field("family", pa.string()), pa.field("value", pa.string())])

# Corpus columns the condition families read (any may be missing in a corpus version).
_LABEL_COLUMNS = ("labels", "key", "key_signature", "time_signature", "tempo_bpm", "duration_seconds",
                  "instruments", "has_drums")


class TokenizeJobError(RuntimeError):
    pass


def _spark_schema(arrow_schema: pa.Schema):
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


# --------------------------------------------------------------------------------------------------
# Functions run on executors (plain functions over Arrow batches)


def label_values(batches: Iterator[pa.RecordBatch], max_instruments: int) -> Iterator[pa.RecordBatch]:
    """(family, value) of every piece's labels, one row per value (instruments: one per name)."""
    for batch in batches:
        families, values = [], []
        for row in batch.to_pylist():
            for family, value in piece_values(row, max_instruments).items():
                for v in value if isinstance(value, list) else [value]:
                    if v is not None:
                        families.append(family)
                        values.append(v)
        yield pa.RecordBatch.from_arrays([pa.array(families, pa.string()), pa.array(values, pa.string())],
                                         schema=_VALUES)


def normalized_abc(batches: Iterator[pa.RecordBatch], max_annotation: int) -> Iterator[pa.RecordBatch]:
    """(id, normalized text) of ABC tunes, for BPE training; tunes that fail are left out."""
    from symcorpus.music.abc_text import decode_abc

    for batch in batches:
        ids, texts = [], []
        for row in batch.to_pylist():
            try:
                texts.append(normalize_abc(decode_abc(row["data"]), max_annotation))
                ids.append(row["id"])
            except AbcError:
                continue
        yield pa.RecordBatch.from_arrays([pa.array(ids, pa.string()), pa.array(texts, pa.string())],
                                         names=["id", "text"])


@functools.lru_cache(maxsize=4)
def _tokenizer(tokenizer_json: str) -> Tokenizer:
    return Tokenizer.from_json(json.loads(tokenizer_json))


def tokenize_batches(batches: Iterator[pa.RecordBatch], tokenizer_json: str) -> Iterator[pa.RecordBatch]:
    """Token rows (one per chunk) and reject rows of corpus rows with `id`, `split`, `format`,
    `data` (the bytes to tokenize) and the label columns."""
    tok = _tokenizer(tokenizer_json)
    for batch in batches:
        out: dict[str, list] = {name: [] for name in _OUTPUT.names}
        for row in batch.to_pylist():
            try:
                chunks = tok.encode_music(row["data"], row["format"])
                if not chunks:
                    raise TokenizeError("no_tokens", "nothing to tokenize")
                conditions = tok.encode_conditions(row)
            except TokenizeError as e:
                values = [row["id"], 0, None, None, None, row["split"], e.reason, str(e.args[0])]
                for name, value in zip(_OUTPUT.names, values):
                    out[name].append(value)
                continue
            for i, chunk in enumerate(chunks):
                out["id"].append(row["id"])
                out["chunk"].append(i)
                out["tokens"].append(chunk)
                out["n_tokens"].append(len(chunk))
                out["conditions"].append(conditions)
                out["split"].append(row["split"])
                out["reason"].append(None)
                out["detail"].append(None)
        tokens = pa.ListArray.from_arrays(
            pa.array(_offsets(out["tokens"]), pa.int32()),
            pa.array(_flat(out["tokens"]), pa.int32()),
        )
        conditions = pa.array(out["conditions"], pa.list_(pa.int32()))
        yield pa.RecordBatch.from_arrays(
            [pa.array(out["id"], pa.string()), pa.array(out["chunk"], pa.int32()), tokens,
             pa.array(out["n_tokens"], pa.int32()), conditions, pa.array(out["split"], pa.string()),
             pa.array(out["reason"], pa.string()), pa.array(out["detail"], pa.string())],
            schema=_OUTPUT,
        )


def _offsets(lists: list) -> list[int]:
    import numpy as np

    lengths = np.array([0 if x is None else len(x) for x in lists], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)]).tolist()


def _flat(lists: list):
    import numpy as np

    parts = [np.asarray(x, dtype=np.int32) for x in lists if x is not None]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)


# --------------------------------------------------------------------------------------------------
# Driver


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
    if kind == "remi":
        # An .rmi piece keeps its Standard MIDI File, unwrapped, in score_midi.
        midi = F.coalesce(F.col("score_midi"), F.col("content"))
        data = F.when(F.col("format") == "midi", midi).otherwise(F.col("score_midi"))
    else:
        data = F.when(F.col("format") == "abc", F.col("content"))
    selected = [F.col("id"), F.col("split"), F.col("format"), data.alias("data")]
    selected += [F.col(c) for c in _LABEL_COLUMNS if c in columns]
    return frame.select(*selected)


def condition_counts(spark, corpus_dir: Path, settings: TokenizeSettings) -> dict[str, dict[str, int]]:
    """family -> value -> pieces over every split: a cheap first pass over the label columns."""
    counts: dict[str, dict[str, int]] = {f: {} for f in FAMILIES}
    directories = _split_dirs(corpus_dir)
    if not directories:
        return counts
    frame = spark.read.parquet(*directories)
    rows = frame.select(*[c for c in _LABEL_COLUMNS if c in frame.columns])
    run = functools.partial(label_values, max_instruments=settings.max_instruments)
    for r in rows.mapInArrow(run, _spark_schema(_VALUES)).groupBy("family", "value").count().collect():
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tokenize_corpus(spark, corpus_dir: Path, kind: str, out: Path, settings: TokenizeSettings,
                    *, overwrite: bool = False) -> dict[str, Any]:
    """Token shards of a published corpus version, written atomically to `out`; returns the manifest."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.time()
    if kind not in KINDS:
        raise TokenizeJobError(f"unknown tokenizer {kind!r} (one of {', '.join(KINDS)})")
    settings.validate()
    corpus_dir = Path(corpus_dir).expanduser().resolve()
    out = Path(out).expanduser().resolve()
    corpus_manifest_path = corpus_dir / "manifest.json"
    if not corpus_manifest_path.is_file():
        raise TokenizeJobError(f"not a published corpus version (no manifest.json): {corpus_dir}")
    if out.exists() and not overwrite:
        raise publish.OutputExistsError(f"output exists: {out} (use --overwrite)")
    corpus_manifest = json.loads(corpus_manifest_path.read_text())

    counts = condition_counts(spark, corpus_dir, settings)
    texts = bpe_sample(spark, corpus_dir, settings) if kind == "abc" and settings.bpe_vocab_size > 0 else None
    tok = build_tokenizer(kind, settings, counts, texts)
    tokenizer_json = json.dumps(tok.to_json(), sort_keys=True)
    run = functools.partial(tokenize_batches, tokenizer_json=tokenizer_json)
    cores = spark.sparkContext.defaultParallelism

    staging = publish.staging_dir(out)
    staging.mkdir(parents=True)
    frame = _corpus_frame(spark, corpus_dir, kind)
    rows = None
    try:
        split_counts = {s: {"pieces_in": 0, "pieces": 0, "chunks": 0, "n_tokens": 0, "rejected": {}} for s in SPLITS}
        rejects: list[dict[str, Any]] = []
        if frame is not None:
            if frame.rdd.getNumPartitions() < 2 * cores:
                frame = frame.repartition(2 * cores, "id")
            rows = frame.mapInArrow(run, _spark_schema(_OUTPUT)).persist(StorageLevel.MEMORY_AND_DISK)
            stats = rows.groupBy("split", "reason").agg(
                # Every piece (and every reject) has one row with chunk 0: rows, not distinct ids, so
                # a corpus that holds one id twice is counted as it is.
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
            if any(c["rejected"] for c in split_counts.values()):
                rejects = [r.asDict() for r in rows.where(F.col("reason").isNotNull())
                           .select("id", "split", "reason", "detail").collect()]
        for split in SPLITS:
            target = staging / split
            c = split_counts[split]
            if not c["chunks"]:
                publish.write_empty_table(target, TOKENS)
                continue
            n_shards = max(1, math.ceil(c["n_tokens"] * 4 / settings.shard_bytes))
            (rows.where((F.col("split") == split) & F.col("reason").isNull()).select(*TOKENS.names)
             .coalesce(n_shards).sortWithinPartitions("id", "chunk")
             .write.mode("overwrite").option("compression", "zstd").parquet(str(target)))
            publish.tidy_spark_output(target)

        rejects.sort(key=lambda r: (r["split"], r["id"]))
        pq.write_table(pa.Table.from_pylist(rejects, schema=REJECTS), staging / "rejects.parquet",
                       compression="zstd")
        tok.save(staging)
        shards = []
        for split in SPLITS:
            for shard in sorted((staging / split).glob("part-*.parquet")):
                shards.append({"path": shard.relative_to(staging).as_posix(),
                               "rows": pq.read_metadata(shard).num_rows,
                               "bytes": shard.stat().st_size, "sha256": _sha256(shard)})
        for split, c in split_counts.items():
            rows_on_disk = sum(s["rows"] for s in shards if s["path"].startswith(f"{split}/"))
            if rows_on_disk != c["chunks"]:
                raise TokenizeJobError(f"{split}/ holds {rows_on_disk} rows, the job counted {c['chunks']}")
        manifest = {
            "kind": kind,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "code_version": publish.code_version(),
            "corpus": {
                "path": str(corpus_dir),
                "created": corpus_manifest.get("created"),
                "code_version": corpus_manifest.get("code_version"),
                "schema_version": corpus_manifest.get("schema_version"),
                "manifest_sha256": _sha256(corpus_manifest_path),
            },
            "params": asdict(settings),
            "vocab_size": tok.vocab_size,
            "condition_length": tok.conditions.length,
            "max_tokens_per_chunk": tok.max_tokens_per_chunk,
            "tokenizer_sha256": _sha256(staging / "tokenizer.json"),
            "counts": split_counts,
            "rejected": len(rejects),
            "seconds": round(time.time() - started, 2),
            "shards": shards,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        publish.finish(staging, out, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if rows is not None:
            rows.unpersist()
    return manifest


def tokenize_command(corpus: Path, tokenizer: str, out: Path, params: Path | None = None,
                     spark_master: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """`symcorpus tokenize --corpus OUT --tokenizer remi|abc --out TOK [--params] [--spark-master]`."""
    from symcorpus.pipeline.spark import spark_session
    from symcorpus.config import load_settings

    settings = load_settings(params)
    tokenize_settings = getattr(settings, "tokenize", None) or TokenizeSettings()
    spark = spark_session(settings.spark, spark_master)
    return tokenize_corpus(spark, Path(corpus), tokenizer, Path(out), tokenize_settings, overwrite=overwrite)


__all__ = ["REJECTS", "TOKENS", "TokenizeJobError", "tokenize_command", "tokenize_corpus"]
