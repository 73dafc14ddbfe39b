"""The dataset card of a registered version: README.md with PNG plots, computed from the catalog's views,
and index.html (catalog/page.py): the plots, pieces with their captions and players, generated samples.

Every section reads a column only when the version has it: a version published before the annotate
stage (no `key`, `labels`, `quality_score`) gets a line saying the column is not there, not an
error. Plots are drawn with matplotlib's object API (Agg), never pyplot, so no global state changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from symcorpus.catalog.db import Version, get_version

TOP_ROWS = 10  # rows of a value table in the Markdown
TOP_BARS = 20  # bars of a categorical plot
SPLIT_ORDER = ("train", "valid", "test")
LABEL_FIELDS_FIRST = ("period", "composer", "instrumentation", "genre")  # the labels models condition on
NONE = "(none)"


@dataclass
class Card:
    path: Path  # the Markdown file
    plots: list[Path] = field(default_factory=list)
    page: Path | None = None  # index.html
    missing: list[str] = field(default_factory=list)  # columns this version does not have


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> pa.Schema:
    return con.sql(f"SELECT * FROM {view} LIMIT 0").to_arrow_table().schema


def _counts(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, int]]:
    """(value, count) rows of `sql` (columns: value, n), most common first, ties by value."""
    rows = con.execute(f"SELECT CAST(value AS VARCHAR) AS value, n FROM ({sql}) ORDER BY n DESC, value").fetchall()
    return [(NONE if v is None else v, int(n)) for v, n in rows]


def _grouped(view: str, expr: str) -> str:
    return f"SELECT {expr} AS value, count(*) AS n FROM {view} GROUP BY ALL"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _share_table(items: list[tuple[str, int]], what: str, total: int | None = None, unit: str = "pieces") -> list[str]:
    total = total or sum(n for _, n in items) or 1
    rows = [[v, f"{n:,}", f"{n / total:.1%}"] for v, n in items[:TOP_ROWS]]
    lines = _table([what, unit, "share"], rows)
    if len(items) > TOP_ROWS:
        lines.insert(-1, f"... and {len(items) - TOP_ROWS:,} more values.")
    return lines


def _figure() -> tuple[Figure, object]:
    fig = Figure(figsize=(7.5, 3.6), dpi=100, layout="constrained")
    return fig, fig.subplots()


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", metadata={"Software": None})  # no version stamp: same data, same bytes
    return path


def _bar_plot(path: Path, title: str, items: list[tuple[str, int]], xlabel: str, *, log: bool = False) -> Path:
    items = items[:TOP_BARS]
    fig, ax = _figure()
    labels = [v for v, _ in items][::-1]  # most common on top
    ax.barh(range(len(items)), [n for _, n in items][::-1], color="#4c72b0")
    ax.set_yticks(range(len(items)), labels, fontsize=7 if len(items) > 12 else 9)
    ax.set_xlabel(xlabel)
    if log:
        ax.set_xscale("log")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: whole ticks
    ax.set_title(title)
    fig.set_figheight(max(2.0, 0.6 + 0.22 * len(items)))
    return _save(fig, path)


def _histogram(path: Path, title: str, values: np.ndarray, bins: np.ndarray, xlabel: str, *, logx: bool = False) -> Path:
    fig, ax = _figure()
    ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, color="#4c72b0")  # outliers in the end bins
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pieces")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return _save(fig, path)


def _numbers(con: duckdb.DuckDBPyConnection, view: str, column: str) -> np.ndarray:
    values = con.execute(f"SELECT {column} FROM {view} WHERE {column} IS NOT NULL AND isfinite({column})").fetchnumpy()
    return np.asarray(values[column], dtype=np.float64)


def _summary(values: np.ndarray, unit: str, digits: int) -> str:
    lo, mid, hi = (f"{q:,.{digits}f}" for q in np.quantile(values, [0.0, 0.5, 1.0]))
    return f"{len(values):,} pieces; min {lo}, median {mid}, max {hi} ({unit})."


def _size_bucket(size: int) -> str:
    """Cluster sizes up to 9 one by one, then in ranges, so a long tail stays readable."""
    if size < 10:
        return str(size)
    for low, high in ((10, 19), (20, 49), (50, 99)):
        if size <= high:
            return f"{low}-{high}"
    return "100+"


class _CardWriter:
    """Collects the Markdown lines and plots of one card."""

    def __init__(self, con: duckdb.DuckDBPyConnection, version: Version, out_dir: Path) -> None:
        self.con = con
        self.version = version
        self.out_dir = out_dir
        self.corpus = version.view("corpus")
        self.schema = _columns(con, self.corpus)
        self.lines: list[str] = []
        self.card = Card(path=out_dir / "README.md")

    def has(self, column: str) -> bool:
        if column in self.schema.names:
            return True
        self.card.missing.append(column)
        self.lines += [f"*This version has no `{column}` column.*", ""]
        return False

    def image(self, path: Path, alt: str) -> None:
        self.card.plots.append(path)
        self.lines += [f"![{alt}]({path.name})", ""]

    def categorical(self, title: str, column: str, expr: str, plot: str, what: str) -> None:
        self.lines += [f"### {title}", ""]
        if not self.has(column):
            return
        items = _counts(self.con, _grouped(self.corpus, expr))
        if not items:
            self.lines += ["No pieces.", ""]
            return
        self.image(_bar_plot(self.out_dir / plot, title, items, "pieces"), title)
        self.lines += _share_table(items, what, self.version.counts.get("kept"))

    def numeric(self, title: str, column: str, plot: str, unit: str, bins, *, logx: bool = False, digits: int = 1) -> None:
        self.lines += [f"### {title}", ""]
        if not self.has(column):
            return
        values = _numbers(self.con, self.corpus, column)
        if not len(values):
            self.lines += ["No values.", ""]
            return
        self.image(_histogram(self.out_dir / plot, title, values, bins(values), unit, logx=logx), title)
        self.lines += [_summary(values, unit, digits), ""]

    # -- sections --------------------------------------------------------------------------------

    def header(self) -> None:
        v = self.version
        self.lines += [
            f"# Dataset card: {v.name}",
            "",
            f"Corpus version `{v.name}`, published {v.created} from `{v.path}` by symcorpus {v.code_version} "
            f"(schema {v.schema_version}, params hash `{v.params_hash}`).",
            "",
            "Sources: " + (", ".join(f"`{s}`" for s in v.sources) or "none recorded") + ".",
            "",
        ]

    def counts(self) -> None:
        c = self.version.counts
        self.lines += ["## Counts", ""]
        self.lines += _table(
            ["input", "kept", "duplicates", "rejected", "errors"],
            [[f"{c.get(k) or 0:,}" for k in ("input", "kept", "duplicates", "rejected", "errors")]],
        )
        self.lines += ["Every input record is in exactly one of the kept, duplicates, rejects and errors tables.", ""]
        self.lines += ["### Split sizes", ""]
        splits = [(s, int(c.get(s) or 0)) for s in SPLIT_ORDER]
        fig, ax = _figure()
        ax.bar([s for s, _ in splits], [n for _, n in splits], color="#4c72b0")
        ax.set_ylabel("pieces")
        ax.set_title("Split sizes")
        self.image(_save(fig, self.out_dir / "splits.png"), "split sizes")
        self.lines += _share_table(splits, "split", c.get("kept"))
        self.formats()

    def formats(self) -> None:
        self.lines += ["### Formats", ""]
        by_table: dict[str, dict[str, int]] = {}
        for table in ("corpus", "duplicates", "rejects", "errors"):
            view = self.version.view(table)
            if "format" not in _columns(self.con, view).names:
                continue
            for value, n in _counts(self.con, _grouped(view, "format")):
                by_table.setdefault(value, {})[table] = n
        rows = [[f] + [f"{t.get(k, 0):,}" for k in ("corpus", "duplicates", "rejects", "errors")]
                for f, t in sorted(by_table.items())]
        self.lines += _table(["format", "kept", "duplicates", "rejected", "errors"], rows)

    def music(self) -> None:
        self.lines += ["## Music", ""]
        self.categorical("Keys (estimated from the notes)", "key", "key", "keys.png", "key")
        self.categorical("Declared key signatures", "key_signature", "key_signature", "key_signatures.png", "key signature")
        self.numeric("Tempos", "tempo_bpm", "tempos.png", "BPM", lambda v: np.arange(20.0, 321.0, 10.0))
        self.categorical("Time signatures", "time_signature", "time_signature", "time_signatures.png", "time signature")
        self.numeric(
            "Durations", "duration_seconds", "durations.png", "seconds",
            lambda v: np.geomspace(1.0, max(2.0, float(v.max())), 31), logx=True,
        )
        self.lines += ["### Instruments", ""]
        if self.has("instruments"):
            # A piece counts once per instrument it uses; pieces with none (drums only) as "(none)",
            # pieces whose file chose no instrument as "(not declared)".
            expr = ("unnest(CASE WHEN instruments IS NULL THEN ['(not declared)'] WHEN len(instruments) > 0 "
                    f"THEN list_distinct(instruments) ELSE ['{NONE}'] END)")
            items = _counts(self.con, f"SELECT value, count(*) AS n FROM (SELECT {expr} AS value FROM {self.corpus}) GROUP BY ALL")
            if items:
                self.image(_bar_plot(self.out_dir / "instruments.png", "Instruments (pieces using each)", items, "pieces"), "instruments")
                self.lines += _share_table(items, "instrument", self.version.counts.get("kept"))
        self.numeric("Quality scores", "quality_score", "quality_scores.png", "score", lambda v: np.linspace(0.0, 1.0, 21),
                     digits=2)

    def labels(self) -> None:
        self.lines += ["## Labels", ""]
        if not self.has("labels"):
            return
        label_type = self.schema.field("labels").type
        if not pa.types.is_struct(label_type):
            self.lines += ["*`labels` is not a struct in this version.*", ""]
            return
        names = [label_type.field(i).name for i in range(label_type.num_fields)]
        ordered = [n for n in LABEL_FIELDS_FIRST if n in names] + [n for n in names if n not in LABEL_FIELDS_FIRST]
        for missing in (n for n in LABEL_FIELDS_FIRST if n not in names):
            self.card.missing.append(f"labels.{missing}")
            self.lines += [f"*This version has no `labels.{missing}`.*", ""]
        for name in ordered:
            title = f"labels.{name}"
            self.lines += [f"### {title}", ""]
            items = _counts(self.con, _grouped(self.corpus, f"labels.{name}"))
            labelled = sum(n for v, n in items if v != NONE)
            kept = self.version.counts.get("kept") or 0
            if not labelled:
                self.lines += [f"No piece has a `{name}` label.", ""]
                continue
            self.image(_bar_plot(self.out_dir / f"labels_{name}.png", title, items, "pieces"), title)
            self.lines += [f"Labelled: {labelled:,} of {kept:,} pieces ({labelled / max(kept, 1):.1%}).", ""]
            self.lines += _share_table(items, name, kept)

    def rejects_and_errors(self) -> None:
        self.lines += ["## Rejected pieces", ""]
        rejects = self.version.view("rejects")
        items = _counts(self.con, _grouped(rejects, "reason"))
        if not items:
            self.lines += ["No piece was rejected.", ""]
        else:
            self.image(_bar_plot(self.out_dir / "reject_reasons.png", "Rejection reasons", items, "pieces"), "rejection reasons")
            self.lines += _share_table(items, "reason")
        self.lines += ["## Errors", ""]
        errors = self.version.view("errors")
        items = _counts(self.con, _grouped(errors, "stage || ' / ' || split_part(error, ':', 1)"))
        self.lines += _share_table(items, "stage / reason", unit="records") if items else ["No record failed to parse.", ""]

    def duplicates(self) -> None:
        self.lines += ["## Duplicates", ""]
        dups = self.version.view("duplicates")
        kinds = _counts(self.con, _grouped(dups, "kind"))
        self.lines += _share_table(kinds, "kind", unit="duplicates") if kinds else ["No duplicates.", ""]
        self.lines += ["### Duplicate cluster sizes", ""]
        # A cluster is its kept representative plus its duplicates; pieces without any are clusters of 1.
        sizes = self.con.execute(
            f"SELECT size, count(*) FROM (SELECT count(*) + 1 AS size FROM {dups} GROUP BY cluster_id) "
            "GROUP BY size ORDER BY size"
        ).fetchall()
        with_dups = sum(n for _, n in sizes)
        singles = max(0, (self.version.counts.get("kept") or 0) - with_dups)
        buckets: dict[str, int] = {"1": singles}
        for size, n in sizes:
            buckets[_size_bucket(int(size))] = buckets.get(_size_bucket(int(size)), 0) + int(n)
        items = list(buckets.items())
        fig, ax = _figure()
        ax.bar([s for s, _ in items], [n for _, n in items], color="#4c72b0")
        ax.set_yscale("log")
        ax.set_ylim(0.5, max(2, max(n for _, n in items)) * 2)  # a single cluster still shows a bar
        ax.set_xlabel("pieces in the cluster (kept + duplicates)")
        ax.set_ylabel("clusters")
        ax.set_title("Duplicate cluster sizes")
        self.image(_save(fig, self.out_dir / "duplicate_clusters.png"), "duplicate cluster sizes")
        self.lines += _table(["cluster size", "clusters"], [[s, f"{n:,}"] for s, n in items])

    def footer(self) -> None:
        n = self.version.name
        self.lines += [
            "## Query this version",
            "",
            "```sql",
            "-- symcorpus catalog query \"...\"; `content`/`score_midi` hold the bytes",
            f"SELECT format, count(*) FROM {n}_corpus GROUP BY ALL;",
            f"SELECT * EXCLUDE (content, score_midi) FROM {n}_corpus LIMIT 10;",
            f"SELECT reason, count(*) FROM {n}_rejects GROUP BY ALL;",
            f"SELECT kind, count(*) FROM {n}_duplicates GROUP BY ALL;",
            "```",
            "",
        ]


def _previous_plots(card_path: Path) -> set[str]:
    """PNG files an earlier card in the same directory linked to (removed if this card has no such plot)."""
    if not card_path.is_file():
        return set()
    return set(re.findall(r"\]\(([A-Za-z0-9_.-]+\.png)\)", card_path.read_text()))


def write_card(con: duckdb.DuckDBPyConnection, version: str, out_dir: str | Path,
               samples: str | Path | None = None) -> Card:
    """Write the dataset card of registered `version` as OUT_DIR/README.md plus its PNG plots, and
    OUT_DIR/index.html to browse and listen (with the generated samples in `samples`, a directory
    that `generate` wrote, when given)."""
    version_info = get_version(con, version)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _CardWriter(con, version_info, out_dir)
    stale = _previous_plots(writer.card.path)
    writer.header()
    writer.counts()
    writer.music()
    writer.labels()
    writer.rejects_and_errors()
    writer.duplicates()
    writer.footer()
    writer.card.path.write_text("\n".join(writer.lines).rstrip() + "\n")
    for name in stale - {p.name for p in writer.card.plots}:
        (out_dir / name).unlink(missing_ok=True)
    from symcorpus.catalog.page import write_page

    writer.card.page = write_page(con, version_info, writer.card, out_dir, samples).path
    return writer.card
