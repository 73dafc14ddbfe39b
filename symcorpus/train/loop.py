"""The training loop: one function that Ray's TorchTrainer runs in every worker and `--no-ray` runs
in this process. It resumes from the last checkpoint, reports loss, learning rate and tokens/s every
`log_every` steps, and validates and checkpoints every `checkpoint_every` steps and at the end.

`config` (a plain dict, so it pickles to workers): settings (TrainSettings.to_dict()), format
(SequenceFormat.to_dict()), model (GPTConfig.to_dict()), tok_dir, run_dir, ray (bool), ids (finetune
selection or None), init (a checkpoint directory to start the weights from, or None), kind, and
optionally checkpoint (False: never save) and fault (see _maybe_die).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from symcorpus.tokenizers.augment import Augmentation
from symcorpus.train.balance import RepeatFactors
from symcorpus.config import TrainSettings
from symcorpus.train.data import SequenceFormat, iter_blocks, shard_files, to_inputs_targets
from symcorpus.train.model import GPT, GPTConfig


def lr_at(step: int, s: TrainSettings) -> float:
    """Linear warm-up, then cosine decay to min_lr at max_steps."""
    if step < s.warmup_steps:
        return s.learning_rate * (step + 1) / s.warmup_steps
    progress = min(1.0, (step - s.warmup_steps) / max(1, s.max_steps - s.warmup_steps))
    return s.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (s.learning_rate - s.min_lr)


def train_loop_per_worker(config: dict[str, Any]) -> list[dict[str, Any]]:
    s = TrainSettings.from_dict(config["settings"])
    fmt = SequenceFormat(**config["format"])
    use_ray = config["ray"]
    run_dir = Path(config["run_dir"])
    if use_ray:
        import ray.train
        import ray.train.torch

        rank, world = ray.train.get_context().get_world_rank(), ray.train.get_context().get_world_size()
        device = ray.train.torch.get_device()
    else:
        rank, world = 0, 1
        want_gpu = torch.cuda.is_available() if s.use_gpu is None else s.use_gpu
        device = torch.device("cuda" if want_gpu else "cpu")
    cuda = device.type == "cuda"
    if not cuda and s.cpu_threads:
        torch.set_num_threads(s.cpu_threads)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(s.seed + rank)

    model = GPT(GPTConfig(**config["model"])).to(device)
    optimizer = model.configure_optimizer(s.weight_decay, s.learning_rate, (s.beta1, s.beta2), device.type)
    state = {"step": 0, "tokens": 0, "epoch": 0, "batch_in_epoch": 0}
    resume = _resume_dir(use_ray, run_dir)
    with resume as ckpt:
        if ckpt is not None:  # a restart or a rerun under the same name: carry on where it stopped
            model.load_state_dict(torch.load(ckpt / "model.pt", map_location=device, weights_only=True))
            optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location=device, weights_only=True))
            state.update(json.loads((ckpt / "state.json").read_text())["state"])
        elif config.get("init"):  # fine-tuning: weights from the pretrained run, a fresh optimizer
            model.load_state_dict(torch.load(Path(config["init"]) / "model.pt", map_location=device, weights_only=True))
    start_step = state["step"]
    raw = model
    if use_ray and world > 1:
        model = ray.train.torch.prepare_model(model, move_to_device=False)
    if s.compile and cuda:
        model = torch.compile(model, mode=s.compile_mode)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda and s.dtype == "bf16")

    ids = pa.array(config["ids"], pa.string()) if config.get("ids") is not None else None
    batches = _train_batches(s, fmt, config, use_ray, ids, state["epoch"], state["batch_in_epoch"])
    if not use_ray:  # Ray Data prefetches on its own; here a thread reads and packs ahead
        batches = _prefetch(batches, depth=4, pin=cuda)
    history: list[dict[str, Any]] = []
    loss_sum, n_losses, data_wait = torch.zeros((), device=device), 0, 0.0
    t_log = time.perf_counter()
    for step in range(start_step, s.max_steps):
        _maybe_die(config.get("fault"), rank, step)
        lr = lr_at(step, s)
        for group in optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        state["epoch"], state["batch_in_epoch"], blocks = next(batches)
        x, y = to_inputs_targets(blocks.to(device, non_blocking=True), fmt.pad_id)
        data_wait += time.perf_counter() - t0
        with autocast:
            _, loss = model(x, y)
        loss.backward()
        if s.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum += loss.detach()
        n_losses += 1
        state["step"] = step + 1
        state["tokens"] += x.numel() * world

        last = state["step"] == s.max_steps
        save = config.get("checkpoint", True) and (state["step"] % s.checkpoint_every == 0 or last)
        if state["step"] % s.log_every and not save and not last:
            continue
        mean_loss = loss_sum.item() / n_losses  # waits for the device: the window's work is done
        elapsed = time.perf_counter() - t_log
        metrics = {
            "kind": config.get("kind", "pretrain"),
            "step": state["step"],
            "loss": mean_loss,
            "lr": lr,
            "tokens": state["tokens"],
            "tokens_per_s": n_losses * x.numel() * world / elapsed,
            "data_wait_share": data_wait / elapsed,
            "epoch": state["epoch"],
            "start_step": start_step,
        }
        if save:
            val_loss = _validate(raw, s, fmt, config, device, autocast, rank, world)
            metrics.update(val_loss=val_loss, val_ppl=math.exp(min(val_loss, 50.0)))
        _report(metrics, save, raw, optimizer, state, config, rank, use_ray, run_dir, s)
        history.append(metrics)
        loss_sum.zero_()
        n_losses, data_wait, t_log = 0, 0.0, time.perf_counter()
    return history


# --------------------------------------------------------------------------------------------------
# Data


def _train_batches(s, fmt, config, use_ray, ids, epoch, skip):
    """Endless (epoch, batch number within the epoch, blocks) from Ray's shard or from pyarrow.
    The pyarrow path is deterministic, so a resumed run skips the batches it already took."""
    while True:
        n = 0
        if use_ray:
            import ray.train

            shard = ray.train.get_dataset_shard("train")
            if config.get("epoch_clock") is not None:  # the packing tasks of this pass draw for this epoch
                ray.get(config["epoch_clock"].set.remote(epoch))
            stream = (b["block"] for b in shard.iter_torch_batches(
                batch_size=s.batch_size, drop_last=True, dtypes=torch.int64,
                local_shuffle_buffer_size=max(s.shuffle_buffer_blocks, s.batch_size)))
            skip = 0  # Ray Data's order is not reproducible: a resumed run starts its epoch afresh
        else:
            stream = _local_batches(s, fmt, config, ids, epoch)
        for blocks in stream:
            n += 1
            if n > skip:
                yield epoch, n, blocks
        if n == 0:
            raise ValueError(f"the train split holds fewer than batch_size={s.batch_size} blocks of "
                             f"{s.block_size + 1} tokens per worker: lower batch_size or block_size")
        epoch, skip = epoch + 1, 0


def _local_batches(s, fmt, config, ids, epoch, split="train", shuffle=True, drop_last=True):
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


def _prefetch(items, depth: int, pin: bool):
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


@torch.no_grad()
def _validate(model, s, fmt, config, device, autocast, rank, world) -> float:
    """Mean loss per target token over the first eval_batches batches of the valid split, read with
    pyarrow in file order with conditions always present, so every validation sees the same blocks.
    Workers take every world-th batch and their sums are added up."""
    valid_fmt = fmt.without_dropout()
    stream = _local_batches(s, valid_fmt, config, None, 0, "valid", shuffle=False, drop_last=False)
    model.eval()
    total = torch.zeros(2, device=device, dtype=torch.float64)
    for i, blocks in enumerate(stream):
        if i >= s.eval_batches:
            break
        if i % world != rank:
            continue
        x, y = to_inputs_targets(blocks.to(device), fmt.pad_id)
        with autocast:
            _, loss = model(x, y)
        n = (y != -1).sum()
        total += torch.stack([loss.double() * n, n.double()])
    model.train()
    if world > 1:
        torch.distributed.all_reduce(total)
    return float(total[0] / total[1]) if total[1] > 0 else float("nan")


# --------------------------------------------------------------------------------------------------
# Checkpoints: model.pt (weights), optimizer.pt, state.json (step, tokens, data position, configs)


def _report(metrics, save, model, optimizer, state, config, rank, use_ray, run_dir, s) -> None:
    name = f"checkpoint_{state['step']:08d}"
    if rank == 0:  # the whole curve, beside the checkpoints (Ray keeps only the last metrics)
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
    if use_ray:
        import ray.train

        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if save and rank == 0:
                _write_checkpoint(Path(tmp), model, optimizer, state, config, metrics)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name if save else None)
    elif save:
        tmp = run_dir / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        _write_checkpoint(tmp, model, optimizer, state, config, metrics)
        shutil.rmtree(run_dir / name, ignore_errors=True)
        tmp.rename(run_dir / name)  # a checkpoint appears whole or not at all
        for old in checkpoints(run_dir)[: -s.num_to_keep]:
            shutil.rmtree(old)


def _write_checkpoint(path: Path, model, optimizer, state, config, metrics) -> None:
    path.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path / "model.pt")
    torch.save(optimizer.state_dict(), path / "optimizer.pt")
    meta = {"state": state, "model": config["model"], "format": config["format"],
            "settings": config["settings"], "kind": config.get("kind"), "metrics": metrics}
    (path / "state.json").write_text(json.dumps(meta, indent=1))


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    found = [p for p in Path(run_dir).glob("checkpoint_*")
             if (p / "state.json").is_file() and (p / "model.pt").is_file()]
    return sorted(found, key=lambda p: json.loads((p / "state.json").read_text())["state"]["step"])


def latest_checkpoint(path: str | Path) -> Path | None:
    """`path` itself when it is a checkpoint, else the newest checkpoint of the run it names."""
    path = Path(path)
    if (path / "state.json").is_file():
        return path
    found = checkpoints(path) if path.is_dir() else []
    return found[-1] if found else None


@contextlib.contextmanager
def _resume_dir(use_ray: bool, run_dir: Path):
    """Ray's latest checkpoint (Ray restores it after a worker death or for a rerun of the name),
    else the newest complete one in run_dir (a `--no-ray` run)."""
    if use_ray:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                yield Path(d)
            return
    yield latest_checkpoint(run_dir) if run_dir.is_dir() else None


def _maybe_die(fault: dict | None, rank: int, step: int) -> None:
    """Fault injection for tests: when `fault["flag"]` exists as rank `fault["rank"]` reaches step
    `fault["step"]`, remove the flag and SIGKILL this process (a real death, no clean-up)."""
    if fault and rank == fault["rank"] and step == fault["step"] and os.path.exists(fault["flag"]):
        os.remove(fault["flag"])
        os.kill(os.getpid(), signal.SIGKILL)
