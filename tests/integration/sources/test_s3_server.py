"""The local S3-API server the object-storage tests use, driven over real HTTP by the clients
symcorpus uses to read and write object storage: pyarrow's S3FileSystem, s3fs/fsspec, and DuckDB
(through an fsspec filesystem, since its httpfs extension cannot be installed offline)."""

from __future__ import annotations

import hashlib
import os
import socket
from urllib.parse import urlparse

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from symcorpus.testing.replicas import abc_pieces
from symcorpus.testing.s3 import LocalS3Server, s3, s3_server  # noqa: F401  (pytest fixtures)


def filesystem_from_env() -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem configured from the AWS_* variables only."""
    url = urlparse(os.environ["AWS_ENDPOINT_URL"])
    return pafs.S3FileSystem(
        endpoint_override=url.netloc,
        scheme=url.scheme,
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ["AWS_DEFAULT_REGION"],
    )


def midi_table() -> pa.Table:
    """Real MIDI files (music21 ABC tunes rendered by our converter), keyed by md5."""
    pieces = abc_pieces("airdsAirs/book6.abc", 6)
    return pa.table(
        {
            "md5": [p.md5 for p in pieces],
            "title": [p.title for p in pieces],
            "music": pa.array([p.midi for p in pieces], pa.binary()),
        }
    )


def test_server_listens_on_loopback_at_the_port_it_reports(s3_server):
    assert s3_server.host == "127.0.0.1" and s3_server.port > 0
    with socket.create_connection((s3_server.host, s3_server.port), timeout=5):
        pass


def test_environment_names_the_server(s3, s3_server):
    assert os.environ["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{s3_server.port}"
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert os.environ["AWS_ACCESS_KEY_ID"] and os.environ["AWS_SECRET_ACCESS_KEY"]


def test_each_test_gets_an_empty_bucket_of_its_own(s3):
    fs = filesystem_from_env()
    assert fs.get_file_info(pafs.FileSelector(s3.bucket, recursive=True)) == []


def test_pyarrow_writes_lists_and_reads_objects(s3):
    fs = filesystem_from_env()
    pieces = abc_pieces("airdsAirs/book6.abc", 3)
    for p in pieces:
        with fs.open_output_stream(f"{s3.bucket}/midi/{p.md5[0]}/{p.md5}.mid") as out:
            out.write(p.midi)
    listed = sorted(
        info.path for info in fs.get_file_info(pafs.FileSelector(f"{s3.bucket}/midi", recursive=True))
        if info.type == pafs.FileType.File
    )
    assert listed == sorted(f"{s3.bucket}/midi/{p.md5[0]}/{p.md5}.mid" for p in pieces)
    for p in pieces:
        data = fs.open_input_file(f"{s3.bucket}/midi/{p.md5[0]}/{p.md5}.mid").read()
        assert hashlib.md5(data).hexdigest() == p.md5
    with pytest.raises(FileNotFoundError):
        fs.open_input_file(f"{s3.bucket}/midi/absent.mid")


def test_pyarrow_finds_the_server_from_the_environment_alone(s3):
    with filesystem_from_env().open_output_stream(f"{s3.bucket}/hello.txt") as out:
        out.write(b"hello")
    fs, path = pafs.FileSystem.from_uri(s3.uri("hello.txt"))
    assert fs.open_input_file(path).read() == b"hello"


def test_fsspec_writes_lists_and_reads_objects(s3):
    fs = fsspec.filesystem("s3", skip_instance_cache=True)  # endpoint and keys from the environment
    pieces = abc_pieces("airdsAirs/book6.abc", 3)
    for p in pieces:
        fs.pipe(f"{s3.bucket}/midi/{p.md5}.mid", p.midi)
    assert sorted(fs.ls(f"{s3.bucket}/midi")) == sorted(f"{s3.bucket}/midi/{p.md5}.mid" for p in pieces)
    for p in pieces:
        assert fs.cat(f"{s3.bucket}/midi/{p.md5}.mid") == p.midi
    # What one client wrote the other reads: same store, same keys.
    assert filesystem_from_env().open_input_file(f"{s3.bucket}/midi/{pieces[0].md5}.mid").read() == pieces[0].midi


def test_parquet_written_to_s3_reads_back_with_pyarrow_and_duckdb(s3):
    table = midi_table()
    pq.write_table(table, f"{s3.bucket}/x.parquet", filesystem=filesystem_from_env(), row_group_size=2)

    fs, path = pafs.FileSystem.from_uri(s3.uri("x.parquet"))
    assert pq.read_table(path, filesystem=fs).equals(table)
    assert pq.ParquetFile(fs.open_input_file(path)).metadata.num_row_groups == 3

    con = duckdb.connect()
    con.register_filesystem(s3.fsspec_filesystem())
    query = f"SELECT md5, title, music FROM read_parquet('{s3.uri('x.parquet')}') ORDER BY md5"
    rows = con.execute(query).fetchall()
    expected = sorted(zip(*(table.column(c).to_pylist() for c in ("md5", "title", "music"))))
    assert [(m, t, bytes(b)) for m, t, b in rows] == expected
    assert all(hashlib.md5(bytes(b)).hexdigest() == m for m, _, b in rows)


def test_stopped_server_refuses_connections():
    server = LocalS3Server().start()
    host, port = server.host, server.port
    endpoint = server.create_bucket("short-lived")
    fs = endpoint.pyarrow_filesystem()
    with fs.open_output_stream("short-lived/a.bin") as out:
        out.write(b"a")
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=5).close()
