"""Where sources live: local folders, or object storage and any other filesystem fsspec knows
(`s3://bucket/prefix`, `gs://`, `hf://datasets/...`, `memory://`).

Local paths are read with the standard library (the fast path every folder build takes); a URI is
read through fsspec. The driver only lists (object names and sizes, archive indexes, Parquet
footers); the bytes are read by the workers, each opening the object itself.

S3 credentials and endpoint come from the standard AWS environment variables (`AWS_ENDPOINT_URL`
or `AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_DEFAULT_REGION`), or from params (`ingest.storage_options`, which win). They are resolved once
on the driver and handed to the workers with the read step, so a worker started before the
variables were set still reaches the same store.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from typing import IO, Any

# fsspec option names that hold secrets: never written to a manifest.
SECRET_OPTIONS = frozenset({"key", "secret", "token", "password", "access_key", "secret_key", "session_token"})


def is_remote(uri: str) -> bool:
    """True for a URI with a scheme other than file:// (those go through fsspec)."""
    return "://" in uri and not uri.startswith("file://")


def local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


def scheme(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if is_remote(uri) else "file"


def join(root: str, rel: str) -> str:
    """`rel` under `root` (a folder or a URI prefix)."""
    if not rel:
        return root
    return root.rstrip("/") + "/" + rel if is_remote(root) else os.path.join(local_path(root), rel)


def relative(path: str, root: str) -> str:
    return posixpath.relpath(path, root.rstrip("/")) if is_remote(root) else os.path.relpath(path, local_path(root))


def storage_options(uri: str, configured: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """fsspec options for `uri`: params' values, and for S3 the AWS variables where params say
    nothing. Empty for local paths."""
    options = dict(configured or {})
    if scheme(uri) not in ("s3", "s3a"):
        return options if is_remote(uri) else {}
    env = os.environ
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    from_env = {"endpoint_url": endpoint, "key": env.get("AWS_ACCESS_KEY_ID"),
                "secret": env.get("AWS_SECRET_ACCESS_KEY"), "token": env.get("AWS_SESSION_TOKEN")}
    for name, value in from_env.items():
        if value and name not in options:
            options[name] = value
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        client = dict(options.get("client_kwargs") or {})
        client.setdefault("region_name", region)
        options["client_kwargs"] = client
    return options


def public_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options with secret values masked, for a manifest or a log."""
    return {k: ("***" if k in SECRET_OPTIONS and v else v) for k, v in options.items()}


def filesystem(uri: str, options: Mapping[str, Any] | None = None):
    """The fsspec filesystem of `uri` and the path inside it."""
    import fsspec

    return fsspec.core.url_to_fs(uri, **dict(options or {}))


def walk(root: str) -> list[tuple[str, int]]:
    """(relative path, size) of every file under a local folder, sorted directory by directory."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(directory, name)
            if os.path.isfile(full):
                found.append((os.path.relpath(full, root), os.path.getsize(full)))
    return found


def list_files(root: str, options: Mapping[str, Any] | None = None) -> list[tuple[str, int]]:
    """(relative path, size) of every file under a folder or URI prefix, in a deterministic order."""
    if not is_remote(root):
        return walk(local_path(root))
    fs, path = filesystem(root, options)
    path = path.rstrip("/")
    entries = fs.find(path, detail=True)
    found = [(posixpath.relpath(name, path), int(info.get("size") or 0))
             for name, info in entries.items() if info.get("type", "file") == "file"]
    return sorted(found, key=lambda entry: walk_order(entry[0]))


def walk_order(rel: str) -> list[tuple[int, str]]:
    """Sort key giving `walk`'s order to relative paths: a folder's files, then its subfolders."""
    parts = rel.split("/")
    return [(1, part) for part in parts[:-1]] + [(0, parts[-1])]


def open_file(uri: str, options: Mapping[str, Any] | None = None) -> IO[bytes]:
    """A binary, seekable file object (objects are fetched in ranges as they are read)."""
    if not is_remote(uri):
        return open(local_path(uri), "rb")
    fs, path = filesystem(uri, options)
    return fs.open(path, "rb")


def read_bytes(uri: str, options: Mapping[str, Any] | None = None) -> bytes:
    with open_file(uri, options) as f:
        return f.read()


def file_size(uri: str, options: Mapping[str, Any] | None = None) -> int:
    if not is_remote(uri):
        return os.path.getsize(local_path(uri))
    fs, path = filesystem(uri, options)
    return int(fs.size(path))


def kind_of(uri: str, options: Mapping[str, Any] | None = None) -> str | None:
    """'dir', 'file', or None when nothing is there."""
    if not is_remote(uri):
        path = local_path(uri)
        return "dir" if os.path.isdir(path) else "file" if os.path.exists(path) else None
    fs, path = filesystem(uri, options)
    if fs.isdir(path):
        return "dir"
    return "file" if fs.isfile(path) else None


def exists(uri: str, options: Mapping[str, Any] | None = None) -> bool:
    return kind_of(uri, options) is not None
