"""`symcorpus train pretrain | finetune | prefer`, `symcorpus generate`, `symcorpus evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from symcorpus.cli.common import Params, err_console, group, out_console, settings

Tokens = Annotated[Path, typer.Option("--tokens", help="Token shards written by `symcorpus tokenize`.")]
NoRay = Annotated[bool, typer.Option("--no-ray", help="Train in this process, without Ray (same loop).")]
RayAddress = Annotated[Optional[str], typer.Option(help="An existing Ray cluster: 'auto' or ray://host:10001.")]
Steps = Annotated[Optional[int], typer.Option("--max-steps")]
Gpu = Annotated[Optional[bool], typer.Option("--gpu/--cpu")]


train_app = group("Pretrain and fine-tune the generator from token shards.")


def run_line(result) -> None:
    metrics = {k: v for k, v in (result.metrics or {}).items() if isinstance(v, (int, float))}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
    err_console().print(f"run {result.run_dir}: checkpoint {result.checkpoint}\n{shown}", highlight=False,
                        soft_wrap=True)


def pretrain_command(
    tokens: Tokens,
    name: Annotated[str, typer.Option(help="Run name under train.storage_path; the same name resumes.")],
    preset: Annotated[Optional[str], typer.Option(help="tiny | small | base.")] = None,
    model: Annotated[Optional[str], typer.Option(help="auto (notes for note tokens) | gpt | notes.")] = None,
    max_steps: Steps = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    block_size: Annotated[Optional[int], typer.Option()] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="Ray Train workers.")] = None,
    use_gpu: Gpu = None,
    storage_path: Annotated[Optional[str], typer.Option(help="Where runs live (local path or s3://...).")] = None,
    no_ray: NoRay = False,
    ray_address: RayAddress = None,
    params: Params = None,
) -> None:
    """Pretrain the generator on the train split (validation loss on the valid split)."""
    from symcorpus.train import commands

    run_line(commands.pretrain(tokens, name, settings=settings(params).train, preset=preset, model=model,
                               max_steps=max_steps,
                               batch_size=batch_size, block_size=block_size, num_workers=num_workers,
                               use_gpu=use_gpu, storage_path=storage_path, no_ray=no_ray, ray_address=ray_address))

def finetune_command(
    tokens: Tokens,
    init: Annotated[str, typer.Option(help="The pretrain run (name, run directory or checkpoint).")],
    name: Annotated[str, typer.Option(help="Name of the fine-tune run; the same name resumes.")],
    corpus: Annotated[Optional[Path], typer.Option(help="Corpus the labelled subset is chosen from (default: the tokens' corpus).")] = None,
    min_quality: Annotated[Optional[float], typer.Option(help="quality_score threshold of the subset.")] = None,
    ids: Annotated[Optional[Path], typer.Option(help="A file of corpus ids to fine-tune on instead.")] = None,
    max_steps: Steps = None,
    learning_rate: Annotated[Optional[float], typer.Option()] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    block_size: Annotated[Optional[int], typer.Option(help="Tokens per sequence (at most the pretrain run's).")] = None,
    num_workers: Annotated[Optional[int], typer.Option()] = None,
    use_gpu: Gpu = None,
    storage_path: Annotated[Optional[str], typer.Option()] = None,
    no_ray: NoRay = False,
    ray_address: RayAddress = None,
    params: Params = None,
) -> None:
    """Fine-tune a pretrained run on the labelled high-quality subset, with condition tokens."""
    from symcorpus.train import commands

    run_line(commands.finetune(tokens, init, name, settings=settings(params).train, corpus=corpus,
                               min_quality=min_quality, ids_file=ids, max_steps=max_steps,
                               learning_rate=learning_rate, batch_size=batch_size, block_size=block_size,
                               num_workers=num_workers, use_gpu=use_gpu, storage_path=storage_path, no_ray=no_ray,
                               ray_address=ray_address))

def generate_command(
    checkpoint: Annotated[str, typer.Option(help="A run (name under train.storage_path, directory) or checkpoint.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the samples.")],
    prompt: Annotated[Optional[str], typer.Option(help='Conditions: \'key="E minor" time_signature=3/4 tempo=Andante\' or English, "a lively reel in D major for fiddle".')] = None,
    n: Annotated[Optional[int], typer.Option(help="How many samples.")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option()] = None,
    temperature: Annotated[Optional[float], typer.Option()] = None,
    top_k: Annotated[Optional[int], typer.Option()] = None,
    top_p: Annotated[Optional[float], typer.Option()] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    fix: Annotated[Optional[list[str]], typer.Option(help="Hold a note attribute (note-level runs), e.g. instrument=Violin; repeatable.")] = None,
    denoise_steps: Annotated[Optional[int], typer.Option(help="Decoder passes per note (note-level runs).")] = None,
    params: Params = None,
) -> None:
    """Sample music (MIDI or ABC) with a piano-roll PNG per sample (and a WAV where FluidSynth is)."""
    from symcorpus.train import commands

    result = commands.generate(checkpoint, prompt, n, out, settings=settings(params).train,
                               max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                               seed=seed, fix=fix, denoise_steps=denoise_steps)
    err_console().print(f"samples in {out}" + (f": {result}" if isinstance(result, (str, int)) else ""),
                        highlight=False)

def evaluate_command(
    checkpoint: Annotated[str, typer.Option(help="A run (name, directory) or checkpoint.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for evaluation.json and the samples.")],
    tokens: Annotated[Optional[Path], typer.Option(help="Token shards whose valid split gives the condition sets.")] = None,
    prompt: Annotated[Optional[list[str]], typer.Option(help="A condition set (repeatable) instead.")] = None,
    n_sets: Annotated[Optional[int], typer.Option()] = None,
    samples_per_set: Annotated[Optional[int], typer.Option()] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option()] = None,
    params: Params = None,
) -> None:
    """Does the model obey its conditions? CK, CTS, TB/TBT, CI vs unconditioned samples."""
    from symcorpus.train import commands
    from symcorpus.train.evaluate import format_table

    report = commands.evaluate(checkpoint, out, tokens=tokens, prompts=prompt, settings=settings(params).train,
                               n_sets=n_sets, samples_per_set=samples_per_set, max_new_tokens=max_new_tokens)
    out_console().print(format_table(report), markup=False, highlight=False, soft_wrap=True)
    err_console().print(f"report: {out / 'evaluation.json'}", highlight=False)


def prefer_command(
    init: Annotated[str, typer.Option(help="The fine-tuned run (name, run directory or checkpoint).")],
    name: Annotated[str, typer.Option(help="Name of the preference run; the same name resumes.")],
    tokens: Annotated[Optional[Path], typer.Option(help="Token shards whose train split gives the prompts (default: the init run's).")] = None,
    corpus: Annotated[Optional[Path], typer.Option(help="Corpus whose train split samples must not copy (default: the tokens' corpus).")] = None,
    iterations: Annotated[Optional[int], typer.Option()] = None,
    prompts: Annotated[Optional[int], typer.Option(help="Condition sets per iteration.")] = None,
    samples_per_prompt: Annotated[Optional[int], typer.Option()] = None,
    steps: Annotated[Optional[int], typer.Option(help="DPOP steps per iteration.")] = None,
    learning_rate: Annotated[Optional[float], typer.Option()] = None,
    storage_path: Annotated[Optional[str], typer.Option()] = None,
    params: Params = None,
) -> None:
    """Preference stage: sample, reward (prompt adherence + quality rules - plagiarism), DPOP on pairs."""
    from symcorpus.train import commands

    run_line(commands.prefer(init, name, settings=settings(params).train, tokens=tokens, corpus=corpus,
                             iterations=iterations, prompts=prompts, samples_per_prompt=samples_per_prompt,
                             steps=steps, learning_rate=learning_rate, storage_path=storage_path))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    train_app.command("pretrain")(pretrain_command)
    train_app.command("finetune")(finetune_command)
    train_app.command("prefer")(prefer_command)
    app.command("generate")(generate_command)
    app.command("evaluate")(evaluate_command)
