"""Exports of a published version for other tools: MidiCaps-style caption lines.

DuckDB reads the shards directly (no Spark needed for a projection of two columns).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from symcorpus.errors import UsageError
from symcorpus.spark.publish import SPLITS, corpus_manifest


def export_captions(corpus: Path, out: Path, split: str | None = None) -> int:
    """One JSON object per line, {"location": ..., "caption": ...}, as MidiCaps publishes them.

    `location` is the piece's source and path (archive member, `#tune` for ABC tunes), with its id
    so the line leads back to the corpus row. Sorted by id: the same version gives the same file.
    """
    corpus_manifest(corpus)  # NotACorpusError when it is not a published version
    if split is not None and split not in SPLITS:
        raise UsageError(f"unknown split {split!r}: choose {', '.join(SPLITS)}")
    pattern = corpus / "corpus" / (split or "*") / "*.parquet"
    rows = duckdb.sql(
        f"SELECT id, source, path, caption FROM read_parquet('{pattern}') "
        "WHERE caption IS NOT NULL ORDER BY id"
    ).fetchall()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for piece_id, source, path, caption in rows:
            line = {"location": f"{source}:{path}", "id": piece_id, "caption": caption}
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return len(rows)
