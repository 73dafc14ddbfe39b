"""A version published into object storage: a real Spark build reads its sources from, and
publishes its version into, a real S3-API server on 127.0.0.1 (symcorpus/testing/s3.py), behind
the `_SUCCESS` pointer of spark/remote.py. The shards are the ones a local build writes."""

from __future__ import annotations

import hashlib
import json

import pytest

from symcorpus.spark import remote
from symcorpus.spark.build import build
from symcorpus.spark.publish import NotACorpusError, OutputExistsError, corpus_manifest
from symcorpus.testing.s3 import s3, s3_server  # noqa: F401  (fixtures)
from tests.conftest import make_settings


def shard_sums(manifest: dict) -> dict[str, str]:
    return {entry["path"]: entry["sha256"] for entry in manifest["shards"]}


@pytest.fixture
def sources(s3, tmp_path, midi_from_abc):
    folder = tmp_path / "files"
    folder.mkdir()
    fs = s3.fsspec_filesystem()
    for name, data in midi_from_abc:
        (folder / name).write_bytes(data)
        fs.pipe(f"{s3.bucket}/in/{name}", data)
    return folder, s3.uri("in")


def test_a_build_reads_and_publishes_through_s3(s3, sources, tmp_path, spark):
    _, uri = sources
    settings = make_settings()
    settings.publish.scratch_dir = str(tmp_path / "scratch")
    # The store is what is tested here; the near level (tested elsewhere) costs a third of each build.
    settings.dedup.levels = ["exact", "notes"]
    local = build([uri], tmp_path / "local", settings)  # the same source into a local folder
    out = s3.uri("corpora/demo")
    assert remote.current_version(out) is None
    first = build([uri], out, settings)

    version = remote.current_version(out)
    assert first.out == version and version.startswith(out + "/v-")
    manifest = remote.read_manifest(out)
    assert manifest["counts"] == local.manifest["counts"]
    # The same shards, byte for byte, as the local build of the same source; each one in the store.
    assert shard_sums(manifest) == shard_sums(corpus_manifest(local.out))
    fs = s3.fsspec_filesystem()
    for path, digest in shard_sums(manifest).items():
        assert hashlib.sha256(fs.cat(f"{version[len('s3://'):]}/{path}")).hexdigest() == digest
    pointer = json.loads(fs.cat(f"{s3.bucket}/corpora/demo/_SUCCESS"))
    assert pointer["manifest_sha256"] == hashlib.sha256(fs.cat(f"{version[len('s3://'):]}/manifest.json")).hexdigest()
    assert not list((tmp_path / "scratch").rglob("*.parquet"))  # the local copy is gone once published

    with pytest.raises(OutputExistsError, match="--overwrite"):
        build([uri], out, settings)
    second = build([uri], out, settings, overwrite=True)
    assert remote.current_version(out) == second.out != first.out
    assert shard_sums(remote.read_manifest(out)) == shard_sums(manifest)
    # The version before stays for readers that resolved the pointer just before the swap.
    assert fs.exists(f"{first.out[len('s3://'):]}/manifest.json")


def test_old_and_orphaned_versions_go_keeping_the_one_before(s3):
    fs = s3.fsspec_filesystem()
    names = ["v-20260101T000000Z-aaaaaaaa", "v-20260102T000000Z-bbbbbbbb", "v-20260103T000000Z-cccccccc",
             "v-20260104T000000Z-dddddddd"]  # the last: a dead build's upload, never pointed at
    for name in names:
        fs.pipe(f"{s3.bucket}/out/{name}/manifest.json", b"{}")
    removed = remote.remove_old_versions(s3.uri("out"), names[2], {})
    assert sorted(removed) == [names[0], names[3]]
    fs.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{s3.bucket}/out")) == names[1:3]


def test_other_commands_say_what_to_do_with_an_object_store_path():
    with pytest.raises(NotACorpusError, match="_SUCCESS pointer"):
        corpus_manifest("s3://bucket/corpora/demo")
