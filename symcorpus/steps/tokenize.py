"""Tokenize: corpus rows in, token rows out (one per chunk of a piece), or one reject row with the
reason the tokenizer could not take the piece. What the tokenize job runs in the executors."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator

import pyarrow as pa

from symcorpus.arrays import list_column
from symcorpus.schema import TOKENS
from symcorpus.tokenizers import TokenizeError, Tokenizer
from symcorpus.tokenizers.abc import AbcError, normalize_abc
from symcorpus.tokenizers.conditions import piece_values

# What the tokenize function emits: token rows, and reject rows (reason set, tokens null).
OUTPUT = pa.schema(list(TOKENS) + [pa.field("split", pa.string()), pa.field("reason", pa.string()),
                                     pa.field("detail", pa.string())])
VALUES = pa.schema([pa.field("family", pa.string()), pa.field("value", pa.string())])

# Corpus columns the condition families read (any may be missing in a corpus version).
LABEL_COLUMNS = ("labels", "key", "key_signature", "time_signature", "tempo_bpm", "duration_seconds",
                  "instruments", "has_drums")




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
                                         schema=VALUES)


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


class Tokenize:
    """Corpus rows with `id`, `split`, `format`, `data` (the bytes to tokenize) and the label columns
    in; token rows (one per chunk) and reject rows (reason and detail) out, as OUTPUT batches."""

    name = "tokenize"

    def __init__(self, tokenizer_json: str):
        self.tokenizer_json = tokenizer_json  # JSON: the step pickles small and builds the tokenizer once per worker

    def run(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return tokenize_batches(batches, self.tokenizer_json)


def tokenize_batches(batches: Iterator[pa.RecordBatch], tokenizer_json: str) -> Iterator[pa.RecordBatch]:
    """What `Tokenize.run` does (a function, so it is easy to call on pyarrow batches directly)."""
    tok = _tokenizer(tokenizer_json)
    for batch in batches:
        out: dict[str, list] = {name: [] for name in OUTPUT.names}
        for row in batch.to_pylist():
            try:
                chunks = tok.encode_music(row["data"], row["format"], row.get("labels"))
                if not chunks:
                    raise TokenizeError("no_tokens", "nothing to tokenize")
                conditions = tok.encode_conditions(row)
            except TokenizeError as e:
                values = [row["id"], 0, None, None, None, row["split"], e.reason, e.detail]
                for name, value in zip(OUTPUT.names, values):
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
        tokens = list_column(out["tokens"], TOKENS.field("tokens").type)
        conditions = pa.array(out["conditions"], pa.list_(pa.int32()))
        yield pa.RecordBatch.from_arrays(
            [pa.array(out["id"], pa.string()), pa.array(out["chunk"], pa.int32()), tokens,
             pa.array(out["n_tokens"], pa.int32()), conditions, pa.array(out["split"], pa.string()),
             pa.array(out["reason"], pa.string()), pa.array(out["detail"], pa.string())],
            schema=OUTPUT,
        )
