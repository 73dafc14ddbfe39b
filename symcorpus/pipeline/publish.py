"""Publishing a corpus version: tidy shard names, manifest, _SUCCESS, and an atomic rename.

A version is assembled in a hidden sibling directory and renamed into place only once complete, so
a reader sees either the old version, or the whole new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from symcorpus import __version__, schema

TABLE_DIRS = ("corpus/train", "corpus/valid", "corpus/test", "duplicates", "rejects", "errors")


class OutputExistsError(FileExistsError):
    pass


class NotACorpusError(FileNotFoundError):
    """A path given as a published corpus version has no manifest.json."""


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"


def tidy_spark_output(directory: Path) -> None:
    """Spark's part files get stable names (part-00000.parquet, ...); its markers and CRCs go."""
    parts = sorted(p for p in directory.glob("part-*") if p.name.endswith(".parquet"))
    for leftover in directory.iterdir():
        if leftover.name.startswith((".", "_")) and leftover.is_file():
            leftover.unlink()
    for i, part in enumerate(parts):
        part.rename(directory / f"part-{i:05d}.parquet")


def write_empty_table(directory: Path, arrow_schema: pa.Schema) -> None:
    """A table with no rows still gets one shard, so its schema is there for every reader."""
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow_schema.empty_table(), directory / "part-00000.parquet", compression="zstd")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shard_entries(root: Path) -> list[dict[str, Any]]:
    entries = []
    for table in TABLE_DIRS:
        for shard in sorted((root / table).glob("part-*.parquet")):
            entries.append(
                {
                    "path": shard.relative_to(root).as_posix(),
                    "rows": pq.read_metadata(shard).num_rows,
                    "bytes": shard.stat().st_size,
                    "sha256": _sha256(shard),
                }
            )
    return entries


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    head = Path(__file__).resolve().parents[2] / ".git"
    try:
        ref = (head / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            ref = (head / ref[5:]).read_text().strip()
        return f"{__version__}+g{ref[:12]}"
    except OSError:
        return __version__


def write_manifest(root: Path, *, params: dict, sources: list[dict], counts: dict, extra: dict) -> dict:
    manifest = {
        "schema_version": schema.SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "params": params,
        "sources": sources,
        "counts": counts,
        **extra,
        "shards": shard_entries(root),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def finish(staging: Path, out: Path, overwrite: bool) -> None:
    """Mark the staged version complete and move it into place."""
    (staging / "_SUCCESS").write_text("")
    if out.exists():
        if not overwrite:
            raise OutputExistsError(f"output exists: {out} (use --overwrite)")
        trash = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out, trash)
        os.rename(staging, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(staging, out)
