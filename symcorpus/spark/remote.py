"""Versions published into object storage (`--out s3://bucket/prefix`, or any URI fsspec knows).

Object stores have no rename and no symlink, so the swap of spark/swap.py cannot be done there.
A version is published manifest-last, behind a pointer:

    OUT/v-<UTC time>-<8 hex>/...        the version's files: corpus/, duplicates/, ..., manifest.json
    OUT/_SUCCESS                        {"version": "v-...", "manifest_sha256": ...}: the current one

1. The build assembles the version in a local scratch folder exactly as for a local OUT (the same
   shards, byte for byte), under `publish.scratch_dir` (default: the system's temporary folder;
   on a cluster, a folder every executor sees, as for a local OUT).
2. The executors upload its files under `OUT/v-.../`, the manifest last of all.
3. `_SUCCESS` is written: one PUT, which object stores apply whole. Before it, readers see the
   previous version; after it, the new one. Nothing else ever changes a published version.
4. Versions other than the new one and the one before it are deleted: a reader that resolved the
   pointer just before step 3 can still finish reading what it found.

A build that dies before step 3 leaves an unreferenced `v-...` prefix, removed by the next build
of OUT (step 4). Readers resolve the pointer with `current_version`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from symcorpus.errors import UsageError
from symcorpus.sources import storage
from symcorpus.spark.publish import OutputExistsError

POINTER = "_SUCCESS"
MANIFEST = "manifest.json"
KEEP_VERSIONS = 2  # the new version and the one before it


def scratch_out(uri: str, scratch_dir: str | None) -> Path:
    """The local folder a build for `uri` assembles its version in: the same for every build of
    that URI, so that a killed build's finished batches are found again (steps/resume.py)."""
    root = Path(scratch_dir or tempfile.gettempdir()).expanduser().resolve()
    return root / "symcorpus-out" / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16] / "version"


def current_version(uri: str, options: dict[str, Any] | None = None) -> str | None:
    """The URI of OUT's current version (what `_SUCCESS` points at), or None before the first."""
    pointer = storage.join(uri, POINTER)
    if not storage.exists(pointer, options):
        return None
    return storage.join(uri, json.loads(storage.read_bytes(pointer, options))["version"])


def read_manifest(uri: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    version = current_version(uri, options)
    if version is None:
        raise UsageError(f"not a published corpus (no {POINTER} pointer): {uri}")
    return json.loads(storage.read_bytes(storage.join(version, MANIFEST), options))


def check_out(uri: str, overwrite: bool, options: dict[str, Any]) -> None:
    if current_version(uri, options) is not None and not overwrite:
        raise OutputExistsError(f"output exists: {uri} (use --overwrite to replace it)")


def _upload(pairs, options: dict[str, Any]):
    """Executor side: upload (local file, target URI) pairs; yields the bytes sent."""
    for local, target in pairs:
        fs, path = storage.filesystem(target, options)
        fs.put_file(local, path)
        yield Path(local).stat().st_size


def publish(spark, version_dir: Path, uri: str, options: dict[str, Any]) -> str:
    """Upload the version assembled in `version_dir` and point OUT at it; returns the version's URI."""
    name = f"v-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    target = storage.join(uri, name)
    files = sorted(p for p in version_dir.rglob("*") if p.is_file() and p.name != MANIFEST)
    pairs = [(str(p), storage.join(target, p.relative_to(version_dir).as_posix())) for p in files]
    if pairs:
        slices = max(1, min(len(pairs), spark.sparkContext.defaultParallelism * 2))
        spark.sparkContext.parallelize(pairs, slices).mapPartitions(lambda part: _upload(part, options)).sum()
    manifest = version_dir / MANIFEST
    list(_upload([(str(manifest), storage.join(target, MANIFEST))], options))
    pointer = {"version": name, "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
               "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    fs, path = storage.filesystem(storage.join(uri, POINTER), options)
    fs.pipe_file(path, json.dumps(pointer, indent=2).encode())
    remove_old_versions(uri, name, options)
    return target


def remove_old_versions(uri: str, current: str, options: dict[str, Any]) -> list[str]:
    """Delete version prefixes of OUT beyond the KEEP_VERSIONS newest (always keeping `current`),
    and versions of dead builds that were never pointed at."""
    fs, root = storage.filesystem(uri, options)
    root = root.rstrip("/")
    fs.invalidate_cache(root)
    names = sorted((p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)), reverse=True)
    versions = [n for n in names if n.startswith("v-")]
    kept = [current] + [v for v in versions if v < current][: KEEP_VERSIONS - 1]
    removed = [v for v in versions if v not in kept]
    for name in removed:
        fs.rm(f"{root}/{name}", recursive=True)
    return removed


def build_into_store(build, uri: str, settings, overwrite: bool, **kwargs):
    """`build` (spark/build.py) into a local scratch folder, then published at `uri`."""
    from symcorpus.spark.session import spark_session

    options = storage.storage_options(uri, settings.ingest.storage_options)
    check_out(uri, overwrite, options)
    local = scratch_out(uri, settings.publish.scratch_dir)
    if local.exists():  # a finished version of a build that died while uploading: built again
        shutil.rmtree(local)
    result = build(kwargs.pop("source_specs"), local, settings, overwrite=False, **kwargs)
    spark = spark_session(settings.spark, kwargs.get("spark_master"))
    result.out = publish(spark, local, uri, options)
    shutil.rmtree(local.parent, ignore_errors=True)
    return result
