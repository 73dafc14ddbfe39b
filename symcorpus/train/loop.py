"""The training loop: one function that Ray's TorchTrainer runs in every worker and `--no-ray` runs
in this process. It resumes from the last checkpoint, reports loss, learning rate and tokens/s every
`log_every` steps, and validates and checkpoints every `checkpoint_every` steps and at the end.
Where it runs (rank, device, batches, checkpoints) is the backend's business (backend.py).

The model is whatever config["model"] describes (its `kind`: the token GPT or the note-level model,
chosen by the runner); both take (inputs, targets) and give a loss, and `position_nll` for
validation, so nothing here depends on which one it is.

`config` (a plain dict, so it pickles to workers): settings (TrainSettings.to_dict()), format
(SequenceFormat.to_dict()), model (GPTConfig or NoteConfig .to_dict()), tok_dir, run_dir, ray (bool: which
backend), ids (finetune selection or None), init (a checkpoint directory to start the weights from,
or None), kind, and optionally checkpoint (False: never save), fault (see _maybe_die), repeats,
augment and epoch_clock.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch

from symcorpus.config import TrainSettings
from symcorpus.train.backend import backend_for, local_batches
from symcorpus.train.checkpoints import load_checkpoint, load_weights, write_checkpoint
from symcorpus.train.data import SequenceFormat, to_inputs_targets
from symcorpus.train.architectures import build_model


def lr_at(step: int, s: TrainSettings) -> float:
    """Linear warm-up, then cosine decay to min_lr at max_steps."""
    if step < s.warmup_steps:
        return s.learning_rate * (step + 1) / s.warmup_steps
    progress = min(1.0, (step - s.warmup_steps) / max(1, s.max_steps - s.warmup_steps))
    return s.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (s.learning_rate - s.min_lr)


def train_loop_per_worker(config: dict[str, Any]) -> list[dict[str, Any]]:
    s = TrainSettings.from_dict(config["settings"])
    fmt = SequenceFormat(**config["format"])
    backend = backend_for(config, s)
    device, rank, world = backend.device, backend.rank, backend.world
    cuda = device.type == "cuda"
    if not cuda and s.cpu_threads:
        torch.set_num_threads(s.cpu_threads)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(s.seed + rank)

    model = build_model(config["model"]).to(device)
    optimizer = model.configure_optimizer(s.weight_decay, s.learning_rate, (s.beta1, s.beta2), device.type)
    state = {"step": 0, "tokens": 0, "epoch": 0, "batch_in_epoch": 0}
    with backend.resume() as ckpt:
        if ckpt is not None:  # a restart or a rerun under the same name: carry on where it stopped
            state.update(load_checkpoint(ckpt, model, optimizer, device))
        elif config.get("init"):  # fine-tuning: weights from the pretrained run, a fresh optimizer
            load_weights(Path(config["init"]), model, device)
    start_step = state["step"]
    raw = model
    model = backend.prepare(model)
    if s.compile and cuda:
        model = torch.compile(model, mode=s.compile_mode)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda and s.dtype == "bf16")

    batches = backend.batches(fmt, state["epoch"], state["batch_in_epoch"])
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
        x, y = to_inputs_targets(blocks.to(device, non_blocking=True), fmt.pad_id, fmt.stride)
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
        positions = x.shape[0] * x.shape[1]  # tokens, or notes for the note-level model
        state["tokens"] += positions * world

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
            "tokens_per_s": n_losses * positions * world / elapsed,
            "data_wait_share": data_wait / elapsed,
            "epoch": state["epoch"],
            "start_step": start_step,
        }
        checkpoint = None
        if save:
            val_loss, per_note = validate(raw, s, fmt, config, device, autocast, rank, world)
            metrics.update(val_loss=val_loss, val_ppl=math.exp(min(val_loss, 50.0)))
            if per_note is not None:
                metrics["val_loss_per_note"] = per_note
            checkpoint = functools.partial(write_checkpoint, model=raw, optimizer=optimizer, state=state,
                                           config=config, metrics=metrics)
        backend.report(metrics, checkpoint)
        history.append(metrics)
        loss_sum.zero_()
        n_losses, data_wait, t_log = 0, 0.0, time.perf_counter()
    return history


@torch.no_grad()
def validate(model, s, fmt, config, device, autocast, rank, world) -> tuple[float, float | None]:
    """Mean loss per target position, and the music's loss per note (the summed loss of the music
    and eos targets over the notes among them: comparable between tokenizations; None where notes
    are not counted), over the first eval_batches batches of the valid split, read with pyarrow in
    file order with conditions always present, so every validation sees the same blocks. Workers
    take every world-th batch and their sums are added up."""
    valid_fmt = fmt.without_dropout()
    stream = local_batches(s, valid_fmt, config, None, 0, "valid", shuffle=False, drop_last=False)
    model.eval()
    total = torch.zeros(4, device=device, dtype=torch.float64)
    for i, blocks in enumerate(stream):
        if i >= s.eval_batches:
            break
        if i % world != rank:
            continue
        x, y = to_inputs_targets(blocks.to(device), fmt.pad_id, fmt.stride)
        with autocast:
            nll, counted = model.position_nll(x, y)
        first = y if y.dim() == 2 else y[..., 0]  # a position's first id tells what it is
        music = (first == fmt.eos_id) | ((first >= fmt.music_ids[0]) & (first < fmt.music_ids[1])) \
            if fmt.music_ids else torch.zeros_like(counted)
        notes = (first >= fmt.note_ids[0]) & (first < fmt.note_ids[1]) if fmt.note_ids else torch.zeros_like(counted)
        total += torch.stack([nll.sum(), counted.sum(), (nll * music).sum(), notes.sum()]).double()
    model.train()
    if world > 1:
        torch.distributed.all_reduce(total)
    val_loss = float(total[0] / total[1]) if total[1] > 0 else float("nan")
    return val_loss, (float(total[2] / total[3]) if total[3] > 0 else None)


def _maybe_die(fault: dict | None, rank: int, step: int) -> None:
    """Fault injection for tests: when `fault["flag"]` exists as rank `fault["rank"]` reaches step
    `fault["step"]`, remove the flag and SIGKILL this process (a real death, no clean-up)."""
    if fault and rank == fault["rank"] and step == fault["step"] and os.path.exists(fault["flag"]):
        os.remove(fault["flag"])
        os.kill(os.getpid(), signal.SIGKILL)
