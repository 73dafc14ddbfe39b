"""Command functions for the CLI (typer-friendly signatures; plain values in, results out):

    symcorpus train pretrain --tokens TOK --name RUN [--preset small] [--no-ray | --ray-address auto]
    symcorpus train finetune --tokens TOK --init RUN --name RUN_FT [--min-quality 0.5 | --ids FILE]
    symcorpus train prefer --init RUN_FT --name RUN_P [--tokens TOK] [--iterations 3]
    symcorpus generate --checkpoint RUN --prompt 'key="D major" tempo=Allegro' --n 8 --out DIR
    symcorpus generate --checkpoint RUN --prompt "a lively reel in D major" --fix instrument=Violin --out DIR
    symcorpus evaluate --checkpoint RUN --tokens TOK --out DIR

Mistakes in a call raise symcorpus.errors.UsageError with a one-line message (the CLI prints it,
exit code 2).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from symcorpus.config import TrainSettings
from symcorpus.errors import UsageError



def _user_errors(fn):
    """Missing files, bad values and unknown names met while running a command are the user's
    mistakes: UsageError with the message as one line."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsageError:
            raise
        except (FileNotFoundError, ValueError, KeyError) as e:
            raise UsageError(str(e).strip("'\"")) from e
    return wrapper


def _settings(settings: TrainSettings | None, **overrides) -> TrainSettings:
    return (settings or TrainSettings()).replace(**overrides)


@_user_errors
def pretrain(
    tokens: Path,
    name: str,
    *,
    settings: TrainSettings | None = None,
    preset: str | None = None,
    model: str | None = None,
    max_steps: int | None = None,
    batch_size: int | None = None,
    block_size: int | None = None,
    num_workers: int | None = None,
    use_gpu: bool | None = None,
    storage_path: str | None = None,
    no_ray: bool = False,
    ray_address: str | None = None,
):
    """Pretrain (or resume) run `name` on the train split of token shards `tokens`."""
    from symcorpus.train.runner import train

    s = _settings(settings, preset=preset, model=model, max_steps=max_steps, batch_size=batch_size,
                  block_size=block_size, num_workers=num_workers, use_gpu=use_gpu, storage_path=storage_path)
    return train(tokens, s, name, kind="pretrain", no_ray=no_ray, ray_address=ray_address)


@_user_errors
def finetune(
    tokens: Path,
    init: str,
    name: str,
    *,
    settings: TrainSettings | None = None,
    corpus: Path | None = None,
    min_quality: float | None = None,
    ids_file: Path | None = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    block_size: int | None = None,
    num_workers: int | None = None,
    use_gpu: bool | None = None,
    storage_path: str | None = None,
    no_ray: bool = False,
    ray_address: str | None = None,
):
    """Fine-tune from the pretrained run `init` (a run name under storage_path, a run directory or a
    checkpoint) on the labelled subset: ids listed in `ids_file`, or the corpus rows with labels and
    quality_score >= min_quality (default train.finetune.min_quality)."""
    from symcorpus.train.data import labelled_ids
    from symcorpus.train.runner import train

    s = (settings or TrainSettings()).for_finetune()
    ft = s.finetune
    # A lower --learning-rate pulls the floor of the decay down with it.
    s = s.replace(max_steps=max_steps, learning_rate=learning_rate,
                  min_lr=min(s.min_lr, learning_rate) if learning_rate is not None else None,
                  batch_size=batch_size, block_size=block_size, num_workers=num_workers, use_gpu=use_gpu,
                  storage_path=storage_path)
    init_path = Path(init)
    if not init_path.exists():
        init_path = Path(s.storage_path) / init
    if not init_path.exists():
        raise UsageError(f"--init {init}: no such run directory or checkpoint (looked in {s.storage_path} too)")
    if ids_file is not None:
        ids = sorted({line.strip() for line in Path(ids_file).read_text().splitlines() if line.strip()})
        source = str(ids_file)
    else:
        corpus = corpus or _corpus_of(tokens)
        quality = min_quality if min_quality is not None else ft.min_quality
        ids = labelled_ids(corpus, "train", quality, ft.require_labels)
        source = f"{corpus} (quality_score >= {quality}, labelled)"
    if not ids:
        raise UsageError(f"the fine-tuning subset is empty: no train piece selected from {source}")
    return train(tokens, s, name, kind="finetune", init=init_path, ids=ids, no_ray=no_ray, ray_address=ray_address)


def _corpus_of(tokens: Path) -> Path:
    manifest = Path(tokens) / "manifest.json"
    if not manifest.is_file():
        raise UsageError(f"{tokens} has no manifest.json naming its corpus: give --corpus")
    return Path(json.loads(manifest.read_text())["corpus"]["path"])


def _resolve_run(checkpoint: str, storage_path: str) -> Path:
    path = Path(checkpoint)
    if not path.exists() and (Path(storage_path) / checkpoint).exists():
        path = Path(storage_path) / checkpoint
    if not path.exists():
        raise UsageError(f"--checkpoint {checkpoint}: no such run directory or checkpoint")
    return path


@_user_errors
def generate(
    checkpoint: str,
    prompt: str | None,
    n: int | None,
    out: Path,
    *,
    settings: TrainSettings | None = None,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    soundfont: str | None = None,
    device: str | None = None,
    fix: list[str] | None = None,
    denoise_steps: int | None = None,
):
    """Sample `n` pieces for `prompt` (None or "": unconditioned; `family=value` words or English)
    from a run or checkpoint into `out`; `fix` holds note attributes (note-level runs)."""
    from symcorpus.train.generate import generate_samples, load_run

    s = settings or TrainSettings()
    g = s.generate
    if n is not None and n < 1:
        raise UsageError("--n must be at least 1")
    if temperature is not None and temperature < 0:
        raise UsageError("--temperature must be >= 0 (0 = greedy)")
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError("--top-p must be in (0, 1]")
    if top_k is not None and top_k < 1:
        raise UsageError("--top-k must be at least 1")
    run = load_run(_resolve_run(checkpoint, s.storage_path), device)
    return generate_samples(
        run, prompt or None, n or g.n, out,
        max_new_tokens=max_new_tokens or g.max_new_tokens,
        temperature=g.temperature if temperature is None else temperature,
        top_k=top_k if top_k is not None else g.top_k,
        top_p=top_p if top_p is not None else g.top_p,
        seed=g.seed if seed is None else seed,
        soundfont=soundfont or g.soundfont,
        fix=fix,
        denoise_steps=denoise_steps or g.denoise_steps,
    )


@_user_errors
def evaluate(
    checkpoint: str,
    out: Path,
    *,
    tokens: Path | None = None,
    prompts: list[str] | None = None,
    settings: TrainSettings | None = None,
    n_sets: int | None = None,
    samples_per_set: int | None = None,
    max_new_tokens: int | None = None,
    seed: int | None = None,
    device: str | None = None,
):
    """Condition adherence (CK, CTS, TB, TBT, CI) of a run, conditioned vs unconditioned; condition
    sets from `prompts` or the most common ones of the valid split of `tokens` (default: the token
    shards the run was trained on). Writes out/evaluation.json; returns the report."""
    from symcorpus.train.evaluate import evaluate_run, sets_from_prompts, sets_from_shards
    from symcorpus.train.generate import load_run

    s = settings or TrainSettings()
    e = s.evaluate
    run = load_run(_resolve_run(checkpoint, s.storage_path), device)
    if prompts:
        sets = sets_from_prompts(run.tokenizer, prompts)
    else:
        if tokens is None:
            run_json = run.checkpoint.parent / "run.json"
            if not run_json.is_file():
                raise UsageError("give --tokens (token shards with a valid split) or --prompt")
            tokens = Path(json.loads(run_json.read_text())["tokens"])
        sets = sets_from_shards(run.tokenizer, tokens, n_sets or e.n_condition_sets)
    return evaluate_run(
        run, sets, out,
        samples_per_set=samples_per_set or e.samples_per_set,
        max_new_tokens=max_new_tokens or e.max_new_tokens,
        temperature=s.generate.temperature, top_k=s.generate.top_k, top_p=s.generate.top_p,
        seed=s.generate.seed if seed is None else seed, denoise_steps=s.generate.denoise_steps,
    )


@_user_errors
def prefer(
    init: str,
    name: str,
    *,
    settings: TrainSettings | None = None,
    tokens: Path | None = None,
    corpus: Path | None = None,
    iterations: int | None = None,
    prompts: int | None = None,
    samples_per_prompt: int | None = None,
    steps: int | None = None,
    learning_rate: float | None = None,
    storage_path: str | None = None,
    device: str | None = None,
):
    """The preference stage (NotaGen's CLaMP-DPO with our reward) from run `init` into run `name`;
    prompts from the train split of `tokens` (default: the shards `init` was trained on), plagiarism
    checked against the train split of `corpus` (default: the tokens' corpus)."""
    from symcorpus.train.prefer import prefer_run

    s = (settings or TrainSettings()).replace(storage_path=storage_path)
    p = s.prefer.replace(iterations=iterations, prompts=prompts, samples_per_prompt=samples_per_prompt, steps=steps,
                         learning_rate=learning_rate)
    init_path = _resolve_run(init, s.storage_path)
    if tokens is None:
        run_json = init_path / "run.json" if init_path.is_dir() and (init_path / "run.json").is_file() \
            else init_path.parent / "run.json"
        if not run_json.is_file():
            raise UsageError("give --tokens (the token shards whose train split gives the prompts)")
        tokens = Path(json.loads(run_json.read_text())["tokens"])
    corpus = corpus or _corpus_of(tokens)
    return prefer_run(init_path, name, Path(tokens), Path(corpus), s.replace(prefer=p), device=device)
