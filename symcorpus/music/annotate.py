"""Annotate one parsed piece: features, key, labels, tags and caption, then the quality verdict.

The composition of the plain functions in this package; the parse stage calls it once per record
(the note table is shared with the summary and the fingerprints), `symcorpus annotate` calls it on
published rows, and `evaluate` calls `annotate_midi` on generated music.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import symusic

from symcorpus.music.captions import caption_tags, write_caption
from symcorpus.music.features import piece_features
from symcorpus.music.instruments import DRUMS, sets_programs
from symcorpus.music.keys import key_of_notes
from symcorpus.music.labels import LabelInput, piece_labels
from symcorpus.music.notes import TempoMap, note_table, pitched_notes, summarize
from symcorpus.music.parse import ParsedPiece
from symcorpus.music.formats import MIDI
from symcorpus.music.tempo import DECLARED, ESTIMATED, piece_tempo, tempo_features

# The columns `annotate` adds to a corpus row (schema.ANNOTATION_FIELDS).
ANNOTATION_COLUMNS = ("key", "key_confidence", "features", "labels", "tags", "caption")


def estimated_key(table: np.ndarray, tpq: int) -> tuple[str | None, float | None]:
    """The key from the pitched notes alone (never from a declared key signature)."""
    pitched = pitched_notes(table)
    key = key_of_notes(pitched["pitch"], pitched["onset"] / tpq, pitched["duration"] / tpq)
    return (key.name, round(key.confidence, 4)) if key is not None else (None, None)


def _part_names(score: symusic.Score) -> list[str]:
    # Tracks with notes only: music21's rendering adds a note-less track per part.
    return [t.name.strip() for t in score.tracks if t.note_num() and t.name and t.name.strip()]


def piece_facts(
    score: symusic.Score,
    table: np.ndarray,
    summary: Mapping[str, Any],
    *,
    piece_id: str,
    source: str,
    path: str,
    fmt: str,
    title: str | None = None,
    composer: str | None = None,
    abc_header: Mapping[str, str] | None = None,
    source_labels: Mapping[str, str | None] | None = None,
    tempo: TempoMap | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(features, labels, fields) of one piece: `fields` are the summary with the features, key and
    provenance flattened in, what `caption_tags` reads. `tempo`: the score's TempoMap, if made."""
    tempo = TempoMap.of(score) if tempo is None else tempo
    features = piece_features(score, table, tempo)
    key, confidence = estimated_key(table, max(int(score.ticks_per_quarter), 1))
    header = abc_header or {}
    # A tempo the file never declared (abc2midi's and music21's 120, MIDI's default) is no fact to
    # state: the summary has no tempo_bpm then (ABC is checked by its Q: too, for rows summarised
    # before that rule).
    declared_tempo = summary.get("tempo_bpm") is not None and (fmt != "abc" or bool(header.get("tempo")))
    # A score's ticks are its notation (grace notes and odd tuplets can look off-grid): its tempo is
    # declared or a placeholder, never estimated from seconds that a default tempo made.
    timing = features["timing"] if fmt == MIDI else "quantized"
    if (not declared_tempo and features["tempo_source"] == DECLARED) or (fmt != MIDI and features["tempo_source"] == ESTIMATED):
        features.update(tempo_features(piece_tempo(score, table, timing, declared=declared_tempo, tempo=tempo)))
    if summary.get("instruments") is None:  # no program chosen: only the drums are known
        features["instrument_families"] = [DRUMS] if summary.get("has_drums") else []
    labels = piece_labels(
        LabelInput(
            source=source,
            path=path,
            format=fmt,
            title=title or header.get("title"),
            composer=composer or header.get("composer"),
            origin=header.get("origin"),
            rhythm=header.get("rhythm"),
            part_names=_part_names(score),
            instruments=list(summary.get("instruments") or []),  # unknown (None) reads as none named
            instrument_families=list(features.get("instrument_families") or []),
            has_drums=bool(summary.get("has_drums")),
            n_tracks=summary.get("n_tracks"),
            tempo_bpm=features["tempo_used_bpm"],  # declared or estimated; None for a placeholder
            duration_seconds=summary.get("duration_seconds"),
            time_signature=summary.get("time_signature"),
            source_labels=source_labels or {},
        )
    )
    fields = {**summary, **features, "key": key, "key_confidence": confidence, "id": piece_id,
              "format": fmt, "source": source, "path": path, "title": title, "composer": composer,
              "abc": dict(header)}
    return features, labels, fields


def annotate(
    score: symusic.Score,
    table: np.ndarray,
    summary: Mapping[str, Any],
    *,
    piece_id: str,
    source: str,
    path: str,
    fmt: str,
    title: str | None = None,
    composer: str | None = None,
    abc_header: Mapping[str, str] | None = None,
    source_labels: Mapping[str, str | None] | None = None,
    tempo: TempoMap | None = None,
) -> dict[str, Any]:
    """The annotation columns of one piece (ANNOTATION_COLUMNS), from its score and summary and
    (`source_labels`) what its source states about it; `tempo`: the score's TempoMap, if made."""
    features, labels, fields = piece_facts(score, table, summary, piece_id=piece_id, source=source, path=path,
                                           fmt=fmt, title=title, composer=composer, abc_header=abc_header,
                                           source_labels=source_labels, tempo=tempo)
    tags = caption_tags(fields, labels)
    return {
        "key": fields["key"],
        "key_confidence": fields["key_confidence"],
        "features": features,
        "labels": labels,
        "tags": json.dumps(tags, sort_keys=True, ensure_ascii=False),
        "caption": write_caption(tags, piece_id),
    }


def annotate_piece(piece: ParsedPiece, piece_id: str, source: str = "", path: str = "") -> dict[str, Any]:
    """Summary plus annotation columns of a parsed piece."""
    table, tempo = note_table(piece.score), TempoMap.of(piece.score)
    summary = summarize(piece, table, tempo)
    return {**summary, **annotate(piece.score, table, summary, piece_id=piece_id, source=source, path=path,
                                  fmt=piece.format, title=piece.title, composer=piece.composer,
                                  abc_header=piece.abc_header, tempo=tempo)}


def annotate_midi(data: bytes, piece_id: str = "generated") -> dict[str, Any]:
    """Annotate MIDI bytes (a generated sample): what `evaluate` compares with the prompt."""
    score = symusic.Score.from_midi(data)
    piece = ParsedPiece("midi", score, tempo_declared=len(score.tempos) > 0, programs_declared=sets_programs(data))
    return annotate_piece(piece, piece_id)
