"""Publishing a corpus version: shards written to a staging folder, the manifest with a sha256 per
shard, the accounting check, _SUCCESS, and an atomic swap into place.

A version is assembled in a hidden sibling directory and swapped with OUT only once complete
(spark/swap.py), so a reader sees either the old version or the whole new one, at every instant,
however the build dies; what a dead build staged is removed by the next build of the same OUT.
`PUBLISH_POINTS` name the steps between which a test kills a real build (steps/faults.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from symcorpus import __version__, schema
from symcorpus.config import Settings
from symcorpus.errors import UsageError
from symcorpus.shards import write_empty
from symcorpus.spark import swap
from symcorpus.steps import faults

SPLITS = ("train", "valid", "test")
TABLE_DIRS = ("corpus/train", "corpus/valid", "corpus/test", "duplicates", "rejects", "errors")
# Where a publish can be cut: corpus shards written (other tables not yet), manifest written
# (_SUCCESS not yet), _SUCCESS written (not swapped yet), swapped (old version not yet removed).
PUBLISH_POINTS = ("publish-tables", "publish-manifest", "publish-success", "publish-swap")


class OutputExistsError(UsageError):
    """OUT exists and --overwrite was not given."""


class NotACorpusError(UsageError):
    """A path given as a published corpus version has no manifest.json."""


class AccountingError(RuntimeError):
    """The published tables do not add up to the input: a bug, never published."""


@dataclass
class BuildResult:
    out: Path | str  # a folder, or the URI of a version in object storage (spark/remote.py)
    counts: dict[str, int]
    by_format: dict[str, dict[str, int]]  # format -> outcome -> records
    skipped_files: int
    seconds: float
    manifest: dict[str, Any] = field(repr=False)

    @property
    def pieces_per_second(self) -> float:
        return self.counts["input"] / self.seconds if self.seconds else 0.0


@dataclass
class VersionTables:
    """What a version publishes, as Spark frames, and the records it must account for."""

    kept: Any  # light rows of the kept pieces with `split`, `staged` and `row` (spark/staging.py)
    duplicates: Any  # DUPLICATES columns
    errors: Any  # ERRORS columns
    rejects: Any  # REJECTS columns
    split_rows: Counter  # split -> kept pieces
    split_bytes: Counter  # split -> bytes of content, to size the shards
    expected_input: int | None = None
    staged: Path | None = None  # where the kept pieces' corpus columns wait (spark/staging.py)


def _uri_like(path: str) -> bool:
    """s3://x, or s3:/x as pathlib leaves it: a URI where a folder is expected."""
    scheme, _, rest = path.partition(":/")
    return bool(rest) and scheme.isalnum() and len(scheme) > 1 and not scheme.startswith("/")


def corpus_manifest(corpus: Path) -> dict[str, Any]:
    """The manifest of a published version; NotACorpusError when there is none."""
    if _uri_like(str(corpus)):
        raise NotACorpusError(f"{corpus}: a version in object storage is read through its _SUCCESS pointer "
                              "(spark/remote.py current_version); copy it to a folder for this command")
    path = Path(corpus) / "manifest.json"
    if not path.is_file():
        raise NotACorpusError(f"not a published corpus version (no manifest.json): {corpus}")
    return json.loads(path.read_text())


def prepare_out(out: str | Path, overwrite: bool) -> Path:
    """OUT as an absolute path, checked; what dead builds of it left behind is removed."""
    if _uri_like(str(out)):
        raise UsageError(f"--out {out}: only `symcorpus build` publishes into object storage; "
                         "give a local or mounted folder here")
    out = Path(out).expanduser().resolve()
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output exists: {out} (use --overwrite to replace it)")
    swap.remove_stale(out)
    return out


def work_dir(out: Path) -> Path:
    """Where a build keeps its finished batches until it publishes (steps/resume.py)."""
    return out.parent / f".{out.name}.work"


def file_sha256(path: Path) -> str:
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
                    "sha256": file_sha256(shard),
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


def finish(staging: Path, out: Path, overwrite: bool) -> str:
    """Mark the staged version complete and swap it into place (spark/swap.py); returns how."""
    (staging / "_SUCCESS").write_text("")
    faults.at_point("publish-success")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output exists: {out} (use --overwrite)")
    swap.release(staging)
    return swap.place(staging, out, after_swap=lambda: faults.at_point("publish-swap"))


def check_accounting(manifest: dict[str, Any], expected_input: int | None = None) -> None:
    """input == kept + duplicates + rejected + errors, the shards hold exactly those rows, and
    input is every record that came in (no row lost in a join on the way)."""
    counts = manifest["counts"]
    if expected_input is not None and counts["input"] != expected_input:
        raise AccountingError(f"{expected_input} records came in, the tables account for {counts['input']}")
    parts = counts["kept"] + counts["duplicates"] + counts["rejected"] + counts["errors"]
    if counts["input"] != parts:
        raise AccountingError(f"input {counts['input']} != kept + duplicates + rejected + errors = {parts}")
    rows: Counter = Counter()
    for shard in manifest["shards"]:
        rows[shard["path"].split("/")[0]] += shard["rows"]
    table_counts = {"corpus": "kept", "duplicates": "duplicates", "rejects": "rejected", "errors": "errors"}
    for table, key in table_counts.items():
        if rows[table] != counts[key]:
            raise AccountingError(f"{table}/ holds {rows[table]} rows, counts say {key}={counts[key]}")


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A hidden sibling folder to assemble a version in, marked as this process's; removed if
    anything fails (and by the next build if this process dies)."""
    staging = swap.staging_dir(out)
    staging.mkdir(parents=True)
    swap.claim(staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_tables(tables: VersionTables, root: Path, settings: Settings) -> dict[str, int]:
    """Every table of the version as shards under `root`; rows per table."""
    from symcorpus.spark.frames import write_table
    from symcorpus.spark.staging import write_corpus

    shards = {split: math.ceil(tables.split_bytes[split] / settings.publish.shard_bytes)
              for split in SPLITS if tables.split_rows[split]}
    write_corpus(tables.kept, tables.staged, root, shards)
    for split in SPLITS:
        if tables.split_rows[split] == 0:
            write_empty(root / "corpus" / split, schema.CORPUS)
    faults.at_point("publish-tables")
    rows = {"kept": sum(tables.split_rows.values())}
    for name, frame, arrow_schema in [("duplicates", tables.duplicates, schema.DUPLICATES),
                                      ("errors", tables.errors, schema.ERRORS),
                                      ("rejects", tables.rejects, schema.REJECTS)]:
        rows[name] = frame.count()
        if rows[name]:
            write_table(frame, root / name, math.ceil(rows[name] / 1_000_000), arrow_schema)
        else:
            write_empty(root / name, arrow_schema)
    return rows


def publish_version(tables: VersionTables, out: Path, settings: Settings, *, overwrite: bool,
                    sources: list[dict], extra: dict[str, Any], started: float, progress) -> dict[str, Any]:
    """Write the version's tables and manifest, check that they account for every record, and move
    the version into `out` atomically. Returns the manifest."""
    from symcorpus.spark.session import stage_progress

    with staged(out) as staging:
        write_started = time.time()
        with stage_progress(progress, "write shards"):
            rows = write_tables(tables, staging, settings)
        counts = {
            "input": rows["kept"] + rows["duplicates"] + rows["rejects"] + rows["errors"],
            "kept": rows["kept"], "duplicates": rows["duplicates"], "rejected": rows["rejects"],
            "errors": rows["errors"], "by_split": {s: tables.split_rows[s] for s in SPLITS},
        }
        stage_seconds = {**extra.pop("stage_seconds", {}), "write": round(time.time() - write_started, 2)}
        manifest = write_manifest(staging, params=settings.to_dict(), sources=sources, counts=counts,
                                  extra={**extra, "build_seconds": round(time.time() - started, 2),
                                         "stage_seconds": stage_seconds})
        faults.at_point("publish-manifest")
        check_accounting(manifest, tables.expected_input)
        finish(staging, out, overwrite)
    return manifest
