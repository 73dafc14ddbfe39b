"""Ingest and parse as functions over Arrow batches: what Spark's mapInArrow runs on executors.

`ingest_and_parse` turns unit rows (schema.UNITS) into piece rows (schema.PIECES): every record
read, hashed, parsed and summarized in one pass, so the bytes cross from the JVM to Python once.
`ingest_only` and `parse_records` are the same work in two halves, for streamed tar archives whose
records must be spread over partitions between reading and parsing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import symusic

from symcorpus import schema
from symcorpus.music.abc_text import decode_abc
from symcorpus.music.annotate import annotate
from symcorpus.music.fingerprint import MinHasher, band_hashes, notes_hash, pack_signature, packed_similarities, shingles
from symcorpus.music.notes import note_table, quarter_notes, summarize
from symcorpus.music.parse import ParseError, parse_piece
from symcorpus.music.quality import evaluate, rules_for
from symcorpus.tokenizers.abc import voice_bar_counts
from symcorpus.pipeline.ingest import IngestFailure, Item, Record, Skipped, read_unit
from symcorpus.config import DedupSettings, Settings

OUTPUT_BATCH_ROWS = 256


@functools.lru_cache(maxsize=4)
def _minhasher(num_perm: int, seed: int) -> MinHasher:
    return MinHasher(num_perm, seed)


def fingerprints(score: symusic.Score, config: DedupSettings, table: np.ndarray | None = None) -> dict[str, Any]:
    """The dedup columns of one score, for the levels in use: notes_hash for `notes`, the MinHash
    signature and its LSH band hashes for `near` (the `exact` level needs only the id)."""
    columns: dict[str, Any] = {"notes_hash": None, "minhash": None, "lsh_bands": None}
    if "notes" not in config.levels and "near" not in config.levels:
        return columns
    table = note_table(score) if table is None else table
    notes = quarter_notes(table, max(int(score.ticks_per_quarter), 1))
    if "notes" in config.levels:
        columns["notes_hash"] = notes_hash(notes, transpose_invariant=config.transpose_invariant, grid=config.grid)
    if "near" in config.levels:
        signature = _minhasher(config.num_perm, config.seed).signature(shingles(notes, config.shingle_size))
        columns["minhash"] = pack_signature(signature)
        columns["lsh_bands"] = band_hashes(signature, config.bands, config.rows)  # numpy: to_batch makes the list
    return columns


def _failure_row(item: IngestFailure) -> dict[str, Any]:
    return {"status": schema.STATUS_ERROR, "id": item.id, "source": item.source, "path": item.path,
            "format": item.format, "size_bytes": item.size_bytes, "stage": "ingest", "error": item.error}


def _skipped_row(item: Skipped) -> dict[str, Any]:
    return {"status": schema.STATUS_SKIPPED, "id": "", "source": item.source, "path": item.path}


@functools.lru_cache(maxsize=64)
def _active_rules(rules_json: str, source: str) -> dict[str, dict[str, Any]]:
    config = json.loads(rules_json)
    return rules_for(config["rules"], config["sources"].get(source))


def active_rules(settings: Settings, source: str) -> dict[str, dict[str, Any]]:
    """The quality rules for one source, parsed once per task rather than once per record."""
    return _active_rules(json.dumps({"rules": settings.filter.rules, "sources": settings.filter.sources},
                                    sort_keys=True), source)


def _internal(e: Exception) -> str:
    return f"internal: {type(e).__name__}: {e}"


def quality_verdict(row: dict[str, Any], settings: Settings):
    """The quality rules of the row's source over its columns (ABC tunes also by voice bar counts)."""
    fields = row
    if row["format"] == "abc" and row.get("content") is not None:
        fields = {**row, "abc_voice_bars": voice_bar_counts(decode_abc(row["content"]))}
    return evaluate(fields, active_rules(settings, row["source"]))


def annotate_and_filter(row: dict[str, Any], score: symusic.Score, table: np.ndarray, settings: Settings,
                        abc_header: dict[str, str] | None = None) -> dict[str, Any]:
    """Add the annotation columns to a parsed row, then the quality verdict: status 'ok' with a
    quality_score, or 'rejected' with the rule's reason and detail. Errors here are 'annotate' errors."""
    try:
        row.update(annotate(score, table, row, piece_id=row["id"], source=row["source"], path=row["path"],
                            fmt=row["format"], title=row.get("title"), composer=row.get("composer"),
                            abc_header=abc_header))
        verdict = quality_verdict(row, settings)
    except Exception as e:  # a bug on odd input: still a row, never a crash
        return {**row, "status": schema.STATUS_ERROR, "stage": "annotate", "error": _internal(e)}
    if verdict.reason is not None:
        return {**row, "status": schema.STATUS_REJECTED, "reason": verdict.reason, "detail": verdict.detail}
    return {**row, "status": schema.STATUS_OK, "quality_score": verdict.quality_score}


def parse_record(record: Record, settings: Settings) -> dict[str, Any]:
    """One record to one PIECES row: parsed, summarized, fingerprinted, annotated and filtered, or
    an error row."""
    row: dict[str, Any] = {"id": record.id, "source": record.source, "path": record.path,
                           "format": record.format, "size_bytes": len(record.content)}
    try:
        piece = parse_piece(record.content, record.format, settings.ingest.limits(), name=record.path.split("#")[0])
        table = note_table(piece.score)
        row.update(summarize(piece, table))
        row.update(fingerprints(piece.score, settings.dedup, table))
    except ParseError as e:
        return {**row, "status": schema.STATUS_ERROR, "stage": "parse", "error": str(e)}
    except Exception as e:  # a bug or a library failure on odd input: still a row, never a crash
        return {**row, "status": schema.STATUS_ERROR, "stage": "parse", "error": _internal(e)}
    row.update(content=record.content, abc=piece.abc_header, score_midi=piece.rendered_midi,
               title=piece.title, composer=piece.composer)
    return annotate_and_filter(row, piece.score, table, settings, piece.abc_header)


def _numpy_list_column(values: list, arrow_type: pa.ListType) -> pa.Array:
    """A list column from numpy arrays (or None) per row, without a Python object per element."""
    lengths = np.array([0 if v is None else len(v) for v in values], dtype=np.int32)
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    present = [v for v in values if v is not None]
    flat = np.concatenate(present) if present else np.empty(0)
    mask = pa.array([v is None for v in values]) if len(present) < len(values) else None
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=arrow_type.value_type), mask=mask)


def to_batch(rows: list[dict[str, Any]], arrow_schema: pa.Schema) -> pa.RecordBatch:
    """Rows (dicts) to one Arrow batch, column by column; numpy-valued list columns stay numpy."""
    columns = []
    for field in arrow_schema:
        values = [row.get(field.name) for row in rows]
        if pa.types.is_list(field.type) and any(isinstance(v, np.ndarray) for v in values):
            columns.append(_numpy_list_column(values, field.type))
        else:
            columns.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(columns, schema=arrow_schema)


def _batches(rows: Iterable[dict[str, Any]], arrow_schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    buffer: list[dict[str, Any]] = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= OUTPUT_BATCH_ROWS:
            yield to_batch(buffer, arrow_schema)
            buffer = []
    if buffer:
        yield to_batch(buffer, arrow_schema)


def _items(batches: Iterable[pa.RecordBatch], max_bytes: int) -> Iterator[Item]:
    for batch in batches:
        for unit in batch.to_pylist():
            yield from read_unit(unit, max_bytes)


def _item_rows(items: Iterable[Item], settings: Settings) -> Iterator[dict[str, Any]]:
    for item in items:
        if isinstance(item, Record):
            yield parse_record(item, settings)
        elif isinstance(item, IngestFailure):
            yield _failure_row(item)
        else:
            yield _skipped_row(item)


def ingest_and_parse(batches: Iterable[pa.RecordBatch], settings: Settings) -> Iterator[pa.RecordBatch]:
    """UNITS batches in, PIECES batches out."""
    return _batches(_item_rows(_items(batches, settings.ingest.max_bytes), settings), schema.PIECES)


def ingest_only(batches: Iterable[pa.RecordBatch], settings: Settings) -> Iterator[pa.RecordBatch]:
    """UNITS batches in, PIECES batches out with records not yet parsed (status null -> 'pending')."""
    def rows() -> Iterator[dict[str, Any]]:
        for item in _items(batches, settings.ingest.max_bytes):
            if isinstance(item, Record):
                yield {"status": "pending", "id": item.id, "source": item.source, "path": item.path,
                       "format": item.format, "size_bytes": len(item.content), "content": item.content}
            elif isinstance(item, IngestFailure):
                yield _failure_row(item)
            else:
                yield _skipped_row(item)
    return _batches(rows(), schema.PIECES)


def parse_records(batches: Iterable[pa.RecordBatch], settings: Settings) -> Iterator[pa.RecordBatch]:
    """PIECES batches in; 'pending' records get parsed, rows already final pass through."""
    def items() -> Iterator[dict[str, Any] | Item]:
        for batch in batches:
            for row in batch.to_pylist():
                if row["status"] == "pending":
                    yield Record(row["source"], row["path"], row["format"], row["content"])
                else:
                    yield row

    def rows() -> Iterator[dict[str, Any]]:
        for item in items():
            yield parse_record(item, settings) if isinstance(item, Record) else item
    return _batches(rows(), schema.PIECES)


STATUS_PARSED = "parsed"  # a cached parse, not yet annotated


def reuse_parsed(batches: Iterable[pa.RecordBatch], settings: Settings) -> Iterator[pa.RecordBatch]:
    """PIECES batches of records whose parse came from the cache: annotated and filtered again from
    their stored notes (MIDI content, or `score_midi`); cached parse errors pass through."""
    for batch in batches:
        rows = []
        for row in batch.to_pylist():
            if row["status"] == STATUS_PARSED:
                # An .rmi piece keeps its Standard MIDI File, unwrapped, in score_midi.
                midi = (row["score_midi"] or row["content"]) if row["format"] == "midi" else row["score_midi"]
                score = symusic.Score.from_midi(midi)
                row = annotate_and_filter(row, score, note_table(score), settings, row.get("abc"))
            rows.append(row)
        yield to_batch(rows, schema.PIECES)


def restage(batches: Iterable[pa.RecordBatch], settings: Settings, stages: tuple[str, ...] = ()) -> Iterator[pa.RecordBatch]:
    """PIECES batches of published corpus rows in, fingerprinted again from their notes; with
    `stages` also filtered ("filter") or annotated and filtered ("annotate": the filters read the
    features, so new features mean a new verdict).

    For `symcorpus dedup | annotate | filter` on an existing version: MIDI content and the stored
    `score_midi` of other formats are read by symusic, so nothing is rendered again.
    """
    for batch in batches:
        rows = []
        for row in batch.to_pylist():
            # An .rmi piece keeps its Standard MIDI File, unwrapped, in score_midi.
            midi = (row["score_midi"] or row["content"]) if row["format"] == "midi" else row["score_midi"]
            score = symusic.Score.from_midi(midi)
            table = note_table(score)
            row.update(fingerprints(score, settings.dedup, table))
            if "annotate" in stages:
                row = annotate_and_filter(row, score, table, settings, row.get("abc"))
            elif "filter" in stages:
                verdict = quality_verdict(row, settings)
                row.update(status=schema.STATUS_REJECTED if verdict.reason else schema.STATUS_OK,
                           reason=verdict.reason, detail=verdict.detail,
                           quality_score=verdict.quality_score if verdict.reason is None else row.get("quality_score"))
            rows.append(row)
        yield to_batch(rows, schema.PIECES)


def pair_similarities(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Batches of (a, b, sig_a, sig_b) in, (a, b, similarity) out: the LSH candidate check."""
    for batch in batches:
        similarity = packed_similarities(batch.column("sig_a").to_pylist(), batch.column("sig_b").to_pylist())
        yield pa.RecordBatch.from_arrays(
            [batch.column("a"), batch.column("b"), pa.array(similarity, type=pa.float64())],
            names=["a", "b", "similarity"],
        )
