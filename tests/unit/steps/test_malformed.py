"""Bad input: hundreds of malformed files, each must end as an error row with a reason, while the
build's steps go on, the good files beside them are kept, and the counts add up. The per-record
steps run in this process (`steps.run_local`); tests/integration/spark/test_build.py checks that a
Spark build publishes such rows."""

from __future__ import annotations

import io
import json
import random
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from symcorpus import schema
from symcorpus.steps import run_local
from symcorpus.testing.variants import transpose

from tests.conftest import M21, MUSICXML_FILES, make_settings

MAX_BYTES = 1 << 20  # the test build's bound: the zip bomb and the big file exceed it


def _track_bounds(midi: bytes) -> list[tuple[int, int]]:
    """(start of chunk header, end of chunk) of each MTrk chunk."""
    bounds, pos = [], 14
    while pos + 8 <= len(midi):
        (length,) = struct.unpack(">I", midi[pos + 4 : pos + 8])
        bounds.append((pos, pos + 8 + length))
        pos += 8 + length
    return bounds


def malformed_midi(midi_files: list[bytes], rng: random.Random) -> dict[str, bytes]:
    """Structurally broken MIDI made from real files."""
    bad: dict[str, bytes] = {}
    for i, data in enumerate(midi_files):
        start, end = _track_bounds(data)[0]
        for k in range(4):  # truncated anywhere
            bad[f"trunc_{i}_{k}.mid"] = data[: rng.randrange(1, len(data) - 1)]
        bad[f"trunc_header_only_{i}.mid"] = data[:14]
        for k in range(3):  # one bit flipped in the structure: chunk tags, lengths, End of Track
            b = bytearray(data)
            where = rng.choice([rng.randrange(0, 4), rng.randrange(start, start + 8), rng.randrange(end - 3, end)])
            b[where] ^= 1 << rng.randrange(8)
            bad[f"bitflip_{i}_{k}.mid"] = bytes(b)
        b = bytearray(data)
        b[start + 4 : start + 8] = struct.pack(">I", 0x7FFFFFF0)
        bad[f"absurd_track_length_{i}.mid"] = bytes(b)
        b = bytearray(data)
        b[10:12] = struct.pack(">H", 60000)
        bad[f"absurd_track_count_{i}.mid"] = bytes(b)
        b = bytearray(data)
        b[12:14] = b"\x00\x00"
        bad[f"zero_division_{i}.mid"] = bytes(b)
        b = bytearray(data)
        b[8:10] = struct.pack(">H", 9)
        bad[f"format_9_{i}.mid"] = bytes(b)
    for k in range(15):
        bad[f"random_{k}.mid"] = rng.randbytes(rng.randrange(1, 3000))
        bad[f"mthd_then_random_{k}.midi"] = b"MThd" + rng.randbytes(rng.randrange(10, 3000))
    bad["empty.mid"] = b""
    bad["big.mid"] = data[:14] + b"\x00" * (MAX_BYTES + 10)
    return bad


def malformed_abc(rng: random.Random) -> dict[str, bytes]:
    bad: dict[str, bytes] = {}
    letters = "HIJLMNOPQRSTUVWYhijklmnopqrstuvwy0123456789 |:[]"
    for k in range(12):
        bad[f"binary_{k}.abc"] = rng.randbytes(rng.randrange(1, 2000)).replace(b"X:", b"x;")
    for k in range(12):  # a tune header that never reaches K:, so it has no body
        bad[f"no_key_{k}.abc"] = f"X:{k}\nT:Garbage {k}\nM:4/4\n".encode() + rng.randbytes(200).replace(b"K:", b"k;")
    for k in range(12):  # a body of characters that are not notes
        body = "".join(rng.choice(letters) for _ in range(300))
        bad[f"no_notes_{k}.abc"] = f"X:1\nT:Noise\nK:C\n{body}\n".encode()
    bad["empty.abc"] = b""
    return bad


def malformed_scores(rng: random.Random) -> dict[str, bytes]:
    bad: dict[str, bytes] = {}
    xml = (M21 / "bach/bwv66.6.mxl").read_bytes()
    with zipfile.ZipFile(io.BytesIO(xml)) as z:
        inner = z.read(next(n for n in z.namelist() if n.endswith(".xml") and "META" not in n))
    for k in range(8):
        bad[f"truncated_{k}.musicxml"] = inner[: rng.randrange(200, len(inner) // 2)]
    for k in range(5):
        bad[f"not_a_zip_{k}.mxl"] = rng.randbytes(500)
    depth = 50_000
    bad["deeply_nested.musicxml"] = (b'<?xml version="1.0"?>\n<score-partwise>' + b"<a>" * depth
                                     + b"</a>" * depth + b"</score-partwise>")
    bad["empty.xml"] = b""
    for k in range(5):
        bad[f"random_{k}.krn"] = rng.randbytes(400)
    bad["empty.krn"] = b""
    return bad


def malformed_archives(root: Path, midi: bytes, rng: random.Random) -> list[tuple[str, str]]:
    """Archives with bad members; returns the (source, path) pairs that must be errors."""
    expected = []
    with zipfile.ZipFile(root / "evil.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("../evil.mid", midi)
        z.writestr("/absolute.mid", midi)
        z.writestr("a/../../escape.mid", midi)
        z.writestr("bomb.mid", b"MThd" + b"\x00" * (64 * MAX_BYTES))  # 64 MiB of zeros, ~64 KB packed
        z.writestr("good.mid", midi)
    expected += [("evil", n) for n in ("../evil.mid", "/absolute.mid", "a/../../escape.mid", "bomb.mid")]
    (root / "corrupt.zip").write_bytes(rng.randbytes(3000))
    expected.append(("corrupt", "corrupt.zip"))
    with tarfile.open(root / "evil.tar.gz", "w:gz") as t:
        for name, data in [("../up.mid", midi), ("fine.mid", midi)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    expected.append(("evil-2", "../up.mid"))
    # A gzip stream cut in half: members before the cut are read, then the archive is an error.
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as t:
        for k in range(8):
            data = transpose(midi, k)
            info = tarfile.TarInfo(f"piece_{k}.mid")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    (root / "cut.tgz").write_bytes(packed.getvalue()[: len(packed.getvalue()) // 2])
    expected.append(("cut", "cut.tgz"))
    return expected


@pytest.fixture(scope="module")
def malformed_build(midi_from_abc, tmp_path_factory):
    rng = random.Random(20261123)
    root = tmp_path_factory.mktemp("malformed")
    bad_dir, archives = root / "bad", root / "archives"
    bad_dir.mkdir()
    archives.mkdir()
    bad = {}
    bad.update({f"midi/{k}": v for k, v in malformed_midi([d for _, d in midi_from_abc], rng).items()})
    bad.update({f"abc/{k}": v for k, v in malformed_abc(rng).items()})
    bad.update({f"scores/{k}": v for k, v in malformed_scores(rng).items()})
    for rel, data in bad.items():
        (bad_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (bad_dir / rel).write_bytes(data)
    good = {"good/one.mid": midi_from_abc[0][1], "good/two.abc": (M21 / "nottingham-dataset/reelsa-c.abc").read_bytes(),
            "good/three.mxl": (M21 / MUSICXML_FILES[0]).read_bytes()}
    for rel, data in good.items():
        (bad_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (bad_dir / rel).write_bytes(data)
    expected = [("bad", rel + ("#1" if rel.endswith(".abc") else "")) for rel in bad]
    expected += malformed_archives(archives, midi_from_abc[1][1], rng)
    sources = [str(bad_dir)] + [str(archives / n) for n in ("evil.zip", "corrupt.zip", "evil.tar.gz", "cut.tgz")]
    rows, counts = run_local(sources, make_settings(max_bytes=MAX_BYTES))
    return rows, counts, expected


def errors_of(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["status"] == schema.STATUS_ERROR]


def test_at_least_200_malformed_inputs(malformed_build):
    *_, expected = malformed_build
    assert len(expected) >= 200


def test_every_malformed_input_is_an_error_row_with_a_reason(malformed_build):
    rows, _, expected = malformed_build
    errors = errors_of(rows)
    by_key = {(e["source"], e["path"]): e for e in errors}
    missing = [key for key in expected if key not in by_key]
    assert not missing, f"{len(missing)} malformed inputs without an error row, e.g. {missing[:5]}"
    for key in expected:
        error = by_key[key]
        assert error["stage"] in ("ingest", "parse")
        reason, _, detail = error["error"].partition(": ")
        assert reason and reason.replace("_", "").isalnum() and detail, error
    assert len(errors) == len(expected)  # nothing good was turned into an error


def test_specific_reasons(malformed_build):
    rows, *_ = malformed_build
    reasons = {(e["source"], e["path"]): e["error"].split(":")[0] for e in errors_of(rows)}
    assert reasons[("evil", "../evil.mid")] == "unsafe_path"
    assert reasons[("evil", "bomb.mid")] == "too_large"
    assert reasons[("bad", "midi/big.mid")] == "too_large"
    assert reasons[("bad", "midi/empty.mid")] == "empty"
    assert reasons[("bad", "midi/absurd_track_length_0.mid")] == "bad_midi"
    assert reasons[("corrupt", "corrupt.zip")] == "bad_archive"
    assert reasons[("cut", "cut.tgz")] == "bad_archive"
    assert reasons[("bad", "abc/no_key_0.abc#1")] == "bad_abc"


def test_good_files_beside_bad_ones_are_kept_and_counts_add_up(malformed_build):
    rows, counts, expected = malformed_build
    kept = {(r["source"], r["path"]) for r in rows if r["status"] == schema.STATUS_OK}
    assert {("bad", "good/one.mid"), ("bad", "good/two.abc#1"), ("bad", "good/two.abc#2"),
            ("bad", "good/three.mxl"), ("evil", "good.mid"), ("evil-2", "fine.mid")} <= kept
    assert 0 < len({p for s, p in kept if s == "cut"}) < 8  # the members before the cut
    records = [r for r in rows if r["status"] != schema.STATUS_SKIPPED]
    stopped = sum(sum(c["errors"].values()) + sum(c["rejected"].values()) for c in counts.values())
    assert len(records) == len(kept) + stopped  # every record kept or stopped by a step, with a reason
    assert sum(sum(c["errors"].values()) for c in counts.values()) == len(expected)
