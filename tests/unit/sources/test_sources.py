"""Sources: what a SOURCE argument names, its units, and how units read into records."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from symcorpus.config import IngestSettings, Music21Settings
from symcorpus.sources import (IngestFailure, Record, Skipped, SourceError, Unit, estimated_cost, list_units,
                               pack_partitions, partition_count, read_unit, resolve_source)
from symcorpus.sources.base import READ_CHUNK, read_capped
from symcorpus.sources.music21 import NAME as MUSIC21

from tests.conftest import M21

TUNES = (M21 / "nottingham-dataset/reelsa-c.abc").read_bytes()


def items(unit: Unit, max_bytes: int = 1 << 20) -> list:
    return list(read_unit(vars(unit), max_bytes))


def test_source_names_and_clear_errors(tmp_path):
    (tmp_path / "songs").mkdir()
    (tmp_path / "songs.zip").write_bytes(b"")
    first = resolve_source(str(tmp_path / "songs"))
    second = resolve_source(str(tmp_path / "songs.zip"), {first.name})
    assert (first.kind, first.name) == ("directory", "songs") and (second.kind, second.name) == ("zip", "songs-2")
    with pytest.raises(SourceError, match="source not found"):
        resolve_source(str(tmp_path / "missing"))
    (tmp_path / "a.mid").write_bytes(b"MThd")
    with pytest.raises(SourceError, match="neither a directory"):
        resolve_source(str(tmp_path / "a.mid"))
    assert resolve_source(MUSIC21).kind == MUSIC21


def test_a_directory_reads_into_records_failures_and_skipped_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "reels.abc").write_bytes(TUNES)
    (tmp_path / "big.mid").write_bytes(b"MThd" + b"\0" * 100)
    (tmp_path / "readme.txt").write_text("hello")
    units = list_units(resolve_source(str(tmp_path)), IngestSettings())
    assert [u.member for u in units] == ["big.mid", "readme.txt", "sub/reels.abc"]
    read = {u.member: items(u, max_bytes=64) for u in units}
    assert isinstance(read["big.mid"][0], IngestFailure) and read["big.mid"][0].error.startswith("too_large:")
    assert isinstance(read["readme.txt"][0], Skipped)
    read = {u.member: items(u) for u in units}
    tunes = read["sub/reels.abc"]
    assert all(isinstance(t, Record) and t.format == "abc" for t in tunes) and len(tunes) > 1
    assert tunes[0].path == "sub/reels.abc#1" and len({t.id for t in tunes}) == len(tunes)


def test_archives_read_in_place_and_refuse_escaping_names(tmp_path):
    zipped = tmp_path / "songs.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("reels.abc", TUNES)
        z.writestr("../evil.abc", TUNES)
    units = list_units(resolve_source(str(zipped)), IngestSettings())
    assert [u.member for u in units] == ["reels.abc", "../evil.abc"]
    assert all(isinstance(i, Record) for i in items(units[0]))
    assert items(units[1])[0].error.startswith("unsafe_path:")
    tarred = tmp_path / "songs.tar.gz"
    with tarfile.open(tarred, "w:gz") as t:
        info = tarfile.TarInfo("reels.abc")
        info.size = len(TUNES)
        t.addfile(info, io.BytesIO(TUNES))
    [whole] = list_units(resolve_source(str(tarred)), IngestSettings())
    assert (whole.kind, whole.member) == ("tar", "")  # a compressed tar is read front to back, by one task
    assert [r.content for r in items(whole)] == [r.content for r in items(units[0])]
    (tmp_path / "broken.tar").write_bytes(b"not a tar at all" * 100)
    [broken] = list_units(resolve_source(str(tmp_path / "broken.tar")), IngestSettings())
    assert items(broken)[0].error.startswith("bad_archive:")


def test_music21_subset_spans_the_collection():
    source = resolve_source(MUSIC21)
    units = list_units(source, IngestSettings(music21=Music21Settings(formats=["musicxml"], max_files={"musicxml": 10})))
    assert len(units) == 10 and all(u.member.endswith((".mxl", ".xml", ".musicxml")) for u in units)
    assert len({u.member.split("/")[0] for u in units}) > 3  # spread over composers, not the first ten files


def test_partitions_balance_parse_cost_deterministically():
    units = [Unit("s", "file", "/r", f"f{i}.mid", 1000) for i in range(100)]
    units += [Unit("s", "file", "/r", f"big{i}.mxl", 500_000) for i in range(4)]
    parts = pack_partitions(units, 4)
    assert parts == pack_partitions(units, 4)
    assert sorted(u.member for p in parts for u in p) == sorted(u.member for u in units)
    loads = [sum(estimated_cost(u) for u in p) for p in parts]
    assert max(loads) < 1.05 * min(loads)  # one big MusicXML file per partition, MIDI spread around them
    assert [sum(u.member.startswith("big") for u in p) for p in parts] == [1, 1, 1, 1]


@pytest.mark.parametrize(("units", "cores", "expected"), [
    (10_000, 2, 16),  # at least 8 a core
    (50_000, 2, 16),  # 13 would do by size; 8 a core is more
    (100_000, 2, 26),  # 25 by size: one more, so both cores finish the last round together
    (100_000, 3, 27),
    (1_000_000, 64, 512),
    (5, 2, 16),  # pack_partitions makes no more partitions than units
])
def test_partition_count_is_whole_rounds_of_tasks_of_bounded_size(units, cores, expected):
    n = partition_count(units, cores, max_units_per_partition=4000, min_partitions_per_core=8)
    assert n == expected and n % cores == 0 and units / n <= 4000


class Trickle(io.RawIOBase):
    """A stream that hands out at most 1,000 bytes a read, as a socket or a decompressor may."""

    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = 1000 if n < 0 else min(n, 1000)
        part = self.data[self.at : self.at + n]
        self.at += len(part)
        return part


@pytest.mark.parametrize("size", [0, 1, READ_CHUNK - 1, READ_CHUNK, READ_CHUNK + 1, 3 * READ_CHUNK + 5])
def test_read_capped_reads_across_chunks_and_stops_one_byte_past_the_cap(size):
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    for stream in (io.BytesIO(data), Trickle(data)):
        assert read_capped(stream, size) == data  # exactly the cap: all of it
    for stream in (io.BytesIO(data + b"x"), Trickle(data + b"x" * 5000)):
        assert read_capped(stream, size) is None  # a byte more: too large
    stream = Trickle(data + b"y" * 10 * READ_CHUNK)
    assert read_capped(stream, size) is None and stream.at <= size + 1  # never reads on past the cap
