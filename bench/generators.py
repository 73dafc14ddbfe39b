"""The seeds' generators side by side on one corpus: the REMI model, the note-level model (Amadeus'
design) and the note-level model after the preference stage (NotaGen's CLaMP-DPO, our reward).

All three from the same corpus version, tokenized by the pipeline (`symcorpus tokenize`, Spark),
with the same preset (the note model adds its one-layer attribute decoder: 2% more parameters),
the same optimizer steps, batch and block of positions, in this process on CPU
(the --no-ray loop). Then, for each:

  val loss/note  the music's negative log-likelihood per note over the whole valid split (REMI:
                 every music and eos token over the Pitch tokens; notes: each note's 8 attributes
                 in a fixed order, and eos): comparable across tokenizations
  CK CTS TBT CI  share of samples whose annotated key / time signature / tempo word (or a
                 neighbour) / instruments match the condition set asked for, for the valid split's
                 most common sets, conditioned and unconditioned, with Wilson 95% intervals
  copies         share of those samples that are near-duplicates of a train piece (MinHash against
                 the corpus' LSH bands at its dedup threshold), Wilson 95%
  notes/s        sampling speed on `--threads` CPU threads: one stream, and a batch of --batch-gen;
                 notes counted in the decoded MIDI; the same unconditioned prompt, seeds and length
                 budget (REMI's token budget = its tokens per note on the valid split x the notes')

    python bench/generators.py --corpus data/demo --out bench/out/generators --preset small \\
        --block-size 256 --batch-size 4 --pretrain-steps 150 --finetune-steps 40

Writes OUT/report.json and prints the table. Runs, token shards and samples stay in OUT: a rerun
reuses finished stages (runs resume by name), so the figures can be redone without retraining.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.config import Settings, TrainSettings  # noqa: E402
from symcorpus.train import commands  # noqa: E402
from symcorpus.train.data import SequenceFormat, note_id_range  # noqa: E402
from symcorpus.train.evaluate import evaluate_run, sets_from_prompts, sets_from_shards, wilson_interval  # noqa: E402
from symcorpus.train.generate import load_run, midi_of, note_count  # noqa: E402
from symcorpus.train.loop import validate  # noqa: E402
from symcorpus.train.plagiarism import CorpusIndex  # noqa: E402
from symcorpus.train.runner import read_history  # noqa: E402

KINDS = ("remi", "notes")
MODELS = (("REMI", "remi_ft"), ("notes", "notes_ft"), ("notes+prefer", "notes_prefer"))


def tokens_for(corpus: Path, kind: str, out: Path, threads: int) -> Path:
    """The corpus' token shards of `kind` (made once)."""
    tok = out / f"tok_{kind}"
    if not (tok / "_SUCCESS").is_file():
        from symcorpus.spark.tokenize import tokenize

        settings = Settings()
        settings = settings.replace(spark=settings.spark.replace(master=f"local[{max(threads, 2)}]"))
        tokenize(corpus, kind, tok, settings, overwrite=True)
    return tok


def train_settings(args, storage: Path) -> TrainSettings:
    s = TrainSettings(preset=args.preset, block_size=args.block_size, batch_size=args.batch_size,
                      max_steps=args.pretrain_steps, warmup_steps=min(200, args.pretrain_steps // 10),
                      checkpoint_every=max(1, args.pretrain_steps // 2), log_every=10, eval_batches=20,
                      storage_path=str(storage), cpu_threads=args.threads, use_gpu=False, compile=False,
                      augment_semitones=0, augment_tempo_bins=0, seed=0)
    s = s.replace(finetune=s.finetune.replace(max_steps=args.finetune_steps, warmup_steps=min(20, args.finetune_steps // 5)))
    return s.replace(prefer=s.prefer.replace(
        iterations=args.prefer_iterations, prompts=args.prefer_prompts, samples_per_prompt=args.prefer_samples,
        max_new_tokens=args.prefer_max_notes, steps=args.prefer_steps, pairs_per_step=args.prefer_pairs,
        learning_rate=args.prefer_lr))


def run_seconds(run_dir: Path) -> float:
    """Wall seconds a run spent, from its reports: training windows (tokens / tokens_per_s) and the
    preference stage's sampling and training."""
    seconds, before = 0.0, 0
    for h in read_history(run_dir):
        if h.get("tokens_per_s"):
            seconds += (h["tokens"] - before) / h["tokens_per_s"]
            before = h["tokens"]
        seconds += h.get("sample_seconds", 0.0) + h.get("train_seconds", 0.0)
    return seconds


def train_all(args, corpus: Path, out: Path, tokens: dict[str, Path]) -> dict[str, float]:
    """Pretrain and fine-tune both models, then the preference stage; wall seconds of each model."""
    s = train_settings(args, out / "runs")
    for kind in KINDS:
        commands.pretrain(tokens[kind], f"{kind}_pre", settings=s, no_ray=True)
        commands.finetune(tokens[kind], f"{kind}_pre", f"{kind}_ft", settings=s, no_ray=True)
    commands.prefer("notes_ft", "notes_prefer", settings=s, tokens=tokens["notes"], corpus=corpus, device="cpu")
    runs = out / "runs"
    seconds = {f"{k}_ft": run_seconds(runs / f"{k}_pre") + run_seconds(runs / f"{k}_ft") for k in KINDS}
    seconds["notes_prefer"] = seconds["notes_ft"] + run_seconds(runs / "notes_prefer")
    return seconds


def loss_per_note(run, tok_dir: Path) -> float | None:
    """The loop's validation over every batch of the valid split."""
    meta = run.meta
    s = TrainSettings.from_dict(meta["settings"]).replace(eval_batches=10**9)
    fmt = SequenceFormat(**meta["format"])
    _, per_note = validate(run.model, s, fmt, {"tok_dir": str(tok_dir)}, torch.device("cpu"),
                           contextlib.nullcontext(), 0, 1)
    return per_note


def remi_tokens_per_note(tok_dir: Path) -> float:
    """Music tokens per note in the valid split of REMI shards."""
    from symcorpus.tokenizers import load_tokenizer

    first, end = note_id_range(load_tokenizer(tok_dir))
    n_tokens = n_notes = 0
    for f in sorted((tok_dir / "valid").glob("part-*.parquet")):
        values = pq.read_table(f, columns=["tokens"]).column("tokens").combine_chunks().flatten().to_numpy()
        n_tokens += len(values)
        n_notes += int(((values >= first) & (values < end)).sum())
    return n_tokens / max(n_notes, 1)


def speeds(runs: dict[str, Any], max_new: dict[str, int], batch: int, repeats: int) -> dict[str, dict[str, float]]:
    """notes/s (and positions/s) of each run sampling unconditioned, one stream and a batch of
    `batch`, taken in turns (round robin, `repeats` rounds with their own seeds) so that a change in
    the machine's load falls on every run alike."""
    totals = {label: {"one_stream": [0, 0, 0.0], "batched": [0, 0, 0.0]} for label in runs}
    for label, run in runs.items():  # warm-up
        run.model.sample([run.tokenizer.bos_id, run.tokenizer.sep_id], 1, 8, seed=99, eos_id=run.tokenizer.eos_id)
    for seed in range(repeats):
        for label, run in runs.items():
            tok = run.tokenizer
            for mode, n in (("one_stream", 1), ("batched", batch)):
                t0 = time.perf_counter()
                rows = run.model.sample([tok.bos_id, tok.sep_id], n, max_new[label], seed=seed, eos_id=tok.eos_id)
                seconds = time.perf_counter() - t0
                total = totals[label][mode]
                total[2] += seconds
                for r in rows:
                    total[1] += len(r) // tok.stride
                    try:
                        total[0] += note_count(midi_of(tok, tok.decode(r)))
                    except Exception:  # a sample that does not decode has no notes
                        pass
    out = {}
    for label, modes in totals.items():
        out[label] = {}
        for mode, (notes, positions, seconds) in modes.items():
            out[label][f"{mode}_notes_per_s"] = round(notes / seconds, 2)
            out[label][f"{mode}_positions_per_s"] = round(positions / seconds, 2)
            out[label][f"{mode}_notes"] = notes
    return out


def copies(samples_dir: Path, index: CorpusIndex) -> dict[str, Any]:
    """Share of the evaluation's samples that are near-duplicates of a train piece."""
    found, n = 0, 0
    for path in sorted(samples_dir.rglob("sample_*.mid")):
        n += 1
        try:
            found += index.nearest(path.read_bytes()).similarity >= index.settings.threshold
        except Exception:  # an unreadable sample copies nothing
            pass
    return {"copies": round(100 * found / n, 1) if n else None, "copies_95": wilson_interval(found, n), "samples": n}


def measure(args, out: Path, tokens: dict[str, Path], corpus: Path, seconds: dict[str, float]) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    notes_tok = load_run(out / "runs" / "notes_ft", "cpu").tokenizer
    base_sets = sets_from_shards(notes_tok, tokens["notes"], args.sets)
    ratio = remi_tokens_per_note(tokens["remi"])
    index = CorpusIndex.from_corpus(corpus, "train")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report: dict[str, Any] = {"remi_tokens_per_note": round(ratio, 3), "settings": settings, "models": {}}
    runs, budgets = {}, {}
    for label, name in MODELS:
        run = load_run(out / "runs" / name, "cpu")
        kind = run.tokenizer.kind
        max_new = args.max_notes if kind == "notes" else math.ceil(ratio * args.max_notes)
        sets = sets_from_prompts(run.tokenizer, [s.prompt for s in base_sets])
        folder = out / "eval" / name
        evaluation = evaluate_run(run, sets, folder, samples_per_set=args.samples_per_set, max_new_tokens=max_new,
                                  seed=0)
        runs[label], budgets[label] = run, max_new
        history = read_history(out / "runs" / name)
        report["models"][label] = {
            "run": name, "params": sum(p.numel() for p in run.model.parameters()),
            "train_seconds": round(seconds.get(name, float("nan")), 1),
            "val_loss_per_note": loss_per_note(run, tokens[kind]),
            "conditioned": evaluation.conditioned, "unconditioned": evaluation.unconditioned,
            "intervals_95": evaluation.intervals, "counts": evaluation.counts,
            **copies(folder, index),
            "prefer_iterations": [
                {k: h[k] for k in ("iteration", "reward_mean", "reward_quantiles", "metrics", "intervals_95",
                                   "plagiarized", "passes_rules", "pairs") if k in h}
                for h in history if h.get("kind") == "prefer"],
        }
    for label, figures in speeds(runs, budgets, args.batch_gen, args.speed_repeats).items():
        report["models"][label].update(figures)
    return report


def table(report: dict[str, Any]) -> str:
    def cell(value, interval=None):
        if value is None:
            return "-"
        return f"{value:.1f}" + (f" [{interval[0]:.0f}-{interval[1]:.0f}]" if interval else "")

    lines = [f"{'':<14}{'params':>10}{'loss/note':>11}" + "".join(f"{m + ' cond':>17}{m + ' uncond':>17}"
                                                                for m in ("CK", "CTS", "TBT", "CI"))
             + f"{'copies':>15}{'notes/s 1':>11}{'notes/s B':>11}"]
    for label, m in report["models"].items():
        row = f"{label:<14}{m['params'] / 1e6:>9.2f}M{m['val_loss_per_note'] or float('nan'):>11.3f}"
        for metric in ("CK", "CTS", "TBT", "CI"):
            row += f"{cell(m['conditioned'][metric], m['intervals_95']['conditioned'][metric]):>17}"
            row += f"{cell(m['unconditioned'][metric], m['intervals_95']['unconditioned'][metric]):>17}"
        row += f"{cell(m['copies'], m['copies_95']):>15}{m['one_stream_notes_per_s']:>11.1f}{m['batched_notes_per_s']:>11.1f}"
        lines.append(row)
    remi, notes = report["models"]["REMI"], report["models"]["notes"]
    lines.append(f"note-level / REMI notes/s: one stream {notes['one_stream_notes_per_s'] / max(remi['one_stream_notes_per_s'], 1e-9):.2f}x, "
                 f"batched {notes['batched_notes_per_s'] / max(remi['batched_notes_per_s'], 1e-9):.2f}x; "
                 f"REMI tokens per note {report['remi_tokens_per_note']}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, required=True, help="a published corpus version (data/demo)")
    p.add_argument("--out", type=Path, default=Path("bench/out/generators"))
    p.add_argument("--preset", default="small")
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--pretrain-steps", type=int, default=150)
    p.add_argument("--finetune-steps", type=int, default=40)
    p.add_argument("--prefer-iterations", type=int, default=1)
    p.add_argument("--prefer-prompts", type=int, default=4)
    p.add_argument("--prefer-samples", type=int, default=8)
    p.add_argument("--prefer-steps", type=int, default=30)
    p.add_argument("--prefer-pairs", type=int, default=4)
    p.add_argument("--prefer-lr", type=float, default=3e-5)
    p.add_argument("--prefer-max-notes", type=int, default=96,
                   help="notes per preference-stage sample (long enough for the quality rules' bars and seconds)")
    p.add_argument("--sets", type=int, default=4, help="condition sets (the valid split's most common)")
    p.add_argument("--samples-per-set", type=int, default=8)
    p.add_argument("--max-notes", type=int, default=40,
                   help="notes per sample (REMI: as many tokens as that takes, which must fit the block)")
    p.add_argument("--batch-gen", type=int, default=8)
    p.add_argument("--speed-repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads for training, sampling and timing")
    args = p.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    tokens = {kind: tokens_for(args.corpus.resolve(), kind, out, args.threads) for kind in KINDS}
    seconds = train_all(args, args.corpus.resolve(), out, tokens)
    report = measure(args, out, tokens, args.corpus.resolve(), seconds)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))


if __name__ == "__main__":
    main()
