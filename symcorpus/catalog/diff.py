"""What changed between two registered versions: pieces added, removed, changed; label shifts.

Pieces are matched by `id` (sha256 of their bytes), so a piece is "changed" when the same bytes got
other annotations: a new key estimate, caption, label, split, duplicate cluster, path... Every
column both versions have is compared except the bytes themselves (`content`, `score_midi`).
A label shift is a change in how often a value of a categorical column occurs among kept pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from symcorpus.catalog.db import get_version

NOT_COMPARED = ("id", "content", "score_midi")
# Categorical columns whose distributions are compared (those both versions have), then every
# field of the `labels` struct.
SHIFT_COLUMNS = ("source", "format", "split", "time_signature", "key", "key_signature")
NONE = "(none)"


@dataclass(frozen=True)
class LabelShift:
    label: str  # a column, or labels.<field>
    value: str
    n1: int
    n2: int
    share1: float  # of kept pieces in the first version
    share2: float

    @property
    def delta(self) -> float:
        return self.share2 - self.share1


@dataclass
class VersionDiff:
    v1: str
    v2: str
    kept1: int
    kept2: int
    n_added: int
    n_removed: int
    n_changed: int
    added: list[dict]  # id, source, path, format; at most `limit` of them, by path
    removed: list[dict]
    changed: list[dict]  # id, source, path, columns (names of the columns that differ)
    changed_by_column: dict[str, int]  # column -> pieces whose value differs
    compared_columns: list[str]
    only_in_v1: list[str]  # columns the other version lacks
    only_in_v2: list[str]
    label_shifts: list[LabelShift] = field(default_factory=list)  # values whose count or share changed
    distance: dict[str, float] = field(default_factory=dict)  # label -> total variation distance


def _schema(con: duckdb.DuckDBPyConnection, view: str) -> pa.Schema:
    return con.sql(f"SELECT * FROM {view} LIMIT 0").to_arrow_table().schema


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _label_expressions(s1: pa.Schema, s2: pa.Schema) -> list[tuple[str, str]]:
    """(label name, SQL expression) for the categorical columns both versions have."""
    labels = [(c, _quote(c)) for c in SHIFT_COLUMNS if c in s1.names and c in s2.names]
    if "labels" in s1.names and "labels" in s2.names:
        t1, t2 = s1.field("labels").type, s2.field("labels").type
        if pa.types.is_struct(t1) and pa.types.is_struct(t2):
            fields2 = {t2.field(i).name for i in range(t2.num_fields)}
            for i in range(t1.num_fields):
                name = t1.field(i).name
                if name in fields2:
                    labels.append((f"labels.{name}", f"labels.{_quote(name)}"))
    return labels


def _label_shifts(con, view1: str, view2: str, labels: list[tuple[str, str]], kept1: int, kept2: int):
    shifts: list[LabelShift] = []
    distance: dict[str, float] = {}
    for label, expr in labels:
        counts = _rows(
            con,
            f"""
            WITH a AS (SELECT CAST({expr} AS VARCHAR) AS value, count(*) AS n FROM {view1} GROUP BY ALL),
                 b AS (SELECT CAST({expr} AS VARCHAR) AS value, count(*) AS n FROM {view2} GROUP BY ALL)
            SELECT coalesce(a.value, b.value) AS value, coalesce(a.n, 0) AS n1, coalesce(b.n, 0) AS n2
            FROM a FULL OUTER JOIN b ON a.value IS NOT DISTINCT FROM b.value
            """,
        )
        rows = []
        for r in counts:
            share1 = r["n1"] / kept1 if kept1 else 0.0
            share2 = r["n2"] / kept2 if kept2 else 0.0
            rows.append(LabelShift(label, NONE if r["value"] is None else r["value"], int(r["n1"]), int(r["n2"]), share1, share2))
        distance[label] = 0.5 * sum(abs(s.delta) for s in rows)
        moved = (s for s in rows if s.n1 != s.n2 or abs(s.delta) > 1e-12)
        shifts += sorted(moved, key=lambda s: (-abs(s.delta), s.value))
    return shifts, distance


def diff_versions(con: duckdb.DuckDBPyConnection, v1: str, v2: str, limit: int | None = 20) -> VersionDiff:
    """Compare the corpus tables of registered versions `v1` (before) and `v2` (after).

    `limit` bounds the listed added / removed / changed pieces (None: all); counts are always exact.
    """
    a, b = get_version(con, v1), get_version(con, v2)
    view1, view2 = a.view("corpus"), b.view("corpus")
    s1, s2 = _schema(con, view1), _schema(con, view2)
    compared = [c for c in s1.names if c in s2.names and c not in NOT_COMPARED]
    take = "" if limit is None else f" LIMIT {int(limit)}"
    listed = ", ".join(_quote(c) for c in ("id", "source", "path", "format") if c in s1.names and c in s2.names)

    def one_sided(first: str, second: str) -> tuple[int, list[dict]]:
        body = f"FROM {first} x WHERE NOT EXISTS (SELECT 1 FROM {second} y WHERE y.id = x.id)"
        [(n,)] = con.execute(f"SELECT count(*) {body}").fetchall()
        sample = _rows(con, f"SELECT {listed} {body} ORDER BY path, id{take}")
        return int(n), sample

    n_added, added = one_sided(view2, view1)
    n_removed, removed = one_sided(view1, view2)

    # One list of differing column names per piece present in both versions.
    flags = ", ".join(
        f"CASE WHEN x.{_quote(c)} IS DISTINCT FROM y.{_quote(c)} THEN '{c}' END" for c in compared
    ) or "NULL"
    changed_sql = f"""
        SELECT y.id AS id, y.source AS source, y.path AS path,
               list_filter([{flags}], lambda c: c IS NOT NULL) AS columns
        FROM {view1} x JOIN {view2} y ON x.id = y.id
    """
    per_column = _rows(
        con,
        f"SELECT column_name, count(*) AS n FROM (SELECT unnest(columns) AS column_name FROM ({changed_sql})) "
        "GROUP BY ALL ORDER BY n DESC, column_name",
    )
    [(n_changed,)] = con.execute(f"SELECT count(*) FROM ({changed_sql}) WHERE len(columns) > 0").fetchall()
    changed = _rows(con, f"SELECT * FROM ({changed_sql}) WHERE len(columns) > 0 ORDER BY path, id{take}")

    kept1, kept2 = int(a.counts.get("kept") or 0), int(b.counts.get("kept") or 0)
    shifts, distance = _label_shifts(con, view1, view2, _label_expressions(s1, s2), kept1, kept2)
    return VersionDiff(
        v1=v1, v2=v2, kept1=kept1, kept2=kept2,
        n_added=n_added, n_removed=n_removed, n_changed=int(n_changed),
        added=added, removed=removed, changed=changed,
        changed_by_column={r["column_name"]: int(r["n"]) for r in per_column},
        compared_columns=compared,
        only_in_v1=[c for c in s1.names if c not in s2.names],
        only_in_v2=[c for c in s2.names if c not in s1.names],
        label_shifts=shifts, distance=distance,
    )
