"""Where a training worker runs: the one place that differs between Ray Train and `--no-ray`.

A backend owns the worker's rank, world size and device, the checkpoint a run resumes from, the
stream of training batches, model preparation for data parallelism, and reporting metrics and
checkpoints. `backend_for(config)` picks one from the loop's config (its `ray` key), once:

    LocalBackend  rank 0 of 1 in this process; batches read with pyarrow in a prefetch thread;
                  checkpoints written into run_dir atomically, the newest num_to_keep kept
    RayBackend    a Ray Train worker; batches from its Ray Data shard; DDP when world > 1;
                  checkpoints handed to ray.train.report (Ray keeps num_to_keep)

Both append every report to run_dir/metrics.jsonl from rank 0 (Ray keeps only the last metrics).
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from symcorpus.config import TrainSettings
from symcorpus.tokenizers.augment import Augmentation
from symcorpus.train.balance import RepeatFactors
from symcorpus.train.checkpoints import checkpoint_name, checkpoints, latest_checkpoint
from symcorpus.train.data import SequenceFormat, iter_blocks, shard_files

# (epoch, batch number within the epoch from 1, (batch_size, block_size + 1) int tensor of blocks)
Batch = tuple[int, int, torch.Tensor]
# Writes a checkpoint's files into the folder it is given.
WriteCheckpoint = Callable[[Path], None]


class Backend:
    """What both backends share: metrics.jsonl and the run directory's checkpoints."""

    rank: int
    world: int
    device: torch.device

    def __init__(self, config: dict[str, Any], s: TrainSettings):
        self.config = config
        self.settings = s
        self.run_dir = Path(config["run_dir"])

    @contextlib.contextmanager
    def resume(self) -> Iterator[Path | None]:
        """The checkpoint to carry on from (a folder valid inside the `with`), or None."""
        yield latest_checkpoint(self.run_dir) if self.run_dir.is_dir() else None

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model the training step calls (wrapped for data parallelism where there is any)."""
        return model

    def batches(self, fmt: SequenceFormat, epoch: int, skip: int) -> Iterator[Batch]:
        """Endless training batches from `epoch` on, the first `skip` of that epoch left out."""
        raise NotImplementedError

    def report(self, metrics: dict[str, Any], write: WriteCheckpoint | None) -> None:
        """Record `metrics`; with `write`, also save a checkpoint named after metrics["step"]."""
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(metrics) + "\n")
        self._publish(metrics, write)

    def _publish(self, metrics: dict[str, Any], write: WriteCheckpoint | None) -> None:
        raise NotImplementedError


def backend_for(config: dict[str, Any], s: TrainSettings) -> Backend:
    return RayBackend(config, s) if config["ray"] else LocalBackend(config, s)


class LocalBackend(Backend):
    def __init__(self, config: dict[str, Any], s: TrainSettings):
        super().__init__(config, s)
        self.rank, self.world = 0, 1
        want_gpu = torch.cuda.is_available() if s.use_gpu is None else s.use_gpu
        self.device = torch.device("cuda" if want_gpu else "cpu")

    def batches(self, fmt: SequenceFormat, epoch: int, skip: int) -> Iterator[Batch]:
        # The pyarrow reader is deterministic, so a resumed run skips the batches it already took;
        # a thread reads and packs ahead of the training step.
        s, config = self.settings, self.config
        ids = pa.array(config["ids"], pa.string()) if config.get("ids") is not None else None
        epochs = numbered_batches(lambda e: local_batches(s, fmt, config, ids, e), epoch, skip, s)
        return prefetch(epochs, depth=4, pin=self.device.type == "cuda")

    def _publish(self, metrics: dict[str, Any], write: WriteCheckpoint | None) -> None:
        if write is None:
            return
        name = checkpoint_name(metrics["step"])
        tmp = self.run_dir / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        shutil.rmtree(self.run_dir / name, ignore_errors=True)
        tmp.rename(self.run_dir / name)  # a checkpoint appears whole or not at all
        for old in checkpoints(self.run_dir)[: -self.settings.num_to_keep]:
            shutil.rmtree(old)


class RayBackend(Backend):
    def __init__(self, config: dict[str, Any], s: TrainSettings):
        import ray.train
        import ray.train.torch

        super().__init__(config, s)
        context = ray.train.get_context()
        self.rank, self.world = context.get_world_rank(), context.get_world_size()
        self.device = ray.train.torch.get_device()

    @contextlib.contextmanager
    def resume(self) -> Iterator[Path | None]:
        """Ray's latest checkpoint (restored after a worker death or for a rerun of the name), else
        the newest complete one in run_dir."""
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            with super().resume() as found:
                yield found
            return
        with checkpoint.as_directory() as d:
            yield Path(d)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        import ray.train.torch

        return ray.train.torch.prepare_model(model, move_to_device=False) if self.world > 1 else model

    def batches(self, fmt: SequenceFormat, epoch: int, skip: int) -> Iterator[Batch]:
        # Ray Data's order is not reproducible: a resumed run starts its epoch afresh (skip ignored).
        return numbered_batches(self._pass, epoch, 0, self.settings)

    def _pass(self, epoch: int) -> Iterable[torch.Tensor]:
        """One pass over this worker's shard; Ray Data prefetches on its own."""
        import ray
        import ray.train

        s = self.settings
        shard = ray.train.get_dataset_shard("train")
        if self.config.get("epoch_clock") is not None:  # the packing tasks of this pass draw for this epoch
            ray.get(self.config["epoch_clock"].set.remote(epoch))
        return (b["block"] for b in shard.iter_torch_batches(
            batch_size=s.batch_size, drop_last=True, dtypes=torch.int64,
            local_shuffle_buffer_size=max(s.shuffle_buffer_blocks, s.batch_size)))

    def _publish(self, metrics: dict[str, Any], write: WriteCheckpoint | None) -> None:
        import ray.train

        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if write is not None and self.rank == 0:
                write(Path(tmp))
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            name = checkpoint_name(metrics["step"]) if write is not None else None
            ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name)


# --------------------------------------------------------------------------------------------------
# Batch streams


def numbered_batches(passes: Callable[[int], Iterable[torch.Tensor]], epoch: int, skip: int,
                     s: TrainSettings) -> Iterator[Batch]:
    """Endless (epoch, batch number, blocks) over `passes(epoch)`, one epoch after another."""
    while True:
        n = 0
        for blocks in passes(epoch):
            n += 1
            if n > skip:
                yield epoch, n, blocks
        if n == 0:
            raise ValueError(f"the train split holds fewer than batch_size={s.batch_size} blocks of "
                             f"{s.block_size + 1} tokens per worker: lower batch_size or block_size")
        epoch, skip = epoch + 1, 0


def local_batches(s: TrainSettings, fmt: SequenceFormat, config: dict[str, Any], ids: pa.Array | None,
                  epoch: int, split: str = "train", shuffle: bool = True,
                  drop_last: bool = True) -> Iterator[torch.Tensor]:
    """One epoch of `split` as (batch_size, block_size + 1) tensors, read with pyarrow."""
    files = shard_files(config["tok_dir"], split)
    # Rare values are repeated, and rows shifted, in training only: validation reads the valid rows as they are.
    train = split == "train"
    repeats = RepeatFactors.from_dict(config["repeats"]) if train and config.get("repeats") else None
    augment = Augmentation.from_dict(config["augment"]) if train and config.get("augment") else None
    held = []
    for block in iter_blocks(files, fmt, s.block_size, epoch=epoch, seed=s.seed, shuffle=shuffle,
                             shuffle_buffer=s.shuffle_buffer_blocks, read_batch_rows=s.read_batch_rows, ids=ids,
                             repeats=repeats, augment=augment):
        held.append(block)
        if len(held) == s.batch_size:
            yield torch.from_numpy(np.stack(held))
            held = []
    if held and not drop_last:
        yield torch.from_numpy(np.stack(held))


def prefetch(items: Iterator[Batch], depth: int, pin: bool) -> Iterator[Batch]:
    """Run the iterator `items` in a thread, `depth` items ahead (pinned for a fast copy to the GPU),
    so the training step only waits when reading and packing fall behind."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for epoch, n, blocks in items:
                if not offer((epoch, n, blocks.pin_memory() if pin else blocks)):
                    return
        except BaseException as e:  # handed to the training thread
            offer(e)
            return
        offer(done)

    threading.Thread(target=produce, daemon=True, name="symcorpus-prefetch").start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
