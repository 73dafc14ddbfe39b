"""`symcorpus demo`: the whole loop on music21's bundled corpus, on a laptop.

build -> tokenize (ABC characters of the folk tunes, or REMI+; conditions from the labels) -> tiny
pretrain -> fine-tune on the labelled subset -> samples with MIDI, PNG and WAV, judged like `evaluate`
judges them (the validation loss, and how many samples are in the asked key and metre). Returns what
it made, for the CLI to list.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from symcorpus.config import Settings
from symcorpus.spark.publish import BuildResult


@dataclass
class SampleVerdict:
    """How good the demo's samples are: the fine-tuned model's validation loss, and per measured
    condition family (CK: key, CTS: time signature; evaluate.py) the samples that follow it."""

    prompt: str
    val_loss: float | None
    notes: list[int]  # per sample
    matches: dict[str, tuple[int, int]]  # metric -> (samples that match, samples judged)
    wavs: list[Path]
    wav_note: str | None

    def lines(self) -> list[str]:
        out = [f"{len(self.notes)} samples for {self.prompt}: "
               + ", ".join(f"{n} notes" for n in self.notes)]
        judged = [f"{m} {hit}/{total} ({self.describe(m)})" for m, (hit, total) in self.matches.items()]
        loss = f"validation loss {self.val_loss:.3f} per token" if self.val_loss is not None else "no validation loss"
        out.append(loss + ("; " + ", ".join(judged) if judged else ""))
        out.append(f"listen: {', '.join(str(w) for w in self.wavs)}" if self.wavs else (self.wav_note or "no WAV"))
        return out

    @staticmethod
    def describe(metric: str) -> str:
        return {"CK": "in the asked key", "CTS": "in the asked time signature",
                "TB": "at the asked tempo", "CI": "with the asked instruments"}.get(metric, metric)


@dataclass
class DemoResult:
    build: BuildResult
    made: list[tuple[str, str]] = field(default_factory=list)  # (path, what it holds)
    samples: SampleVerdict | None = None


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
    from symcorpus.tokenizers import load_tokenizer
    from symcorpus.train import commands

    demo = settings.demo
    tokens, runs, samples = Path(demo.tokens), Path(demo.runs), Path(demo.samples)
    for stale in (runs, samples):  # a demo starts its runs afresh (a same-named run would resume)
        shutil.rmtree(stale, ignore_errors=True)
    what = "ABC characters of the folk tunes" if demo.tokenizer == "abc" else "REMI+ notes of every piece"
    say(f"tokenize ({what}, condition tokens from the labels)")
    tokenize(corpus, demo.tokenizer, tokens, settings, overwrite=True)
    train = demo.train_settings(settings.train)
    say(f"pretrain a {demo.preset} model for {demo.pretrain_steps} steps")
    commands.pretrain(tokens, "pretrain", settings=train, max_steps=demo.pretrain_steps, no_ray=not demo.use_ray,
                      use_gpu=False)
    say(f"finetune on the labelled subset for {demo.finetune_steps} steps")
    tuned = commands.finetune(tokens, "pretrain", "finetune", settings=train, max_steps=demo.finetune_steps,
                              no_ray=not demo.use_ray, use_gpu=False)
    say(f"generate {demo.n_samples} samples for: {demo.prompt}")
    generated = commands.generate(str(runs / "finetune"), demo.prompt, demo.n_samples, samples, settings=train,
                                  max_new_tokens=demo.max_new_tokens, seed=0)
    result.samples = judge_samples(load_tokenizer(tokens), demo.prompt, generated, tuned.metrics.get("val_loss"))
    say("dataset card: plots, pieces with captions and players, the samples")
    card = write_demo_card(corpus, samples)
    kinds = "ABC tunes (and their MIDI)" if demo.tokenizer == "abc" else "MIDI files"
    result.made += [
        (f"{tokens}/", "token shards per split + tokenizer.json"),
        (f"{runs}/pretrain, {runs}/finetune", "checkpoints and metrics.jsonl (loss curves)"),
        (f"{samples}/", f"{demo.n_samples} generated {kinds}, each with a piano-roll PNG"
                        + (" and a WAV" if generated.wavs else "")),
        (f"{card.page}", "the dataset card to browse: plots, pieces with captions and players, the samples"),
    ]


def write_demo_card(corpus: Path, samples: Path):
    """Register the demo's version in the default catalog and write its card (cards/NAME)."""
    from symcorpus.catalog.card import write_card
    from symcorpus.catalog.db import opened, register_version

    with opened() as con:
        version = register_version(con, corpus, replace=True)
        return write_card(con, version.name, Path("cards") / version.name, samples)


def judge_samples(tokenizer, prompt: str, generated, val_loss: float | None) -> SampleVerdict:
    """What `evaluate` measures, on the demo's own samples: each sample annotated by our annotator
    and compared with the prompt (a sample that cannot be read fails every check)."""
    from symcorpus.train.evaluate import annotate_sample, checks, sets_from_prompts, tempo_order
    from symcorpus.train.generate import midi_of

    request = sets_from_prompts(tokenizer, [prompt])[0].request
    order = tempo_order()
    matches: dict[str, list[bool]] = {}
    for path in generated.files:
        try:
            found = annotate_sample(midi_of(tokenizer, Path(path).read_bytes()))
        except Exception:  # an unreadable sample fails every check
            found = None
        for metric, ok in checks(request, found, order).items():
            matches.setdefault(metric, []).append(ok)
    notes = [int(s.get("n_notes", 0)) for s in generated.samples]
    return SampleVerdict(prompt, val_loss, notes, {m: (sum(v), len(v)) for m, v in matches.items()},
                         list(generated.wavs), generated.wav_note)
