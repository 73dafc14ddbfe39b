"""Token shards -> packed, shuffled blocks of block_size + 1 positions.

Each shard row becomes one example, [bos] + conditions + [sep] + tokens + [eos] (conditions left out
with probability condition_dropout; of those kept, each family shown as unknown with probability
family_dropout), and examples are laid end to end and cut into blocks; bos/eos
are the document separators. A block's last position is the next block's first, so every position is
a target once. The tail of a stream is padded with pad_id, and targets equal to pad_id are ignored.

A position is `stride` ids: 1 for REMI and ABC, 8 for note rows (tokenizers/notes.py), where bos,
sep, eos and each condition token fill the first id of their own position and pad_id the rest, so
blocks always hold whole notes.
Before packing, training rows may be repeated by the rarity of a condition value (train/balance.py)
and transposed and tempo-shifted (tokenizers/augment.py); every draw is a hash, never global state.

Two readers share the packing code: a pure-pyarrow iterator (one process, `--no-ray`) and a Ray Data
pipeline (read_parquet -> map_batches(pack) -> iter_torch_batches in each worker). Both read shards
in Arrow batches: the dataset is never held in memory whole.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from symcorpus.tokenizers.augment import Augmentation
from symcorpus.arrays import as_array, list_parts, splitmix64 as _mix
from symcorpus.train.balance import RepeatFactors, copies, repeat_rows

COLUMNS = ["id", "chunk", "tokens", "conditions"]


@dataclass(frozen=True)
class SequenceFormat:
    """What packing needs from a tokenizer: plain ints, so it travels to workers and devices."""

    vocab_size: int
    pad_id: int
    bos_id: int
    eos_id: int
    sep_id: int
    condition_dropout: float = 0.0
    family_dropout: float = 0.0
    # Per condition slot: its family's index and that family's unknown token (ConditionVocab.slots).
    slot_family: tuple[int, ...] = ()
    slot_unknown: tuple[int, ...] = ()
    stride: int = 1  # ids per position: 8 for note rows
    # [first, end) of the ids that mark one note among the targets (REMI: Pitch; notes: the type
    # attribute); empty where notes cannot be counted (ABC). Validation reports loss per note with it.
    note_ids: tuple[int, ...] = ()
    music_ids: tuple[int, ...] = ()  # [first, end) of the music tokens (the tokenizer's music_range)

    @classmethod
    def of(cls, tokenizer, condition_dropout: float | None = None,
           family_dropout: float | None = None) -> SequenceFormat:
        dropout = tokenizer.condition_dropout if condition_dropout is None else condition_dropout
        families = tokenizer.family_dropout if family_dropout is None else family_dropout
        slot_family, slot_unknown = tokenizer.conditions.slots()
        return cls(tokenizer.vocab_size, tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id,
                   tokenizer.sep_id, float(dropout), float(families), tuple(slot_family), tuple(slot_unknown),
                   tokenizer.stride, note_id_range(tokenizer), tuple(tokenizer.music_range))

    def without_dropout(self) -> SequenceFormat:
        return SequenceFormat(**{**self.to_dict(), "condition_dropout": 0.0, "family_dropout": 0.0})

    def to_dict(self) -> dict:
        return asdict(self)


def note_id_range(tokenizer) -> tuple[int, ...]:
    """The ids that stand for one note each: REMI's Pitch tokens, the notes' type attribute."""
    if tokenizer.kind == "remi":
        return (tokenizer.remi.pitch0, tokenizer.remi.pitch0 + 128)
    if tokenizer.kind == "notes":
        first, size = tokenizer.notes.ranges()[0]
        return (first, first + size)
    return ()


def shard_files(tok_dir: str | Path, split: str) -> list[Path]:
    files = sorted((Path(tok_dir) / split).glob("part-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no token shards in {Path(tok_dir) / split} (run `symcorpus tokenize` first)")
    return files


def _row_hash(ids: pa.Array, chunks: pa.Array, seed: int, epoch: int) -> np.ndarray:
    """A 64-bit hash of (id, chunk, seed, epoch) per row: the same on every machine."""
    crc = np.fromiter((zlib.crc32(s.encode()) for s in ids.to_pylist()), dtype=np.uint64, count=len(ids))
    with np.errstate(over="ignore"):
        return _mix(crc ^ _mix(np.asarray(chunks, dtype=np.uint64) + np.uint64(seed * 1_000_003 + epoch)))


def _uniform(h: np.ndarray) -> np.ndarray:
    return (h >> np.uint64(11)).astype(np.float64) / 2.0**53


def keep_conditions(ids: pa.Array, chunks: pa.Array, dropout: float, seed: int, epoch: int) -> np.ndarray:
    """Whether each row keeps its condition tokens: a hash of (id, chunk, seed, epoch) against the
    dropout rate, so the choice is the same on every machine and changes from epoch to epoch."""
    return _kept(_row_hash(ids, chunks, seed, epoch), dropout)


def _kept(h: np.ndarray, dropout: float) -> np.ndarray:
    if dropout <= 0:
        return np.ones(len(h), dtype=bool)
    if dropout >= 1:
        return np.zeros(len(h), dtype=bool)
    return _uniform(h) >= dropout


def dropped_slots(ids: pa.Array, chunks: pa.Array, fmt: SequenceFormat, seed: int, epoch: int) -> np.ndarray | None:
    """(rows, slots) bool: the condition slots shown as their family's unknown token. Each family of
    each row is drawn on its own (hash of id, chunk, family, seed, epoch) against family_dropout;
    all slots of a family (the instruments) go together. None when nothing is dropped."""
    return _dropped(_row_hash(ids, chunks, seed, epoch), fmt)


def _dropped(h: np.ndarray, fmt: SequenceFormat) -> np.ndarray | None:
    if fmt.family_dropout <= 0 or not fmt.slot_family:
        return None
    slot_family = np.asarray(fmt.slot_family)
    families = np.arange(int(slot_family.max()) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = _mix(h[:, None] + _mix(families + np.uint64(0x5EED))[None, :])
    return (_uniform(h) < fmt.family_dropout)[:, slot_family]


def balanced_rows(batch: pa.RecordBatch | pa.Table, repeats: RepeatFactors | None, seed: int, epoch: int
                  ) -> tuple[pa.RecordBatch | pa.Table, np.ndarray]:
    """The batch's rows for this epoch (rare family values repeated, see balance.py) and each row's
    dropout salt (its chunk number, with the copy number above it)."""
    chunks = batch.column("chunk")
    if repeats is None:
        return batch, np.asarray(chunks, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        u = _uniform(_mix(_row_hash(batch.column("id"), chunks, seed, epoch) + np.uint64(0xBA1A)))
    return repeat_rows(batch, copies(repeats.of_rows(batch.column("conditions")), u), chunks)


def augmented_rows(batch: pa.RecordBatch | pa.Table, augment: Augmentation | None, h: np.ndarray
                   ) -> pa.RecordBatch | pa.Table:
    """The batch's rows transposed and tempo-shifted (tokenizers/augment.py) by amounts drawn from
    `h`, the rows' hash of (id, salt, seed, epoch): each copy of a repeated row gets its own."""
    if augment is None:
        return batch
    with np.errstate(over="ignore"):
        semis, bins = augment.draw(_uniform(_mix(h + np.uint64(0xA11))), _uniform(_mix(h + np.uint64(0x7E3))))
    tokens, conditions = augment.apply(as_array(batch.column("tokens")), as_array(batch.column("conditions")),
                                       semis, bins)
    return pa.RecordBatch.from_arrays([as_array(batch.column("id")), as_array(batch.column("chunk")), tokens,
                                       conditions], names=COLUMNS)


def _epoch_rows(batch: pa.RecordBatch | pa.Table, fmt: SequenceFormat, seed: int, epoch: int,
                repeats: RepeatFactors | None, augment: Augmentation | None, order=None) -> np.ndarray:
    """One Arrow batch of shard rows as this epoch's example stream: rare values repeated, rows
    shifted, put in `order` (a function of the rows' hashes giving a permutation, or None), and
    conditions dropped. Every draw comes from one hash per row, computed once."""
    batch, salt = balanced_rows(batch, repeats, seed, epoch)
    h = _row_hash(as_array(batch.column("id")), salt, seed, epoch)
    batch = augmented_rows(batch, augment, h)
    if order is not None:
        perm = order(h)
        batch, h = batch.take(pa.array(perm)), h[perm]
    return examples_stream(batch, fmt, _kept(h, fmt.condition_dropout), _dropped(h, fmt))


def examples_stream(batch: pa.RecordBatch | pa.Table, fmt: SequenceFormat, keep: np.ndarray,
                    dropped: np.ndarray | None = None) -> np.ndarray:
    """The rows of `batch` as one int32 stream of examples, vectorised over the Arrow buffers, in
    positions of fmt.stride ids (flattened). `dropped` (from `dropped_slots`) marks condition slots
    shown as unknown; rows whose conditions do not have the format's slot layout are left as they are."""
    t_off, t_vals = list_parts(batch.column("tokens"))
    c_off, c_vals = list_parts(batch.column("conditions"))
    n = len(t_off) - 1
    stride = fmt.stride
    n_tok, n_cond_all = np.diff(t_off) // stride, np.diff(c_off)
    if dropped is not None:
        rows = np.flatnonzero(n_cond_all == len(fmt.slot_unknown))
        at = c_off[rows][:, None] + np.arange(len(fmt.slot_unknown))[None, :]
        hit = dropped[rows]
        c_vals = c_vals.copy()
        c_vals[at[hit]] = np.broadcast_to(np.asarray(fmt.slot_unknown, dtype=c_vals.dtype), hit.shape)[hit]
    n_cond = n_cond_all * keep
    length = n_tok + n_cond + 3
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    # One position per row of `out`; bos, sep, eos and conditions take its first id, pad the rest.
    out = np.full((int(length.sum()), stride), fmt.pad_id, dtype=np.int32)
    out[start, 0] = fmt.bos_id
    row = np.repeat(np.arange(n), n_cond_all)  # the row of every condition value
    kept = keep[row]
    j = np.arange(len(c_vals)) - c_off[row]
    out[(start[row] + 1 + j)[kept], 0] = c_vals[kept]
    out[start + 1 + n_cond, 0] = fmt.sep_id
    row = np.repeat(np.arange(n), n_tok)
    j = np.arange(len(row)) - t_off[row] // stride
    out[start[row] + 2 + n_cond[row] + j] = t_vals.reshape(-1, stride)
    out[start + length - 1, 0] = fmt.eos_id
    return out.reshape(-1)


class Packer:
    """Cuts a stream into blocks of `block_size + 1` positions of `stride` ids (flattened),
    overlapping by one position."""

    def __init__(self, block_size: int, pad_id: int, stride: int = 1):
        self.size, self.pad_id, self.stride = (block_size + 1) * stride, pad_id, stride
        self.buffer = np.empty(0, dtype=np.int32)

    def push(self, stream: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self.buffer, stream]) if len(self.buffer) else stream
        step = self.size - self.stride
        n = max(0, (len(buf) - self.stride) // step)
        if n == 0:
            self.buffer = buf
            return np.empty((0, self.size), dtype=np.int32)
        idx = np.arange(n)[:, None] * step + np.arange(self.size)[None, :]
        blocks = buf[idx]
        self.buffer = buf[n * step :]  # the last block's final token starts the next one
        return blocks

    def flush(self) -> np.ndarray:
        """The remaining positions as one padded block (none if only the overlap is left)."""
        if len(self.buffer) <= self.stride:
            return np.empty((0, self.size), dtype=np.int32)
        block = np.full((1, self.size), self.pad_id, dtype=np.int32)
        block[0, : len(self.buffer)] = self.buffer
        self.buffer = np.empty(0, dtype=np.int32)
        return block


def _select(batch: pa.RecordBatch, ids: pa.Array | None) -> pa.RecordBatch:
    return batch if ids is None else batch.filter(pc.is_in(batch.column("id"), value_set=ids))


def iter_blocks(
    files: list[Path],
    fmt: SequenceFormat,
    block_size: int,
    *,
    epoch: int = 0,
    seed: int = 0,
    shuffle: bool = True,
    shuffle_buffer: int = 256,
    read_batch_rows: int = 256,
    ids: pa.Array | None = None,
    repeats: RepeatFactors | None = None,
    augment: Augmentation | None = None,
) -> Iterator[np.ndarray]:
    """One epoch of blocks (int32, block_size + 1) with pyarrow alone. With `shuffle`, file order
    and rows within each Arrow batch are permuted and blocks pass through a shuffle buffer, all
    drawn from (seed, epoch). `repeats` repeats rows with rare condition values; `augment` transposes
    and tempo-shifts rows."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(files)) if shuffle else np.arange(len(files))
    packer = Packer(block_size, fmt.pad_id, fmt.stride)
    held: list[np.ndarray] = []

    def drain(blocks: np.ndarray, limit: int) -> Iterator[np.ndarray]:
        if not shuffle:
            yield from blocks
            return
        held.extend(blocks)
        while len(held) > limit:  # emit a random held block: swap it to the end, pop
            i = int(rng.integers(len(held)))
            held[i], held[-1] = held[-1], held[i]
            yield held.pop()

    for f in order:
        for batch in pq.ParquetFile(files[f]).iter_batches(batch_size=read_batch_rows, columns=COLUMNS):
            batch = _select(batch, ids)
            if len(batch) == 0:
                continue
            order = (lambda h: rng.permutation(len(h))) if shuffle else None
            stream = _epoch_rows(batch, fmt, seed, epoch, repeats, augment, order)
            yield from drain(packer.push(stream), shuffle_buffer)
    yield from drain(packer.flush(), 0)


def to_inputs_targets(blocks, pad_id: int, stride: int = 1):
    """(x, y) from a (B, (T + 1) * stride) torch tensor of blocks: (B, T) each, or (B, T, stride)
    for stride > 1; padding is never a target."""
    blocks = blocks.long()
    if stride > 1:
        blocks = blocks.view(blocks.shape[0], -1, stride)
    x, y = blocks[:, :-1], blocks[:, 1:].clone()
    y[y == pad_id] = -1
    return x, y


# --------------------------------------------------------------------------------------------------
# Ray Data


class EpochClock:
    """The training epoch, told to Ray Data's packing tasks. A map_batches function cannot know which
    pass over the dataset it serves, so each worker sets this (a Ray actor) to its epoch before it
    starts a pass, and the tasks read it. Ray's streaming split starts a pass only once every worker
    has asked for it, after the previous pass has finished: all of a pass's tasks read one value."""

    def __init__(self) -> None:
        self.epoch = 0

    def set(self, epoch: int) -> None:
        self.epoch = epoch

    def get(self) -> int:
        return self.epoch


def start_epoch_clock() -> Any:
    """A new EpochClock actor (no CPU reserved: it only holds a number) in the connected Ray."""
    import ray

    return ray.remote(num_cpus=0)(EpochClock).remote()


def pack_batch(batch: pa.Table, fmt: dict, block_size: int, seed: int, ids: pa.Array | None = None,
               repeats: dict | None = None, augment: dict | None = None, clock: Any = None) -> dict:
    """map_batches function: one Arrow batch of shard rows -> {"block": (n, block_size + 1) int32}.
    Each batch is packed on its own; its tail becomes one padded block. The epoch, which draws each
    row's dropout, copies and shifts, is read from `clock` (an EpochClock actor; epoch 0 without one).
    Copies of a repeated row are spread through the batch by a hash order."""
    epoch = 0
    if clock is not None:
        import ray

        epoch = ray.get(clock.get.remote())
    fmt = SequenceFormat(**fmt)
    batch = batch.filter(pc.is_in(batch.column("id"), value_set=ids)) if ids is not None else batch
    empty = {"block": np.empty((0, (block_size + 1) * fmt.stride), dtype=np.int32)}
    if batch.num_rows == 0:
        return empty
    order = (lambda h: np.argsort(h, kind="stable")) if repeats else None
    stream = _epoch_rows(batch.combine_chunks(), fmt, seed, epoch, RepeatFactors.from_dict(repeats) if repeats else None,
                         Augmentation.from_dict(augment) if augment else None, order)
    packer = Packer(block_size, fmt.pad_id, fmt.stride)
    blocks = np.concatenate([packer.push(stream), packer.flush()])
    return {"block": blocks}


def ray_dataset(
    files: list[Path],
    fmt: SequenceFormat,
    block_size: int,
    *,
    seed: int = 0,
    shuffle: bool = True,
    read_batch_rows: int = 256,
    ids: list[str] | None = None,
    repeats: RepeatFactors | None = None,
    augment: Augmentation | None = None,
    clock: Any = None,
):
    """A lazy Ray Dataset of packed blocks; workers iterate their shard with iter_torch_batches.
    `clock`: an EpochClock actor handle the workers set before each pass (None: every pass is epoch 0)."""
    import ray.data

    ds = ray.data.read_parquet([str(f) for f in files], columns=COLUMNS, shuffle="files" if shuffle else None)
    return ds.map_batches(
        pack_batch,
        batch_format="pyarrow",
        batch_size=read_batch_rows,
        fn_kwargs={"fmt": fmt.to_dict(), "block_size": block_size, "seed": seed,
                   "ids": pa.array(ids, pa.string()) if ids is not None else None,
                   "repeats": repeats.to_dict() if repeats is not None else None,
                   "augment": augment.to_dict() if augment is not None else None, "clock": clock},
    )


# --------------------------------------------------------------------------------------------------
# Fine-tuning subset


def labelled_ids(corpus_dir: str | Path, split: str = "train", min_quality: float | None = None,
                 require_labels: bool = True) -> list[str]:
    """Ids of the corpus rows with quality_score >= min_quality and (require_labels) at least one
    label set: the fine-tuning subset. Reads only those columns, batch by batch."""
    import pyarrow.dataset as ds

    path = Path(corpus_dir) / "corpus" / split
    if not path.is_dir():
        path = Path(corpus_dir) / split
    if not path.is_dir():
        raise FileNotFoundError(f"no corpus split {split!r} under {corpus_dir} (a published corpus version)")
    dataset = ds.dataset(path, format="parquet")
    names = set(dataset.schema.names)
    if min_quality is not None and "quality_score" not in names:
        raise ValueError(f"the corpus in {corpus_dir} has no quality_score column (annotate it, or drop --min-quality)")
    if require_labels and "labels" not in names:
        raise ValueError(f"the corpus in {corpus_dir} has no labels column (annotate it first)")
    columns = ["id"] + (["quality_score"] if min_quality is not None else []) + (["labels"] if require_labels else [])
    ids: list[str] = []
    for batch in dataset.to_batches(columns=columns):
        keep = np.ones(batch.num_rows, dtype=bool)
        if min_quality is not None:
            score = batch.column("quality_score").to_numpy(zero_copy_only=False)
            keep &= np.nan_to_num(score.astype(np.float64), nan=-1.0) >= min_quality
        if require_labels:
            labels = batch.column("labels")
            any_set = np.zeros(batch.num_rows, dtype=bool)
            for i in range(labels.type.num_fields):
                any_set |= labels.field(i).is_valid().to_numpy(zero_copy_only=False)
            keep &= any_set & labels.is_valid().to_numpy(zero_copy_only=False)
        ids += batch.column("id").filter(pa.array(keep)).to_pylist()
    return sorted(ids)
