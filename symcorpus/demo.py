"""`symcorpus demo`: the whole loop on music21's bundled corpus, on a laptop.

build -> tokenize (REMI+, conditions from the labels) -> tiny pretrain -> fine-tune on the labelled
subset -> samples. Returns what it made, for the CLI to list.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from symcorpus.config import Settings
from symcorpus.spark.publish import BuildResult


@dataclass
class DemoResult:
    build: BuildResult
    made: list[tuple[str, str]] = field(default_factory=list)  # (path, what it holds)


def run_demo(settings: Settings, *, out: Path | None = None, build_only: bool = False, progress=None,
             say: Callable[[str], None] = print,
             on_built: Callable[[BuildResult], None] | None = None) -> DemoResult:
    """Build music21's corpus into `out` (default: params' demo.out), then, unless `build_only`,
    train and sample. `say` announces each later stage; `on_built` sees the build's result first."""
    from symcorpus.spark.build import build

    demo = settings.demo
    result = DemoResult(build(["music21"], out or Path(demo.out), settings, overwrite=True, progress=progress))
    if on_built is not None:
        on_built(result.build)
    c, v = result.build.counts, result.build.out
    result.made += [
        (f"{v}/corpus/{{train,valid,test}}/", f"{c['kept']:,} annotated pieces (key, labels, caption...) as Parquet"),
        (f"{v}/duplicates/", f"{c['duplicates']:,} copies and variants, each with its representative"),
        (f"{v}/rejects/", f"{c['rejected']:,} pieces that failed a quality rule, each with its reason"),
        (f"{v}/errors/", f"{c['errors']:,} records that could not be parsed, each with its reason"),
        (f"{v}/manifest.json", "counts, params, sources and a sha256 for every shard"),
    ]
    if not build_only:
        _train_and_sample(settings, v, result, say)
    return result


def _train_and_sample(settings: Settings, corpus: Path, result: DemoResult, say: Callable[[str], None]) -> None:
    from symcorpus.spark.tokenize import tokenize
    from symcorpus.train import commands

    demo = settings.demo
    tokens, runs, samples = Path(demo.tokens), Path(demo.runs), Path(demo.samples)
    for stale in (runs, samples):  # a demo starts its runs afresh (a same-named run would resume)
        shutil.rmtree(stale, ignore_errors=True)
    say("tokenize (REMI+, condition tokens from the labels)")
    tokenize(corpus, "remi", tokens, settings, overwrite=True)
    train = demo.train_settings(settings.train)
    say(f"pretrain a {demo.preset} model for {demo.pretrain_steps} steps")
    commands.pretrain(tokens, "pretrain", settings=train, max_steps=demo.pretrain_steps, no_ray=not demo.use_ray,
                      use_gpu=False)
    say(f"finetune on the labelled subset for {demo.finetune_steps} steps")
    commands.finetune(tokens, "pretrain", "finetune", settings=train, max_steps=demo.finetune_steps,
                      no_ray=not demo.use_ray, use_gpu=False)
    say(f"generate {demo.n_samples} samples for: {demo.prompt}")
    commands.generate(str(runs / "finetune"), demo.prompt, demo.n_samples, samples, settings=train,
                      max_new_tokens=demo.max_new_tokens, seed=0)
    result.made += [
        (f"{tokens}/", "token shards per split + tokenizer.json"),
        (f"{runs}/pretrain, {runs}/finetune", "checkpoints and metrics.jsonl (loss curves)"),
        (f"{samples}/", f"{demo.n_samples} generated MIDI files, each with a piano-roll PNG"),
    ]
