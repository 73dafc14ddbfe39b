"""The preference stage after fine-tuning (NotaGen's CLaMP-DPO, with our own reward):

    repeat train.prefer.iterations times:
        sample samples_per_prompt pieces for each of `prompts` of the train split's most common
        condition sets, spread over time signatures (evaluate.spread_over)
        reward = adherence (share of the prompt's key, time signature, tempo word (or a neighbour)
                 and instruments our annotator finds in the sample)
                 + quality_weight if the sample passes every quality rule of the corpus
                 - plagiarism_penalty if it is a near duplicate of a train piece (MinHash query
                   against the corpus' LSH bands, plagiarism.py)
        per prompt: chosen = the top chosen_share of the samples that pass the rules and copy
                    nothing; rejected = the bottom chosen_share; pairs = chosen x rejected
        `steps` DPOP steps on those pairs against a frozen copy of the model as the iteration began
    and once more the sampling and scoring alone, for the final model's figures.

Every iteration's reward distribution, pass shares, CK/CTS/TB/TBT/CI (with Wilson intervals) and the
loss go to run_dir/metrics.jsonl, and its model to a checkpoint; a rerun of the name resumes after
the last finished iteration. A sequence's log-likelihood is `position_nll` summed over its music and
eos: exact for the token GPT, and for the note-level model exact under its fixed attribute order.
Runs in this process (one device), Ray not needed.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from symcorpus.config import PreferSettings, TrainSettings
from symcorpus.music.annotate import annotate_midi
from symcorpus.music.quality import evaluate as quality_verdict
from symcorpus.music.quality import rules_for
from symcorpus.train.backend import LocalBackend
from symcorpus.train.checkpoints import latest_checkpoint, load_checkpoint, write_checkpoint
from symcorpus.train.evaluate import (ConditionSet, checks, sample_facts, sets_from_shards, shares, spread_over,
                                      tempo_order)
from symcorpus.train.generate import LoadedRun, load_run, midi_of, music_mask
from symcorpus.train.plagiarism import CorpusIndex
from symcorpus.train.runner import RunResult, copy_tokenizer, read_history, write_loss_csv

log = logging.getLogger(__name__)

ADHERENCE = ("CK", "CTS", "TBT", "CI")  # what the reward counts (TB is TBT's stricter twin)


def dpop_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
              reference_rejected: torch.Tensor, beta: float, lam: float) -> torch.Tensor:
    """DPO-Positive per pair, from sequence log-likelihoods:
    -log sigmoid(beta * ((pc - rc) - (pr - rr) - lam * max(0, rc - pc))).
    The penalty keeps the chosen sequence's likelihood from falling below the reference's, which
    plain DPO allows as long as the rejected one falls faster."""
    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    penalty = torch.clamp(reference_chosen - policy_chosen, min=0.0)
    return -F.logsigmoid(beta * (margin - lam * penalty))


@dataclass
class Scored:
    prompt: int  # index of the condition set
    music: list[int]  # the sample's music ids (eos not included)
    ended: bool  # the sample ended with eos (else it ran out of room)
    reward: float
    checks: dict[str, bool]
    adherence: float
    passes_rules: bool
    plagiarized: bool
    similarity: float
    n_notes: int
    error: str | None = None


def score_sample(tokenizer, music: list[int], ended: bool, prompt: int, request: dict[str, Any],
                 rules: dict[str, dict[str, Any]], index: CorpusIndex, threshold: float, p: PreferSettings,
                 order: list[str]) -> Scored:
    """One sample's reward and what it is made of. A sample that cannot be read gets the lowest
    reward: no adherence, no rule passed, the plagiarism penalty."""
    try:
        midi = midi_of(tokenizer, tokenizer.decode(music))
        info = annotate_midi(midi)
        match = index.nearest(midi)
    except Exception as e:  # a sample the annotator cannot take scores as the worst one
        return Scored(prompt, music, ended, -p.plagiarism_penalty, checks(request, None, order), 0.0, False, False,
                      0.0, 0, f"{type(e).__name__}: {e}")
    found = checks(request, sample_facts(info), order)
    counted = [found[m] for m in ADHERENCE if m in found]
    adherence = float(np.mean(counted)) if counted else 0.0
    passes = quality_verdict(info, rules).reason is None
    plagiarized = match.similarity >= threshold
    reward = adherence + p.quality_weight * passes - p.plagiarism_penalty * plagiarized
    return Scored(prompt, music, ended, reward, found, adherence, passes, plagiarized, match.similarity,
                  int(info.get("n_notes") or 0))


def pick_pairs(scored: list[Scored], share: float) -> list[tuple[Scored, Scored]]:
    """Per prompt: the top `share` of the samples that pass the rules and copy nothing (by reward)
    against the bottom `share` of all; every chosen x rejected pair whose rewards differ."""
    pairs = []
    for prompt in sorted({s.prompt for s in scored}):
        group = sorted((s for s in scored if s.prompt == prompt), key=lambda s: -s.reward)
        k = max(1, round(share * len(group)))
        chosen = [s for s in group if s.passes_rules and not s.plagiarized][:k]
        rejected = group[-k:]
        pairs += [(c, r) for c in chosen for r in rejected if c is not r and c.reward > r.reward]
    return pairs


def sequences(tokenizer, prompt_ids: list[int], samples: list[Scored], device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of [bos] + conditions + [sep] + music (+ [eos]) for each sample, padded; only the music
    and eos are targets (-1 elsewhere), so a sum over y is the sample's likelihood given its prompt."""
    stride, pad = tokenizer.stride, tokenizer.pad_id
    rows = []
    for s in samples:
        head = np.full((len(prompt_ids[s.prompt]), stride), pad, dtype=np.int64)
        head[:, 0] = prompt_ids[s.prompt]
        tail = [np.asarray(s.music, dtype=np.int64).reshape(-1, stride)]
        if s.ended:
            tail.append(np.array([[tokenizer.eos_id] + [pad] * (stride - 1)], dtype=np.int64))
        rows.append((np.concatenate([head, *tail]), len(head)))
    length = max(len(r) for r, _ in rows)
    x = torch.full((len(rows), length - 1, stride), pad, dtype=torch.long)
    y = torch.full((len(rows), length - 1, stride), -1, dtype=torch.long)
    for i, (r, n_head) in enumerate(rows):
        t = torch.from_numpy(r)
        x[i, : len(r) - 1] = t[:-1]
        y[i, n_head - 1 : len(r) - 1] = t[n_head:]
    y[y == pad] = -1
    if stride == 1:
        x, y = x[..., 0], y[..., 0]
    return x.to(device), y.to(device)


def sequence_logp(model, tokenizer, prompt_ids: list[list[int]], samples: list[Scored], device) -> torch.Tensor:
    """Log-likelihood of each sample's music and eos given its prompt, under `model`."""
    x, y = sequences(tokenizer, prompt_ids, samples, device)
    nll, _ = model.position_nll(x, y)
    return -nll.sum(dim=1)


def _seed(*parts: Any) -> int:
    return zlib.crc32(json.dumps(parts).encode())


def collect(run: LoadedRun, sets: list[ConditionSet], prompt_ids: list[list[int]], p: PreferSettings,
            rules, index: CorpusIndex, threshold: float, iteration: int, seed: int) -> list[Scored]:
    """samples_per_prompt samples for each set (one batch each), scored."""
    tok = run.tokenizer
    device = next(run.model.parameters()).device
    allowed, order = music_mask(tok, device), tempo_order()
    scored = []
    for i, cs in enumerate(sets):
        rows = run.model.sample(prompt_ids[i], p.samples_per_prompt, p.max_new_tokens, temperature=p.temperature,
                                top_k=p.top_k, top_p=p.top_p, eos_id=tok.eos_id, allowed=allowed,
                                seed=_seed(seed, iteration, i))
        for music in rows:
            ended = len(music) // tok.stride < p.max_new_tokens
            scored.append(score_sample(tok, music, ended, i, cs.request, rules, index, threshold, p, order))
    return scored


def summary(scored: list[Scored]) -> dict[str, Any]:
    """The reward distribution and its parts, and the condition metrics, of one round of samples."""
    rewards = np.array([s.reward for s in scored])
    quantiles = dict(zip(("min", "p10", "p25", "p50", "p75", "p90", "max"),
                         np.round(np.quantile(rewards, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1]), 4).tolist()))
    values, counts = np.unique(np.round(rewards, 3), return_counts=True)
    metrics, measured, intervals = shares([s.checks for s in scored])
    return {
        "samples": len(scored), "reward_mean": round(float(rewards.mean()), 4),
        "reward_std": round(float(rewards.std()), 4), "reward_quantiles": quantiles,
        "reward_histogram": {f"{v:g}": int(c) for v, c in zip(values.tolist(), counts.tolist())},
        "adherence_mean": round(float(np.mean([s.adherence for s in scored])), 4),
        "passes_rules": round(float(np.mean([s.passes_rules for s in scored])), 4),
        "plagiarized": round(float(np.mean([s.plagiarized for s in scored])), 4),
        "similarity_max": round(float(max(s.similarity for s in scored)), 4),
        "unreadable": sum(s.error is not None for s in scored),
        "notes_mean": round(float(np.mean([s.n_notes for s in scored])), 1),
        "metrics": metrics, "metric_counts": measured, "intervals_95": intervals,
    }


def _corpus_rules(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """The quality rules the corpus was filtered with (its manifest), else the defaults."""
    manifest = corpus_dir / "manifest.json"
    params = json.loads(manifest.read_text()).get("params", {}) if manifest.is_file() else {}
    return rules_for((params.get("filter") or {}).get("rules") or {})


def train_on_pairs(run: LoadedRun, reference, optimizer, pairs, prompt_ids, p: PreferSettings, seed: int,
                   iteration: int) -> dict[str, Any]:
    """p.steps DPOP steps over `pairs` (shuffled, pairs_per_step at a time, round and round)."""
    tok, model = run.tokenizer, run.model
    device = next(model.parameters()).device
    unique = list({id(s): s for pair in pairs for s in pair}.values())
    with torch.no_grad():
        ref = {id(s): float(v) for chunk in range(0, len(unique), 8)
               for s, v in zip(unique[chunk:chunk + 8],
                               sequence_logp(reference, tok, prompt_ids, unique[chunk:chunk + 8], device))}
    order = np.random.default_rng(_seed(seed, iteration, "pairs")).permutation(len(pairs))
    model.train()
    losses, wins = [], []
    for step in range(p.steps):
        batch = [pairs[order[(step * p.pairs_per_step + j) % len(pairs)]] for j in range(p.pairs_per_step)]
        logp = sequence_logp(model, tok, prompt_ids, [c for c, _ in batch] + [r for _, r in batch], device)
        chosen, rejected = logp[: len(batch)], logp[len(batch):]
        ref_c = torch.tensor([ref[id(c)] for c, _ in batch], device=device)
        ref_r = torch.tensor([ref[id(r)] for _, r in batch], device=device)
        loss = dpop_loss(chosen, rejected, ref_c, ref_r, p.beta, p.dpop_lambda).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        wins.append(((chosen - ref_c) - (rejected - ref_r) > 0).float().mean().item())
    model.eval()
    return {"dpop_loss_first": round(losses[0], 4), "dpop_loss_last": round(losses[-1], 4),
            "dpop_loss_mean": round(float(np.mean(losses)), 4), "implicit_reward_accuracy": round(float(np.mean(wins)), 4)}


def prefer_run(init: Path, name: str, tok_dir: Path, corpus_dir: Path, settings: TrainSettings,
               device: str | None = None) -> RunResult:
    """Run the preference stage from the run or checkpoint `init` into storage_path/name."""
    p = settings.prefer
    run = load_run(init, device)
    tok = run.tokenizer
    run_dir = Path(settings.storage_path).resolve() / name
    run_dir.mkdir(parents=True, exist_ok=True)
    copy_tokenizer(tok_dir, run_dir)
    (run_dir / "run.json").write_text(json.dumps(
        {"name": name, "kind": "prefer", "tokens": str(Path(tok_dir).resolve()), "init": str(run.checkpoint),
         "corpus": str(Path(corpus_dir).resolve()), "prefer": p.to_dict()}, indent=1))
    sets = spread_over(sets_from_shards(tok, tok_dir, 8 * p.prompts, split="train"), "time_signature", p.prompts)
    prompt_ids = [[tok.bos_id, *cs.tokens, tok.sep_id] for cs in sets]
    index = CorpusIndex.from_corpus(corpus_dir, "train")
    threshold = p.plagiarism_threshold or index.settings.threshold
    rules = _corpus_rules(Path(corpus_dir))
    optimizer = torch.optim.AdamW(run.model.parameters(), lr=p.learning_rate, betas=(settings.beta1, settings.beta2),
                                  weight_decay=0.0)
    state = {"step": 0, "iteration": 0, "tokens": 0, "epoch": 0, "batch_in_epoch": 0}
    resumed = latest_checkpoint(run_dir)
    if resumed is not None:
        state.update(load_checkpoint(resumed, run.model, optimizer, next(run.model.parameters()).device))
    backend = LocalBackend({"run_dir": str(run_dir)}, settings.replace(use_gpu=False))
    config = {"model": run.meta["model"], "format": run.meta["format"], "settings": settings.to_dict(),
              "kind": "prefer"}
    run.model.eval()
    for iteration in range(state["iteration"], p.iterations + 1):
        t0 = time.perf_counter()
        scored = collect(run, sets, prompt_ids, p, rules, index, threshold, iteration, settings.seed)
        metrics: dict[str, Any] = {"kind": "prefer", "iteration": iteration, "final": iteration == p.iterations,
                                   **summary(scored), "sample_seconds": round(time.perf_counter() - t0, 1)}
        write = None
        if iteration < p.iterations:
            pairs = pick_pairs(scored, p.chosen_share)
            metrics["pairs"] = len(pairs)
            if pairs:
                t1 = time.perf_counter()
                reference = copy.deepcopy(run.model).eval().requires_grad_(False)
                metrics.update(train_on_pairs(run, reference, optimizer, pairs, prompt_ids, p, settings.seed,
                                              iteration))
                metrics["train_seconds"] = round(time.perf_counter() - t1, 1)
                state["step"] += p.steps
            state["iteration"] = iteration + 1
            write = functools.partial(write_checkpoint, model=run.model, optimizer=optimizer, state=dict(state),
                                      config=config, metrics=metrics)
        metrics["step"] = state["step"]
        log.info("prefer iteration %d: reward %.3f, %s", iteration, metrics["reward_mean"], metrics["metrics"])
        backend.report(metrics, write)
    history = read_history(run_dir)
    write_loss_csv(run_dir, history)
    return RunResult(run_dir, latest_checkpoint(run_dir), history[-1] if history else {}, history)
