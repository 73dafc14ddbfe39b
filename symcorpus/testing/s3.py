"""A real S3-API server on 127.0.0.1 for tests, and pytest fixtures around it.

The server is moto's S3 implementation (`moto[server]`, a dev extra) behind a werkzeug HTTP
server in a thread of the test process, answering the S3 REST API over real HTTP. It binds port 0
and the port the OS gave it is read back from the bound socket, so no port is picked and released
before use. Clients reach it exactly as they reach a cloud store: pyarrow's S3FileSystem,
s3fs/fsspec, boto3, or DuckDB through an fsspec filesystem.

Use from a test module (or a conftest):

    from symcorpus.testing.s3 import s3, s3_server  # noqa: F401  (pytest fixtures)

`s3_server` lives for the session; `s3` gives each test its own empty bucket and sets
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION for that test.
Environment variables reach only this process and the processes it starts afterwards: a Spark or
Ray worker started earlier must be given `S3Endpoint` values explicitly.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    import pyarrow.fs

ACCESS_KEY = "symcorpus-test"
SECRET_KEY = "symcorpus-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Endpoint:
    """Where the test store answers and how to sign requests to it."""

    host: str
    port: int
    bucket: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def env(self) -> dict[str, str]:
        """The variables AWS SDKs, pyarrow and s3fs read; metadata lookups and config files off,
        so nothing on the machine (a real profile, an instance role) leaks into a test."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def pyarrow_filesystem(self) -> pyarrow.fs.S3FileSystem:
        from pyarrow import fs

        return fs.S3FileSystem(
            endpoint_override=f"{self.host}:{self.port}",
            scheme="http",
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
        )

    def fsspec_filesystem(self):
        """An s3fs filesystem; `skip_instance_cache` so each test gets one bound to its bucket's
        server, not a cached instance from an earlier server."""
        import fsspec

        return fsspec.filesystem(
            "s3",
            endpoint_url=self.url,
            key=self.access_key,
            secret=self.secret_key,
            client_kwargs={"region_name": self.region},
            skip_instance_cache=True,
        )


class LocalS3Server:
    """moto's S3 app served on 127.0.0.1, on the port the OS assigns; a context manager.

    Built from moto's WSGI app rather than its ThreadedMotoServer because stopping must also close
    the listening socket: after `stop()` a connection is refused, not left waiting in a backlog.
    """

    def __init__(self) -> None:
        self._server = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"
        self.port = 0

    def start(self) -> LocalS3Server:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        # werkzeug logs one line per request at INFO; keep test output readable.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = DomainDispatcherApplication(create_backend_app)
        # Port 0: the OS picks a free port while binding; we read back the one it bound.
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()  # ends serve_forever
        self._server.server_close()  # closes the listening socket
        self._thread.join()
        self._server = self._thread = None

    def create_bucket(self, name: str) -> S3Endpoint:
        import boto3

        endpoint = S3Endpoint(self.host, self.port, name)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint.url,
            aws_access_key_id=endpoint.access_key,
            aws_secret_access_key=endpoint.secret_key,
            region_name=endpoint.region,
        )
        client.create_bucket(Bucket=name)
        return endpoint

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


_bucket_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3Server]:
    with LocalS3Server() as server:
        yield server


@pytest.fixture
def s3(s3_server: LocalS3Server, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    """A fresh bucket on the session's server, with the AWS variables set for this test only."""
    endpoint = s3_server.create_bucket(f"test-bucket-{next(_bucket_numbers)}")
    for name, value in endpoint.env().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    return endpoint
