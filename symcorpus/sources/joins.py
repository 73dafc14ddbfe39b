"""Metadata joins: a source's files matched to the metadata that describes them, and the report of
what matched and what did not.

A `MetaTable` is one metadata file read on the driver (MidiCaps's train.json, Lakh's
md5_to_paths.json, Aria-MIDI's metadata.json...): key -> `Meta`. Keys that appear more than once
are collisions: the first entry in file order is used and the key is listed in the report, never
resolved silently. Lines or files that cannot be read are `IngestFailure`s (errors rows).

A `Join` is a table plus how a record's path gives its key. The read step attaches every join's
metadata to each record (in the workers) and notes (join, key, matched) in the row's `joins`
column; `join_report` turns those notes and the tables into, per join: files matched, files
without metadata, metadata without files, and collided keys, with a few examples of each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from symcorpus.sources.base import IngestFailure, Meta, Record

EXAMPLES = 10  # keys or paths listed per kind of mismatch


@dataclass
class MetaTable:
    name: str  # the join's name: a key of `source_meta`, a row of the report
    key: str  # what the key is, in the corpus's words ("location", "md5", "file_id")
    file: str  # the metadata file, as the report names it
    source: str = ""  # the source whose records take the join (errors rows carry its name)
    entries: dict[str, Meta] = field(default_factory=dict)
    collided: dict[str, int] = field(default_factory=dict)  # key -> entries that share it
    rows: int = 0  # entries read, repeated keys included
    failures: list[IngestFailure] = field(default_factory=list)  # lines or files that could not be read
    unreadable: str | None = None  # why the whole file could not be used, when it could not

    def add(self, key: str, fields: Any, caption: str | None = None, license: str | None = None,
            labels: Mapping[str, str | None] | None = None) -> None:
        """One entry (its fields land under the join's name in `source_meta`); a repeated key keeps
        its first entry and counts as a collision."""
        self.rows += 1
        if key in self.entries:
            self.collided[key] = self.collided.get(key, 1) + 1
            return
        clean = {k: str(v) for k, v in (labels or {}).items() if v not in (None, "")}
        self.entries[key] = Meta({self.name: fields}, caption or None, license or None, clean)


@dataclass(frozen=True)
class Join:
    table: MetaTable
    key_of: Callable[[str], str | None]  # a record's path (without `#tune`) -> its key, or None


def attach(record: Record, joins: Iterable[Join]) -> tuple[Meta | None, list[dict[str, Any]]]:
    """The record's metadata with every join's entry added, and one note per join:
    {name, key, matched}."""
    meta, notes = record.meta, []
    path = record.path.split("#", 1)[0]
    for join in joins:
        key = join.key_of(path)
        entry = join.table.entries.get(key) if key is not None else None
        notes.append({"name": join.table.name, "key": key, "matched": entry is not None})
        if entry is not None:
            meta = entry.merged(meta) if meta is None else meta.merged(entry)
    return meta, notes


@dataclass
class JoinTallies:
    """What the rows say about the joins, gathered from local rows or by Spark group-bys."""

    rows: Counter = field(default_factory=Counter)  # (source, join, matched) -> records
    matched_keys: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    unmatched_paths: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # first EXAMPLES, sorted


def local_tallies(rows: Iterable[Mapping[str, Any]]) -> JoinTallies:
    tallies = JoinTallies()
    unmatched: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        for note in row.get("joins") or []:
            at = (row["source"], note["name"])
            tallies.rows[(*at, bool(note["matched"]))] += 1
            if note["matched"]:
                tallies.matched_keys.setdefault(at, set()).add(note["key"])
            else:
                unmatched.setdefault(at, []).append(row["path"])
    tallies.unmatched_paths = {at: sorted(paths)[:EXAMPLES] for at, paths in unmatched.items()}
    return tallies


def join_report(joins: Mapping[str, list[Join]], tallies: JoinTallies) -> list[dict[str, Any]]:
    """Per source and join: what matched, what did not, and what collided (see the module doc)."""
    report = []
    for source, source_joins in joins.items():
        for join in source_joins:
            table, at = join.table, (source, join.table.name)
            matched_keys = tallies.matched_keys.get(at, set())
            orphans = sorted(set(table.entries) - matched_keys)
            report.append({
                "source": source, "join": table.name, "file": table.file, "key": table.key,
                "metadata_entries": table.rows, "metadata_keys": len(table.entries),
                "files": tallies.rows[(*at, True)] + tallies.rows[(*at, False)],
                "matched": tallies.rows[(*at, True)],
                "files_without_metadata": tallies.rows[(*at, False)],
                "metadata_without_files": len(orphans),
                "collided_keys": len(table.collided),
                "unreadable_entries": len(table.failures),
                "unreadable": table.unreadable,
                "examples": {"files_without_metadata": tallies.unmatched_paths.get(at, [])[:EXAMPLES],
                             "metadata_without_files": orphans[:EXAMPLES],
                             "collided_keys": sorted(table.collided)[:EXAMPLES]},
            })
    return report


@dataclass
class CaptionTallies:
    """Shipped captions over the records: records per source, distinct captions, and for every
    caption on more than one record, its records per source and its distinct pieces (content ids)."""

    pieces: Counter = field(default_factory=Counter)  # source -> records with a caption
    distinct: int = 0
    repeated: dict[str, tuple[Counter, int]] = field(default_factory=dict)  # caption -> (source counts, ids)


def caption_report(tallies: CaptionTallies) -> dict[str, Any]:
    """How shipped captions spread over the pieces. A caption on several different pieces is what a
    loader keyed by caption collapses into one (Amadeus's does); here every piece keeps its row,
    and the report says how many share one. The same file under two sources (Lakh and MidiCaps) is
    counted apart: one piece, so not a shared caption."""
    shared = {c: counts for c, (counts, ids) in tallies.repeated.items() if ids > 1}
    by_source = {s: {"pieces": n, "sharing_a_caption": 0} for s, n in sorted(tallies.pieces.items())}
    for counts in shared.values():
        for source, n in counts.items():
            by_source[source]["sharing_a_caption"] += n
    return {
        "pieces_with_caption": sum(tallies.pieces.values()),
        "distinct_captions": tallies.distinct,
        "shared_captions": len(shared),
        "pieces_sharing_a_caption": sum(sum(c.values()) for c in shared.values()),
        "shared_across_sources": sum(1 for c in shared.values() if len(c) > 1),
        "by_source": by_source,
        "examples": [{"caption": c, "pieces": sum(n.values()), "sources": sorted(n)}
                     for c, n in sorted(shared.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:EXAMPLES]],
    }


def local_captions(rows: Iterable[Mapping[str, Any]]) -> CaptionTallies:
    by_caption: dict[str, tuple[Counter, set[str]]] = {}
    tallies = CaptionTallies()
    for row in rows:
        caption = row.get("source_caption")
        if caption and row["status"] != "skipped":
            counts, ids = by_caption.setdefault(caption, (Counter(), set()))
            counts[row["source"]] += 1
            ids.add(row["id"])
            tallies.pieces[row["source"]] += 1
    tallies.distinct = len(by_caption)
    tallies.repeated = {c: (counts, len(ids)) for c, (counts, ids) in by_caption.items() if sum(counts.values()) > 1}
    return tallies
