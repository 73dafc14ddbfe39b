"""The catalog database: a `versions` table and views over each published version's shards.

For a version named `v1` the catalog holds four views, each a `read_parquet` over the version's
shard files, so DuckDB reads the Parquet in place and only the columns a query names:

    v1_corpus       OUT/corpus/*/*.parquet  (every column, `content` and `score_midi` included:
                    they cost nothing unless selected; `SELECT * EXCLUDE (content, score_midi)`)
    v1_duplicates   OUT/duplicates/*.parquet
    v1_rejects      OUT/rejects/*.parquet
    v1_errors       OUT/errors/*.parquet

and `all_corpus`, `all_duplicates`, `all_rejects`, `all_errors`: every registered version, with a
leading `version` column (columns matched by name, so versions of different schemas line up).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from symcorpus.errors import UsageError

DEFAULT_DB = Path("catalog.duckdb")

# Table name -> shard glob inside a published version.
TABLES: dict[str, str] = {
    "corpus": "corpus/*/*.parquet",
    "duplicates": "duplicates/*.parquet",
    "rejects": "rejects/*.parquet",
    "errors": "errors/*.parquet",
}
# Manifest count each table's rows must equal.
TABLE_COUNTS = {"corpus": "kept", "duplicates": "duplicates", "rejects": "rejected", "errors": "errors"}

# Names become parts of SQL identifiers: keep them plain so users need no quoting.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS versions (
    name VARCHAR PRIMARY KEY,
    path VARCHAR NOT NULL,
    created VARCHAR,            -- manifest: when the version was published (UTC, ISO 8601)
    registered VARCHAR,         -- when it entered this catalog
    schema_version VARCHAR,
    code_version VARCHAR,
    params_hash VARCHAR,        -- sha256 of the build params (canonical JSON), 16 hex digits
    input BIGINT, kept BIGINT, duplicates BIGINT, rejected BIGINT, errors BIGINT,
    train BIGINT, valid BIGINT, test BIGINT,
    sources VARCHAR[],
    manifest JSON
)
"""


class CatalogError(UsageError):
    """A mistake the user can fix (unknown version, bad SQL, not a published version...)."""


@dataclass(frozen=True)
class Version:
    name: str
    path: Path
    created: str
    schema_version: str
    code_version: str
    params_hash: str
    counts: dict[str, int]
    sources: list[str]

    def view(self, table: str) -> str:
        return view_name(self.name, table)


def view_name(version: str, table: str) -> str:
    return f"{version}_{table}"


def default_name(out: Path) -> str:
    """A version name from the OUT directory's name: other characters become `_`, and a leading
    digit gets a `v` (`2024-05` -> `v2024_05`)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", out.name) or "version"
    return name if not name[0].isdigit() else f"v{name}"


def params_hash(params: dict[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _first(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    # fetchall, not fetchone: DuckDB 2 refuses further work on a connection with an unfinished result.
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def connect(db: str | Path = DEFAULT_DB, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the catalog. Read-only opens need an existing catalog; writable ones create it."""
    db = Path(db)
    if read_only and not db.is_file():
        raise CatalogError(f"no catalog at {db} (register a version first: symcorpus catalog register OUT)")
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.Error as e:
        raise CatalogError(f"cannot open catalog {db}: {e}") from None
    if not read_only:
        con.execute(_VERSIONS_DDL)
    return con


@contextlib.contextmanager
def opened(db: str | Path = DEFAULT_DB, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """`connect`, closed when the block ends."""
    con = connect(db, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest of a complete published version, or a CatalogError saying what is missing."""
    if not out.is_dir():
        raise CatalogError(f"not a directory: {out}")
    if not (out / "manifest.json").is_file():
        raise CatalogError(f"not a published corpus version (no manifest.json): {out}")
    if not (out / "_SUCCESS").is_file():
        raise CatalogError(f"incomplete corpus version (no _SUCCESS): {out}")
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except json.JSONDecodeError as e:
        raise CatalogError(f"unreadable manifest.json in {out}: {e}") from None
    missing = [s["path"] for s in manifest.get("shards", []) if not (out / s["path"]).is_file()]
    if missing:
        raise CatalogError(f"{out}: {len(missing)} shard(s) listed in manifest.json are missing, e.g. {missing[0]}")
    return manifest


def _create_views(con: duckdb.DuckDBPyConnection, name: str, out: Path) -> None:
    for table, glob in TABLES.items():
        pattern = _sql_string((out / glob).as_posix())
        con.execute(
            f"CREATE OR REPLACE VIEW {view_name(name, table)} AS "
            f"SELECT * FROM read_parquet({pattern}, union_by_name = true)"
        )


def _create_union_views(con: duckdb.DuckDBPyConnection) -> None:
    registered = con.execute("SELECT name, path FROM versions ORDER BY name").fetchall()
    for name, path in registered:
        if not Path(path).is_dir():
            raise CatalogError(f"version {name!r} is gone from {path}; remove it: symcorpus catalog remove {name}")
    names = [name for name, _ in registered]
    for table in TABLES:
        if not names:
            con.execute(f"DROP VIEW IF EXISTS all_{table}")
            continue
        parts = [f"SELECT {_sql_string(n)} AS version, * FROM {view_name(n, table)}" for n in names]
        con.execute(f"CREATE OR REPLACE VIEW all_{table} AS " + " UNION ALL BY NAME ".join(parts))


def _in_transaction(con: duckdb.DuckDBPyConnection, what: str, work) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        work()
        con.execute("COMMIT")
    except duckdb.Error as e:
        con.execute("ROLLBACK")
        raise CatalogError(f"{what}: {str(e).strip().splitlines()[0]}") from None
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _check_counts(con: duckdb.DuckDBPyConnection, name: str, counts: dict[str, int]) -> None:
    for table, key in TABLE_COUNTS.items():
        [(rows,)] = con.execute(f"SELECT count(*) FROM {view_name(name, table)}").fetchall()
        if rows != counts.get(key):
            raise CatalogError(f"{table} holds {rows} rows but the manifest says {key}={counts.get(key)}")


def register_version(
    con: duckdb.DuckDBPyConnection, out: str | Path, name: str | None = None, *, replace: bool = False
) -> Version:
    """Record the published version in `out` under `name` (default: from OUT's directory name)."""
    out = Path(out).expanduser().resolve()
    manifest = read_manifest(out)
    name = name or default_name(out)
    if not NAME_PATTERN.fullmatch(name):
        raise CatalogError(
            f"bad version name {name!r}: use letters, digits and _ (not starting with a digit), at most 63 characters"
        )
    existing = _first(con, "SELECT path FROM versions WHERE name = ?", [name])
    if existing and not replace:
        raise CatalogError(f"version {name!r} is already registered (from {existing[0]}); use --replace")
    counts = manifest.get("counts", {})
    by_split = counts.get("by_split", {})
    version = Version(
        name=name,
        path=out,
        created=str(manifest.get("created", "")),
        schema_version=str(manifest.get("schema_version", "")),
        code_version=str(manifest.get("code_version", "")),
        params_hash=params_hash(manifest.get("params", {})),
        counts={**{k: v for k, v in counts.items() if isinstance(v, int)}, **by_split},
        sources=[s.get("name", "") for s in manifest.get("sources", [])],
    )

    def work() -> None:
        _create_views(con, name, out)
        _check_counts(con, name, counts)
        con.execute("DELETE FROM versions WHERE name = ?", [name])
        con.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name, str(out), version.created, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                version.schema_version, version.code_version, version.params_hash,
                counts.get("input"), counts.get("kept"), counts.get("duplicates"), counts.get("rejected"),
                counts.get("errors"), by_split.get("train"), by_split.get("valid"), by_split.get("test"),
                version.sources, json.dumps(manifest),
            ],
        )
        _create_union_views(con)

    _in_transaction(con, f"cannot register {out}", work)
    return version


def remove_version(con: duckdb.DuckDBPyConnection, name: str) -> Version:
    """Forget a version: its row and its views. Its files are left alone."""
    version = get_version(con, name)

    def work() -> None:
        con.execute("DELETE FROM versions WHERE name = ?", [name])
        for table in TABLES:
            con.execute(f"DROP VIEW IF EXISTS {view_name(name, table)}")
        _create_union_views(con)

    _in_transaction(con, f"cannot remove {name}", work)
    return version


def version_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM versions ORDER BY name").fetchall()]


def get_version(con: duckdb.DuckDBPyConnection, name: str) -> Version:
    row = _first(
        con,
        "SELECT name, path, created, schema_version, code_version, params_hash, input, kept, duplicates, "
        "rejected, errors, train, valid, test, sources FROM versions WHERE name = ?",
        [name],
    )
    if row is None:
        known = ", ".join(version_names(con)) or "none registered"
        raise CatalogError(f"unknown version {name!r} (known: {known})")
    keys = ("input", "kept", "duplicates", "rejected", "errors", "train", "valid", "test")
    return Version(
        name=row[0], path=Path(row[1]), created=row[2], schema_version=row[3], code_version=row[4],
        params_hash=row[5], counts=dict(zip(keys, row[6:14])), sources=list(row[14] or []),
    )


def run_query(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int = 100) -> tuple[list[str], list[tuple], bool]:
    """(column names, the first `max_rows` rows, whether there were more) of `sql`.

    A CatalogError for SQL that DuckDB rejects or cannot run (its first line says why)."""
    cursor = con.cursor()  # its own result, closed unfinished when there are more rows
    try:
        cursor.execute(sql)
        if cursor.description is None:  # a statement without a result set
            return [], [], False
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(max_rows + 1)
    except duckdb.Error as e:
        message = str(e).strip().splitlines()[0]
        raise CatalogError(f"query failed: {message}") from None
    finally:
        cursor.close()
    return columns, rows[:max_rows], len(rows) > max_rows
