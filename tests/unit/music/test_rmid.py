"""RIFF-wrapped MIDI (.rmi): a real piece wrapped by the test reads like the plain file, by content
or by extension; broken wrappers are clear bad_midi errors; the record's id is the wrapped bytes'."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from symcorpus.music.formats import MIDI, detect_format
from symcorpus.music.notes import canonical_notes
from symcorpus.music.parse import Limits, ParseError, parse_piece
from symcorpus.sources import Record, records_from_bytes
from symcorpus.steps import run_records

from tests.conftest import make_settings


def chunk(kind: bytes, payload: bytes) -> bytes:
    """A RIFF chunk: tag, little-endian size, payload, a pad byte when the size is odd."""
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def riff(form: bytes, *chunks: bytes) -> bytes:
    body = form + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture(scope="module")
def plain(midi_from_abc) -> bytes:
    # An odd-length file, so the wrapper needs its pad byte.
    return next(data for _, data in midi_from_abc if len(data) % 2 == 1)


@pytest.fixture(scope="module")
def wrapped(plain) -> bytes:
    info = chunk(b"LIST", b"INFO" + chunk(b"INAM", b"A tune\0"))
    return riff(b"RMID", info, chunk(b"data", plain))


def test_wrapped_file_parses_to_the_same_notes(plain, wrapped):
    assert len(wrapped) % 2 == 0 and wrapped[8:12] == b"RMID"
    a, b = parse_piece(plain, MIDI, Limits()), parse_piece(wrapped, MIDI, Limits())
    assert len(canonical_notes(a.score)) > 0
    np.testing.assert_array_equal(canonical_notes(a.score), canonical_notes(b.score))
    assert b.rendered_midi == plain  # later stages read the unwrapped file
    assert a.rendered_midi is None


def test_detected_by_content_and_by_extension(wrapped):
    assert detect_format("piece.rmi", b"") == MIDI
    assert detect_format("piece.RMI", wrapped[:512]) == MIDI
    assert detect_format("no_extension", wrapped[:512]) == MIDI
    assert detect_format("no_extension", riff(b"WAVE", chunk(b"data", b"\0\0"))) is None  # other RIFF forms


def test_record_keeps_the_wrapped_bytes_and_their_id(plain, wrapped):
    (record,) = records_from_bytes("src", "dir/tune.rmi", wrapped)
    assert isinstance(record, Record) and record.format == MIDI
    assert record.id == hashlib.sha256(wrapped).hexdigest()
    row = run_records([record], make_settings())[0]
    assert row["status"] != "error", row.get("error")
    assert row["id"] == hashlib.sha256(wrapped).hexdigest()
    assert row["content"] == wrapped and row["score_midi"] == plain
    assert row["n_notes"] == run_records([Record("src", "tune.mid", MIDI, plain)], make_settings())[0]["n_notes"]


def broken_wrappers(plain: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, what the error detail must say)."""
    good = riff(b"RMID", chunk(b"data", plain))
    return {
        "header only": (b"RIFF\x10\x00", "RIFF header truncated"),
        "truncated": (good[: len(good) // 2], "RIFF declares"),
        "data chunk past the end": (
            b"RIFF" + struct.pack("<I", 4 + 8 + 10) + b"RMID" + b"data" + struct.pack("<I", 1000) + plain[:10],
            "runs 990 bytes past the end",
        ),
        "no data chunk": (riff(b"RMID", chunk(b"LIST", b"INFO")), "without a data chunk"),
        "other form": (riff(b"WAVE", chunk(b"data", plain)), "not RMID"),
        "data is no MIDI": (riff(b"RMID", chunk(b"data", b"not a midi file at all")), "no MThd header"),
    }


@pytest.mark.parametrize("name", list(broken_wrappers(b"MThd" + b"\0" * 40)))
def test_broken_wrappers_are_clear_errors(plain, name):
    data, detail = broken_wrappers(plain)[name]
    with pytest.raises(ParseError) as caught:
        parse_piece(data, MIDI, Limits())
    assert caught.value.reason == "bad_midi"
    assert detail in str(caught.value)
    row = run_records([Record("src", "broken.rmi", MIDI, data)], make_settings())[0]
    assert row["status"] == "error" and row["error"].startswith("bad_midi: ")
    assert row["id"] == hashlib.sha256(data).hexdigest()
