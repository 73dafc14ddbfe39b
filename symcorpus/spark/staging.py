"""Wide columns kept out of Spark: the executors that run the steps write each ok piece's bytes and
annotations to a staging Parquet file, and Spark carries only light rows (ids, outcomes,
fingerprints, a reference to the staged row) through counting, deduplication and splitting.

    steps (mapInArrow) --ok pieces' CORPUS columns--> STAGE/part-<stage>-<partition>-<attempt>.parquet
                       --light rows (PIECES less WIDE_COLUMNS, + staged file, row)--> Spark
    kept light rows --(split, shard) partitions--> each task reads its rows back, sorts them by
                       id and path, writes one corpus shard (shards.py)

Each task stages a file per split its ok pieces would land in if kept, so a split's shards read
only that split's staged files.

The bytes of a piece (~27 KB for a Lakh-size MIDI file) thus cross into Python once and are written
twice by pyarrow, instead of being converted to JVM rows, cached, shuffled by the join that picks
the kept pieces, and converted back for the writer. A task run twice writes a second staged file
(its attempt number differs) and only the light rows Spark kept point at it.

The staging folder must be visible to every executor, like the folder a version is published into.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from symcorpus import schema
from symcorpus.shards import shard_name, write_shard
from symcorpus.spark.hash_partitions import partition_keys

# Columns only the corpus table needs: written to the staged files, never held by Spark.
WIDE_COLUMNS = ("content", "features", "labels", "tags", "caption")
STAGED = pa.schema([f for f in schema.CORPUS if f.name not in ("dedup_cluster", "split")])
LIGHT = pa.schema([f for f in schema.PIECES if f.name not in WIDE_COLUMNS]
                  + [pa.field("staged", pa.string()), pa.field("row", pa.int64())])
# Staged files are read back once, whole, then deleted: written for speed, not size. lz4 (MIDI bytes
# barely compress: 26.3 MB against 29.0 raw for 1,000 Lakh-size pieces), no dictionaries and no
# statistics (nothing filters on them); measured on those pieces, 0.056 ms of CPU per row written
# against 0.085 with pyarrow's defaults.
STAGED_OPTIONS = {"compression": "lz4", "use_dictionary": False, "write_statistics": False}
# Rows held per split before they are written as one row group: a task's 64-row batches hold a
# row or two of the valid and test splits each, and every row group costs a chunk per column.
STAGED_GROUP_ROWS = 256
STAGED_GROUP_BYTES = 64 * 2**20
SHARD_ORDER = [("id", "ascending"), ("path", "ascending"), ("source", "ascending")]  # rows in a corpus shard


def pieces_dir(out: Path) -> Path:
    """A hidden sibling of the version folder for the staged rows of one build or restage, owned by
    this process, so the next build removes it if this one dies (spark/swap.py)."""
    from symcorpus.spark import swap

    directory = out.parent / f".{out.name}.pieces-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    swap.claim(directory)
    return directory


def stage_batches(batches: Iterable[pa.RecordBatch], directory: str,
                  split_for: Callable[[str], str] | None = None) -> Iterator[pa.RecordBatch]:
    """PIECES batches in (one task's), LIGHT batches out; the ok rows' STAGED columns go to this
    task's files in `directory`, and their light rows name the file and the row in it.

    `split_for(id)`: the split a piece lands in if it is kept (a kept piece represents its cluster,
    whose id is its own, spark/split.py). Each split gets its own file, so writing the valid and
    test shards reads their few rows' files instead of every staged byte. A guess that turned out
    wrong would cost only reading time: the light rows say where each row is.
    """
    from pyspark import TaskContext

    task = TaskContext.get()
    base = f"part-{task.stageId():05d}-{task.partitionId():05d}-{task.attemptNumber()}"
    files = StagedFiles(Path(directory))
    try:
        for batch in batches:
            ok = pc.fill_null(pc.equal(batch.column("status"), schema.STATUS_OK), False).to_pylist()
            ids = batch.column("id").to_pylist()
            by_split: dict[str, list[int]] = defaultdict(list)
            for i in (i for i, is_ok in enumerate(ok) if is_ok):
                by_split[split_for(ids[i]) if split_for else ""].append(i)
            staged: list[str | None] = [None] * batch.num_rows
            rows: list[int | None] = [None] * batch.num_rows
            for split, indices in sorted(by_split.items()):
                name = f"{base}-{split}.parquet" if split else f"{base}.parquet"
                first = files.add(name, batch.take(pa.array(indices, pa.int64())))
                for offset, i in enumerate(indices):
                    staged[i], rows[i] = name, first + offset
            light = [batch.column(f.name) for f in LIGHT if f.name not in ("staged", "row")]
            yield pa.RecordBatch.from_arrays(light + [pa.array(staged, pa.string()), pa.array(rows, pa.int64())],
                                             schema=LIGHT)
    finally:
        files.close()


class StagedFiles:
    """One task's staged files, by name: rows are numbered as they arrive and written in row groups
    of STAGED_GROUP_ROWS (or STAGED_GROUP_BYTES), the rest when the task ends."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.pending: dict[str, list[pa.RecordBatch]] = defaultdict(list)
        self.rows: dict[str, int] = defaultdict(int)  # rows numbered so far, written or pending

    def add(self, name: str, batch: pa.RecordBatch) -> int:
        """Stage the batch's rows in file `name`; the number its first row has there."""
        first = self.rows[name]
        self.rows[name] += batch.num_rows
        pending = self.pending[name]
        pending.append(batch)
        if sum(b.num_rows for b in pending) >= STAGED_GROUP_ROWS or sum(b.nbytes for b in pending) >= STAGED_GROUP_BYTES:
            self._write(name)
        return first

    def _write(self, name: str) -> None:
        if name not in self.writers:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.writers[name] = pq.ParquetWriter(self.directory / name, STAGED, **STAGED_OPTIONS)
        table = pa.Table.from_batches(self.pending.pop(name))
        self.writers[name].write_table(table.select(STAGED.names).cast(STAGED), row_group_size=table.num_rows)

    def close(self) -> None:
        for name in list(self.pending):
            self._write(name)
        for writer in self.writers.values():
            writer.close()


def write_corpus_shard(refs: Iterable[tuple[str, int]], staged: str, target: str, split: str) -> dict | None:
    """One corpus shard at `target` from references (staged file, row) into the folder `staged`:
    the rows read back, given their cluster (their own id: every kept piece represents its
    cluster) and split, sorted by id, path and source. Returns shards.write_shard's summary.

    The rows are put in their final order by one `take` over the staged files read back: the order
    comes from the three sort columns alone, so the wide columns (a piece's bytes) are copied once,
    not once to pick the rows and again to sort them. A file whose rows are mostly not referenced
    (duplicates) gives up its picked rows at once instead, so that the files held until the take
    never weigh more than twice the rows the shard needs."""
    by_file: dict[str, list[int]] = defaultdict(list)
    for name, row in refs:
        by_file[name].append(row)
    if not by_file:
        return None
    tables, picked, offset = [], [], 0
    for name in sorted(by_file):
        table = pq.ParquetFile(Path(staged) / name).read()  # its own schema: STAGED, as written
        rows = np.sort(np.asarray(by_file[name], np.int64))
        if len(rows) * 2 < table.num_rows:  # mostly duplicates: copy the few rows, free the file
            table, rows = table.take(rows), np.arange(len(rows), dtype=np.int64)
        picked.append(offset + rows)
        tables.append(table)
        offset += table.num_rows
    staged_rows = pa.concat_tables(tables)  # no copy: the files' chunks side by side
    rows = np.concatenate(picked)
    keys = staged_rows.select([name for name, _ in SHARD_ORDER]).take(rows)
    table = staged_rows.take(rows[pc.sort_indices(keys, sort_keys=SHARD_ORDER).to_numpy()])
    table = table.append_column("dedup_cluster", table.column("id"))
    table = table.append_column("split", pa.array([split] * table.num_rows, pa.string()))
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    return write_shard(table.select(schema.CORPUS.names).to_batches(), target, schema.CORPUS)


def write_corpus(kept, staged: Path, root: Path, shards_per_split: dict[str, int]) -> None:
    """The corpus table of a version under root/corpus/<split>/ from `kept` (light rows of the kept
    pieces with their `split`): `shards_per_split[split]` shards each, in one Spark job; by the
    driver when every split is one shard (a small corpus, where a job's start-up and its shuffle
    took ~3 s for ~1 s of writing).

    Each split's staged files are dealt out to its shards in name order, in contiguous runs, so a
    staged file is read once per split it has rows in; only the references (file, row)
    are moved between tasks.
    """
    from symcorpus.shards import number_shards

    if all(n <= 1 for n in shards_per_split.values()):
        _write_corpus_in_driver(kept, staged, root)
        return
    files = kept.groupBy("split", "staged").count().collect()
    by_split: dict[str, list[str]] = defaultdict(list)
    for row in files:
        by_split[row["split"]].append(row["staged"])
    shard_of: dict[tuple[str, str], int] = {}  # (split, staged file) -> partition of the job
    targets: list[tuple[str, int]] = []  # partition -> (split, shard number)
    for split in sorted(by_split):
        names = sorted(by_split[split])
        n = max(1, min(shards_per_split.get(split, 1), len(names)))
        first = len(targets)
        targets += [(split, j) for j in range(n)]
        for k, name in enumerate(names):
            shard_of[(split, name)] = first + k * n // len(names)
    if not targets:
        return
    # Each staged file's rows go to its shard's partition: a small table (split, staged file, key)
    # joined to the references, spread by a key Spark's hash partitioning sends to that partition.
    # All in the JVM until the writing task: an RDD with Python functions to map and partition
    # the references ran them in Python workers of a second daemon (spark/frames.py units_frame).
    from pyspark.sql import functions as F

    keys = partition_keys(len(targets))
    placed = sorted(shard_of.items())
    places = kept.sparkSession.createDataFrame(pa.table({
        "split": [split for (split, _), _ in placed], "staged": [name for (_, name), _ in placed],
        "key": pa.array([keys[partition] for _, partition in placed], pa.int64())}))
    refs = (kept.select("split", "staged", "row").join(F.broadcast(places), ["split", "staged"])
            .repartition(len(targets), "key").select("staged", "row"))
    run = functools.partial(_write_corpus_partition, targets=targets, staged=str(staged), out=str(root / "corpus"))
    refs.mapInArrow(run, "rows long").collect()
    for split in by_split:
        number_shards(root / "corpus" / split)


def _write_corpus_partition(batches: Iterator[pa.RecordBatch], targets: list[tuple[str, int]], staged: str,
                            out: str) -> Iterator[pa.RecordBatch]:
    """A task of write_corpus: the shard its partition stands for, from the references it holds."""
    from pyspark import TaskContext

    split, shard = targets[TaskContext.get().partitionId()]
    refs = [ref for batch in batches for ref in zip(batch.column("staged").to_pylist(), batch.column("row").to_pylist())]
    written = write_corpus_shard(refs, staged, str(Path(out) / split / shard_name(shard)), split)
    yield pa.RecordBatch.from_pylist([{"rows": 0 if written is None else written["rows"]}], pa.schema([("rows", pa.int64())]))


def _write_corpus_in_driver(kept, staged: Path, root: Path) -> None:
    """One shard per split, written here from the references (a few bytes a piece) collected from
    `kept`: the same write_corpus_shard, so the same bytes as a Spark task writes."""
    refs = kept.select("split", "staged", "row").toArrow().to_pydict()
    by_split: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for split, name, row in zip(refs["split"], refs["staged"], refs["row"]):
        by_split[split].append((name, row))
    for split in sorted(by_split):
        write_corpus_shard(by_split[split], str(staged), str(root / "corpus" / split / shard_name(0)), split)
