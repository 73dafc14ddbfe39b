"""Sources in object storage, read through a real S3-API server on 127.0.0.1 (symcorpus/testing/s3.py):
each source kind and a corpus adapter give the same records, metadata and join report from s3://
as from a local folder. Credentials and endpoint come from the AWS_* variables the fixture sets."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from symcorpus.config import Settings
from symcorpus.sources import SourceError, resolve_source, storage
from symcorpus.steps import run_local_sources
from symcorpus.testing import replicas as r
from symcorpus.testing.s3 import s3, s3_server  # noqa: F401  (fixtures)


def upload(endpoint, local: Path, prefix: str) -> str:
    fs = endpoint.fsspec_filesystem()
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.pipe(f"{endpoint.bucket}/{prefix}/{path.relative_to(local).as_posix()}", path.read_bytes())
    return endpoint.uri(prefix)



def read(spec: str, **options):
    return run_local_sources([resolve_source(spec, options=options or None)], Settings(), steps=[])


def test_a_corpus_adapter_reads_the_same_from_s3(s3, tmp_path):
    giga = r.make_gigamidi(tmp_path / "giga", missing_shard=True)
    uri = upload(s3, giga.root, "corpora/GigaMIDI")
    local, remote = read(f"gigamidi:{giga.root}"), read(f"gigamidi:{uri}")
    assert remote.rows == local.rows and remote.joins == local.joins
    assert len([row for row in remote.rows if row["status"] == "pending"]) == len(giga.files)
    assert remote.sources[0]["uri"] == uri


def test_folders_parquet_and_manifests_read_from_s3(s3, tmp_path):
    lakh = r.make_lakh(tmp_path / "lakh")
    files = tmp_path / "folder"
    (files / "a").mkdir(parents=True)
    for rel in lakh.full_files[:3]:
        (files / "a" / Path(rel).name).write_bytes((lakh.root / rel).read_bytes())
    pq.write_table(pa.table({"music": [(lakh.root / rel).read_bytes() for rel in lakh.full_files[:4]],
                             "md5": [Path(rel).stem for rel in lakh.full_files[:4]]}), files / "rows.parquet")
    lines = [{"path": f"a/{Path(rel).name}", "genre": "folk"} for rel in lakh.full_files[:3]]
    (files / "pieces.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    uri = upload(s3, files, "folder")
    for spec in ("{}", "parquet:{}/rows.parquet", "{}/pieces.jsonl"):
        local, remote = read(spec.format(files)), read(spec.format(uri))
        assert [row.get("content") for row in remote.rows] == [row.get("content") for row in local.rows]
        assert [row.get("source_meta") for row in remote.rows] == [row.get("source_meta") for row in local.rows]
    folder = read(uri)
    assert sorted(row["path"] for row in folder.rows) == sorted(
        [f"a/{Path(rel).name}" for rel in lakh.full_files[:3]] + ["pieces.jsonl", "rows.parquet"])
    with pytest.raises(SourceError, match="source not found"):
        resolve_source(s3.uri("nothing-here/"))


def test_params_storage_options_win_over_the_environment(s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # nothing listens there
    options = storage.storage_options(s3.uri(), {"endpoint_url": s3.url})
    assert options["endpoint_url"] == s3.url and options["key"] == s3.access_key
    s3.fsspec_filesystem().pipe(f"{s3.bucket}/x/one.mid", b"MThd")
    assert storage.list_files(s3.uri("x"), options) == [("one.mid", 4)]
    settings = Settings()
    settings.ingest.storage_options = {"endpoint_url": s3.url, "secret": "not-published"}
    assert settings.to_dict()["ingest"]["storage_options"] == {"endpoint_url": s3.url, "secret": "***"}
