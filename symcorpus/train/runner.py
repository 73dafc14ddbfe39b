"""Pretrain and fine-tune drivers: Ray's TorchTrainer over Ray Data, or the same loop in this process
(`no_ray`). A run lives in storage_path/name: checkpoints, metrics.jsonl, run.json and a copy of the
tokenizer; starting a run under an existing name resumes from its last checkpoint."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from symcorpus.tokenizers.augment import Augmentation
from symcorpus.train.balance import RepeatFactors, repeat_factors
from symcorpus.config import PRESETS, TrainSettings
from symcorpus.train.checkpoints import latest_checkpoint
from symcorpus.train.data import SequenceFormat, ray_dataset, shard_files, start_epoch_clock
from symcorpus.train.ray_connect import connect_ray
from symcorpus.train.loop import train_loop_per_worker
from symcorpus.train.architectures import config_from_dict
from symcorpus.train.model import GPTConfig
from symcorpus.train.notes_model import NoteConfig

log = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "manifest.json")


@dataclass
class RunResult:
    run_dir: Path
    checkpoint: Path | None  # the newest checkpoint
    metrics: dict[str, Any]  # the last report
    history: list[dict[str, Any]]  # every report of the run so far, restarts included


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run_tokenizer_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "tokenizer"


def preset_config(settings: TrainSettings, vocab_size: int) -> GPTConfig:
    """The model that settings.preset names, for `vocab_size` tokens and settings.block_size."""
    return GPTConfig(vocab_size=vocab_size, block_size=settings.block_size, dropout=settings.dropout,
                     **PRESETS[settings.preset])


def model_kind(settings: TrainSettings, tokenizer) -> str:
    """train.model, with `auto` resolved: the note-level model reads note rows, the GPT tokens."""
    reads_notes = tokenizer.stride > 1
    kind = settings.model if settings.model != "auto" else ("notes" if reads_notes else "gpt")
    if (kind == "notes") != reads_notes:
        raise ValueError(f"train.model {kind} cannot read {tokenizer.kind} tokens: the note-level model needs "
                         f"`symcorpus tokenize --tokenizer notes`, the GPT one token per position")
    return kind


def note_preset_config(settings: TrainSettings, tokenizer) -> NoteConfig:
    """The note-level model of settings.preset's shape: the GPT's trunk and a one-layer attribute
    decoder a quarter as wide (about 2% more parameters than the GPT)."""
    from symcorpus.tokenizers.notes import opening_lines

    shape = PRESETS[settings.preset]
    return NoteConfig(vocab_size=tokenizer.vocab_size, attributes=[list(r) for r in tokenizer.notes.ranges()],
                      eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, bos_id=tokenizer.bos_id,
                      opening_lines=opening_lines(tokenizer.notes, tokenizer.conditions), block_size=settings.block_size,
                      n_layer=shape["n_layer"], n_head=shape["n_head"], n_embd=shape["n_embd"], decoder_layers=1,
                      dropout=settings.dropout)


def new_model_config(settings: TrainSettings, tokenizer) -> GPTConfig | NoteConfig:
    """The model a new run on `tokenizer` starts with: settings.preset's shape, of train.model's kind."""
    if model_kind(settings, tokenizer) == "notes":
        return note_preset_config(settings, tokenizer)
    return preset_config(settings, tokenizer.vocab_size)


def _model_config(settings: TrainSettings, tokenizer, run_dir: Path, init: Path | None) -> GPTConfig | NoteConfig:
    """The shape of a resumed run or of the run we start from; a preset only for a new run."""
    source = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    source = source or init
    if source is None:
        return new_model_config(settings, tokenizer)
    config = config_from_dict(json.loads((source / "state.json").read_text())["model"])
    vocab_size = tokenizer.vocab_size
    if config.vocab_size != vocab_size:
        raise ValueError(f"{source} was trained with {config.vocab_size} tokens, this tokenizer has {vocab_size}")
    if settings.block_size > config.block_size:
        raise ValueError(f"block_size {settings.block_size} exceeds the {config.block_size} of {source}")
    return config


def _repeat_factors(tokenizer, s: TrainSettings, tok_dir: Path, ids: list[str] | None) -> RepeatFactors | None:
    """The repeat factors of s.balance's values over the train rows this run reads (None: no balancing)."""
    if s.balance is None:
        return None
    factors = repeat_factors(shard_files(tok_dir, "train"), tokenizer.conditions, s.balance, s.balance_threshold,
                             s.balance_max_repeat, pa.array(ids, pa.string()) if ids is not None else None)
    return factors if factors.values else None


def describe_repeats(tokenizer, factors: RepeatFactors) -> list[str]:
    """'value x factor' for each repeated value, in words (instrument sets joined with ' + ')."""
    names = tokenizer.conditions.names()
    offset = tokenizer.conditions.offset
    out = []
    for value, r in sorted(zip(factors.values, factors.repeats), key=lambda vr: -vr[1]):
        words = [names[t - offset].split("=", 1)[1] for t in value]
        words = [w for w in words if w != "<none>"] or ["<none>"]
        out.append(f"{' + '.join(words)} x {r:.2f}")
    return out


def train(
    tok_dir: str | Path,
    settings: TrainSettings,
    name: str,
    *,
    kind: str = "pretrain",
    init: str | Path | None = None,
    ids: list[str] | None = None,
    no_ray: bool = False,
    ray_address: str | None = None,
    fault: dict | None = None,
) -> RunResult:
    """Train (or resume) the run `name` under settings.storage_path on the train split of tok_dir.
    Fine-tuning passes settings.for_finetune() (its dropout, balance and schedule) and `init`."""
    from symcorpus.tokenizers import load_tokenizer

    tok_dir = Path(tok_dir).resolve()
    tokenizer = load_tokenizer(tok_dir)
    for split in ("train", "valid"):
        shard_files(tok_dir, split)  # fail early, naming the missing folder
    run_dir = Path(settings.storage_path).resolve() / name
    # Absolute: Ray's controller and workers do not run in this process's working directory.
    init = Path(init).resolve() if init is not None else None
    init_dir = latest_checkpoint(init) if init is not None else None
    if init is not None and init_dir is None:
        raise FileNotFoundError(f"no checkpoint in {init}")
    model = _model_config(settings, tokenizer, run_dir, init_dir)
    fmt = SequenceFormat.of(tokenizer, settings.condition_dropout, settings.family_dropout)
    repeats = _repeat_factors(tokenizer, settings, tok_dir, ids)
    repeated = None if repeats is None else describe_repeats(tokenizer, repeats)
    for line in repeated or []:
        log.info("balance %s: %s", settings.balance, line)
    augment = None
    if (settings.augment_semitones or settings.augment_tempo_bins) and tokenizer.kind != "remi":
        log.warning("train.augment_* shift REMI tokens only: these %s tokens train unaugmented", tokenizer.kind)
    elif settings.augment_semitones or settings.augment_tempo_bins:
        augment = Augmentation.of(tokenizer, settings.augment_semitones, settings.augment_tempo_bins)

    run_dir.mkdir(parents=True, exist_ok=True)
    copy_tokenizer(tok_dir, run_dir)
    (run_dir / "run.json").write_text(json.dumps(
        {"name": name, "kind": kind, "tokens": str(tok_dir), "init": str(init_dir) if init_dir else None,
         "n_selected_ids": None if ids is None else len(ids),
         "balance": repeated,
         "augment": None if augment is None else {"semitones": augment.max_semitones,
                                                  "tempo_bins": augment.max_tempo_bins}}, indent=1))

    config = {
        "settings": settings.to_dict(), "format": fmt.to_dict(), "model": model.to_dict(),
        "tok_dir": str(tok_dir), "run_dir": str(run_dir), "ray": not no_ray, "ids": ids,
        "init": str(init_dir) if init_dir else None, "kind": kind, "fault": fault,
        "repeats": None if repeats is None else repeats.to_dict(),
        "augment": None if augment is None else augment.to_dict(),
    }
    if no_ray:
        train_loop_per_worker(config)
    else:
        _fit_with_ray(config, settings, fmt, tok_dir, run_dir, ids, repeats, augment, ray_address)
    history = read_history(run_dir)
    write_loss_csv(run_dir, history)
    return RunResult(run_dir, latest_checkpoint(run_dir), history[-1] if history else {}, history)


def copy_tokenizer(tok_dir: Path, run_dir: Path) -> None:
    """The run carries its tokenizer: generate needs nothing else."""
    tok_copy = run_tokenizer_dir(run_dir)
    tok_copy.mkdir(parents=True, exist_ok=True)
    for file in TOKENIZER_FILES:
        if (Path(tok_dir) / file).is_file():
            shutil.copyfile(Path(tok_dir) / file, tok_copy / file)


def write_loss_csv(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """step,loss,val_loss beside the run's metrics.jsonl: what `dvc plots` draws."""
    rows = [h for h in history if "step" in h and "loss" in h]
    lines = ["step,loss,val_loss"] + [f"{h['step']},{h['loss']},{h.get('val_loss', '')}" for h in rows]
    (Path(run_dir) / "loss.csv").write_text("\n".join(lines) + "\n")


def _fit_with_ray(config, s: TrainSettings, fmt, tok_dir, run_dir, ids, repeats: RepeatFactors | None,
                  augment: Augmentation | None, ray_address) -> None:
    import ray
    import ray.data
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not ray.is_initialized():
        connect_ray(ray_address)
    use_gpu = s.use_gpu if s.use_gpu is not None else ray.cluster_resources().get("GPU", 0) > 0
    ray.data.DataContext.get_current().enable_progress_bars = False
    # Validation reads the (small) valid split with pyarrow in each worker: the same blocks every time.
    # Workers set the epoch on this actor before each pass; Ray Data's packing tasks draw with it.
    clock = start_epoch_clock()
    datasets = {"train": ray_dataset(shard_files(tok_dir, "train"), fmt, s.block_size, seed=s.seed,
                                     read_batch_rows=s.read_batch_rows, ids=ids, repeats=repeats, augment=augment,
                                     clock=clock)}
    resources = {"CPU": s.cpus_per_worker, **({"GPU": 1} if use_gpu else {})}
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={**config, "ids": None, "epoch_clock": clock},  # Ray Data already filtered the rows
        datasets=datasets,
        scaling_config=ScalingConfig(num_workers=s.num_workers, use_gpu=use_gpu, resources_per_worker=resources),
        run_config=RunConfig(
            name=run_dir.name,
            storage_path=str(run_dir.parent),
            checkpoint_config=CheckpointConfig(num_to_keep=s.num_to_keep),
            failure_config=FailureConfig(max_failures=s.max_failures),
        ),
    )
    trainer.fit()
