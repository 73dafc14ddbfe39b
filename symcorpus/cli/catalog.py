"""`symcorpus catalog register | remove | list | query | card | diff`: a DuckDB catalog of versions.

Each command opens the catalog (catalog/db.py) and calls one function on it; a catalog error is a
UsageError: one `error:` line on stderr and exit code 2, like the rest of the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from symcorpus.catalog.db import DEFAULT_DB, TABLES, opened, register_version, remove_version, run_query, view_name
from symcorpus.cli.common import err_console as _err
from symcorpus.cli.common import group
from symcorpus.cli.common import out_console as _out

catalog_app = group("A DuckDB catalog of published corpus versions: register, query, card, diff.")


DbOption = Annotated[
    Path, typer.Option("--db", envvar="SYMCORPUS_CATALOG", help="Catalog database file.", show_default=True)
]
MAX_CELL = 120  # characters of one cell shown by `query`


def _cell(value: Any) -> str:
    """A query result value as table text: bytes by their size, long text cut."""
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value):,} bytes>"
    text = str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


@catalog_app.command("register")
def register(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT", help="A published corpus version (symcorpus build --out).")],
    db: DbOption = DEFAULT_DB,
    name: Annotated[Optional[str], typer.Option(help="Version name (default: OUT's directory name).")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a version registered under the same name.")] = False,
) -> None:
    """Record the version in OUT in the catalog, with views over its shards."""
    with opened(db) as con:
        version = register_version(con, out_dir, name, replace=replace)
    c = version.counts
    _out().print(
        f"registered [bold]{version.name}[/] ({version.path}) in {db}: kept {c.get('kept', 0):,}, "
        f"duplicates {c.get('duplicates', 0):,}, rejected {c.get('rejected', 0):,}, errors {c.get('errors', 0):,}\n"
        "views: " + ", ".join(view_name(version.name, t) for t in TABLES)
        + "; all versions: " + ", ".join(f"all_{t}" for t in TABLES),
        highlight=False,
        soft_wrap=True,
    )


@catalog_app.command("remove")
def remove(
    version: Annotated[str, typer.Argument(help="A registered version name.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Forget VERSION (its row and views); its files stay where they are."""
    with opened(db) as con:
        removed = remove_version(con, version)
    _out().print(f"removed {removed.name} ({removed.path}) from {db}", highlight=False)


@catalog_app.command("list")
def list_versions(db: DbOption = DEFAULT_DB) -> None:
    """The registered versions and their counts."""
    query(
        "SELECT name, created, schema_version, code_version, params_hash, input, kept, duplicates, rejected, "
        "errors, train, valid, test, path FROM versions ORDER BY name",
        db=db,
    )


@catalog_app.command("query")
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views, e.g. \"SELECT format, count(*) FROM v1_corpus GROUP BY 1\".")],
    db: DbOption = DEFAULT_DB,
    max_rows: Annotated[int, typer.Option(help="Rows to print at most.")] = 100,
) -> None:
    """Run SQL against the catalog (read-only) and print the result as a table."""
    with opened(db, read_only=True) as con:
        columns, rows, more = run_query(con, sql, max_rows)
    if not columns:
        return
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[_cell(v) for v in row])
    _out().print(table)
    _err().print(f"first {len(rows):,} rows shown (--max-rows)" if more else f"{len(rows):,} row(s)", highlight=False)


@catalog_app.command("card")
def card(
    version: Annotated[str, typer.Argument(help="A registered version name.")],
    db: DbOption = DEFAULT_DB,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Directory of the card (default: cards/VERSION).")] = None,
    samples: Annotated[Optional[Path], typer.Option(help="Generated samples to show and play (a directory `generate` wrote).")] = None,
) -> None:
    """Write VERSION's dataset card: README.md with PNG plots, and index.html with pieces, captions and players."""
    from symcorpus.catalog.card import write_card  # matplotlib only when a card is made

    target = out_dir or Path("cards") / version
    with opened(db, read_only=True) as con:
        result = write_card(con, version, target, samples)
    _out().print(f"wrote {result.path} with {len(result.plots)} plots, and {result.page} to browse", highlight=False)
    if result.missing:
        _out().print("not in this version: " + ", ".join(result.missing), highlight=False)


def _pieces_table(title: str, rows: list[dict], total: int, columns: tuple[str, ...]) -> Table:
    table = Table(title=f"{title}: {total:,}" + (f" (first {len(rows)})" if len(rows) < total else ""),
                  title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[", ".join(v) if isinstance(v, list) else _cell(v) for v in (row.get(c) for c in columns)])
    return table


def _label_shifts(d, v1: str, v2: str, limit: int) -> Table:
    shifts = Table(title="label shifts (share of kept pieces)", title_justify="left")
    for column, justify in [("label", "left"), ("value", "left"), (v1, "right"), (v2, "right"),
                            ("share " + v1, "right"), ("share " + v2, "right"), ("change", "right")]:
        shifts.add_column(column, justify=justify, overflow="fold")
    shown: dict[str, int] = {}
    for s in d.label_shifts:
        shown[s.label] = shown.get(s.label, 0) + 1
        if shown[s.label] <= limit:
            shifts.add_row(s.label, s.value, f"{s.n1:,}", f"{s.n2:,}", f"{s.share1:.1%}", f"{s.share2:.1%}",
                           f"{s.delta:+.1%}")
    return shifts


def _changed_columns(d) -> Table:
    by_column = Table(title="changed columns", title_justify="left")
    by_column.add_column("column")
    by_column.add_column("pieces", justify="right")
    for column, n in d.changed_by_column.items():
        by_column.add_row(column, f"{n:,}")
    return by_column


@catalog_app.command("diff")
def diff(
    v1: Annotated[str, typer.Argument(help="The earlier version.")],
    v2: Annotated[str, typer.Argument(help="The later version.")],
    db: DbOption = DEFAULT_DB,
    limit: Annotated[int, typer.Option(help="Pieces listed per table (counts are always complete).")] = 20,
) -> None:
    """Pieces added, removed and changed from V1 to V2, and how label distributions shifted."""
    from symcorpus.catalog.diff import diff_versions

    with opened(db, read_only=True) as con:
        d = diff_versions(con, v1, v2, limit=limit)
    console = _out()
    console.print(f"[bold]{v1}[/] -> [bold]{v2}[/]: kept {d.kept1:,} -> {d.kept2:,}; added {d.n_added:,}, "
                  f"removed {d.n_removed:,}, changed {d.n_changed:,}", highlight=False)
    if d.only_in_v1 or d.only_in_v2:
        console.print(f"columns only in {v1}: {', '.join(d.only_in_v1) or '-'}; "
                      f"only in {v2}: {', '.join(d.only_in_v2) or '-'}", highlight=False)
    listed = ("id", "source", "path", "format")
    if d.n_added:
        console.print(_pieces_table("added", d.added, d.n_added, listed))
    if d.n_removed:
        console.print(_pieces_table("removed", d.removed, d.n_removed, listed))
    if d.n_changed:
        console.print(_pieces_table("changed", d.changed, d.n_changed, ("id", "path", "columns")))
        console.print(_changed_columns(d))
    if d.label_shifts:
        console.print(_label_shifts(d, v1, v2, limit))
        console.print("total variation distance: " + ", ".join(f"{k} {v:.3f}" for k, v in d.distance.items()),
                      highlight=False, soft_wrap=True)


__all__ = ["catalog_app", "register", "remove", "list_versions", "query", "card", "diff"]
