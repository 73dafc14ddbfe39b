"""A corpus shard written from staged rows: the rows referenced, in the corpus order, and nothing else."""

from __future__ import annotations

import random
import subprocess
import sys

import pyarrow as pa
import pytest
import pyarrow.parquet as pq

from symcorpus import schema
from symcorpus.spark.staging import STAGED, STAGED_GROUP_ROWS, STAGED_OPTIONS, StagedFiles, write_corpus_shard


def staged_table(rows: list[dict]) -> pa.Table:
    columns = {f.name: [row.get(f.name) for row in rows] for f in STAGED}
    return pa.Table.from_pydict(columns, schema=STAGED)


# Most rows referenced (files kept whole until the one take), or few (duplicates: each file's rows
# taken as it is read).
@pytest.mark.parametrize("share", [0.7, 0.1])
def test_a_shard_holds_the_referenced_rows_sorted_by_id_path_and_source(tmp_path, share):
    rng = random.Random(7)
    # Ids repeat across sources and paths, so the second and third sort keys decide some places.
    rows = [{"id": f"{rng.randrange(40):04x}", "source": rng.choice("ab"), "path": f"p{i:03d}.mid",
             "format": "midi", "content": rng.randbytes(rng.randrange(1, 300))} for i in range(120)]
    files = {"part-1.parquet": rows[:50], "part-0.parquet": rows[50:90], "part-2.parquet": rows[90:]}
    for name, part in files.items():
        pq.write_table(staged_table(part), tmp_path / name, **STAGED_OPTIONS)
    refs = [(name, i) for name, part in files.items() for i in range(len(part)) if rng.random() < share]
    rng.shuffle(refs)

    written = write_corpus_shard(refs, str(tmp_path), str(tmp_path / "shard.parquet"), "valid")

    shard = pq.read_table(tmp_path / "shard.parquet")
    assert shard.schema == schema.CORPUS and written["rows"] == len(refs) == shard.num_rows
    wanted = sorted((files[name][i] for name, i in refs), key=lambda r: (r["id"], r["path"], r["source"]))
    got = shard.select(["id", "path", "source", "content"]).to_pylist()
    assert got == [{k: r[k] for k in ("id", "path", "source", "content")} for r in wanted]
    assert shard.column("dedup_cluster").to_pylist() == shard.column("id").to_pylist()
    assert set(shard.column("split").to_pylist()) == {"valid"}


def test_no_references_write_no_shard(tmp_path):
    assert write_corpus_shard([], str(tmp_path), str(tmp_path / "shard.parquet"), "train") is None
    assert not (tmp_path / "shard.parquet").exists()


def test_files_mostly_of_duplicates_are_not_held_together(tmp_path):
    """Sixteen staged files of 4 MB, two rows of each referenced: the shard needs 3.2 MB, and
    Arrow's peak while writing it stays under half of the 64 MB staged (a fresh process, so the
    peak is this call's). Holding every file until the take peaked at ~130 MB; reading one file
    and taking its rows costs ~20 MB."""
    rng = random.Random(3)
    refs = []
    for f in range(16):
        rows = [{"id": f"{f:02d}{i:03d}", "source": "s", "path": f"{f}/{i}.mid", "format": "midi",
                 "content": rng.randbytes(100_000)} for i in range(40)]
        pq.write_table(staged_table(rows), tmp_path / f"part-{f}.parquet", **STAGED_OPTIONS)
        refs += [(f"part-{f}.parquet", 5), (f"part-{f}.parquet", 30)]
    code = ("import sys, pyarrow as pa; from symcorpus.spark.staging import write_corpus_shard; "
            f"w = write_corpus_shard({refs!r}, {str(tmp_path)!r}, {str(tmp_path / 'shard.parquet')!r}, 'train'); "
            "print(w['rows'], pa.default_memory_pool().max_memory())")
    rows, peak = map(int, subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                         text=True).stdout.split())
    assert rows == 32
    assert 3_200_000 < peak < 32 * 2**20


def test_staged_rows_are_numbered_as_they_arrive_and_written_in_few_row_groups(tmp_path):
    """A task's batches hold many train rows and a row or two of valid: each file's rows are where
    their numbers say, and the valid file is not one row group per batch."""
    rng = random.Random(5)
    files = StagedFiles(tmp_path / "stage")
    expected: dict[tuple[str, int], bytes] = {}
    for b in range(300):
        for name, n in (("t-train.parquet", 60 + b % 7), ("t-valid.parquet", b % 3)):
            if n == 0:
                continue
            rows = [{"id": f"{b:03d}{i:02d}", "source": "s", "path": f"{b}/{i}.mid", "format": "midi",
                     "content": rng.randbytes(rng.randrange(1, 200))} for i in range(n)]
            first = files.add(name, staged_table(rows).to_batches()[0])
            expected.update({(name, first + i): row["content"] for i, row in enumerate(rows)})
    files.close()
    for name in ("t-train.parquet", "t-valid.parquet"):
        staged = pq.ParquetFile(tmp_path / "stage" / name)
        content = staged.read(columns=["content"]).column("content").to_pylist()
        assert content == [expected[(name, i)] for i in range(len(content))]
        assert staged.metadata.num_rows == sum(1 for (n, _) in expected if n == name)
        assert staged.metadata.num_row_groups <= staged.metadata.num_rows // STAGED_GROUP_ROWS + 1
