"""How well generated music follows its conditions (Text2midi-style, as Amadeus reports them):

  CK   the key estimated from the notes is the requested key (same tonic and mode)
  CTS  the first time signature is the requested one
  TB   the tempo word of the first tempo is the requested one; TBT also accepts a neighbouring word
  CI   the set of instruments (drums as "Drums") is the requested set

Each figure is the share of samples that match, over the samples whose condition set names that
family, with its Wilson 95% interval. The same figures for unconditioned samples ([bos] + [sep])
against the same requests give the chance level. Condition sets come from the valid split's token
shards (most common first) or from prompts given by the user.
"""

from __future__ import annotations

import json
import math
import shlex
from collections import Counter
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from symcorpus.music.annotate import annotate_midi
from symcorpus.music.instruments import DRUMS
from symcorpus.music.keys import abc_key
from symcorpus.train.generate import LoadedRun, midi_of, music_mask, note_count, sample

METRICS = ("CK", "CTS", "TB", "TBT", "CI")
FAMILY_OF = {"CK": "key", "CTS": "time_signature", "TB": "tempo", "TBT": "tempo", "CI": "instruments"}
AMADEUS = {"CK": 39.3, "CTS": 97.0, "TBT": 73.9, "CI": 26.0}  # Amadeus on MidiCaps, percent


@dataclass
class ConditionSet:
    prompt: str  # readable form, family=value ...
    tokens: list[int]  # the condition tokens
    request: dict[str, Any]  # family -> value (instruments: a list), known families only


def _id_table(tokenizer) -> dict[int, tuple[str, str]]:
    vocab = tokenizer.conditions
    return {i: (family, name) for family, names in vocab.ids.items() for name, i in names.items()}


def condition_set(tokenizer, tokens: list[int]) -> ConditionSet:
    """A set of condition tokens read back as family values (unknown and empty slots left out)."""
    table = _id_table(tokenizer)
    request: dict[str, Any] = {}
    for t in tokens:
        family, name = table[t]
        if name.startswith("<"):
            continue
        if family == "instruments":
            request.setdefault(family, []).append(name)
        else:
            request[family] = name
    parts = [f"{f}={shlex.quote(','.join(v) if isinstance(v, list) else v)}" for f, v in request.items()]
    return ConditionSet(" ".join(parts), list(tokens), request)


def sets_from_shards(tokenizer, tok_dir: str | Path, k: int, split: str = "valid") -> list[ConditionSet]:
    """The k most common condition sets of a split that request at least one measured family."""
    counts: Counter = Counter()
    for f in sorted((Path(tok_dir) / split).glob("part-*.parquet")):
        for batch in pq.ParquetFile(f).iter_batches(columns=["conditions", "chunk"]):
            for conditions, chunk in zip(batch.column("conditions").to_pylist(), batch.column("chunk").to_pylist()):
                if chunk == 0:  # one vote per piece
                    counts[tuple(conditions)] += 1
    measured = {FAMILY_OF[m] for m in METRICS}
    sets = []
    for tokens, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        s = condition_set(tokenizer, list(tokens))
        if measured & set(s.request):
            sets.append(s)
        if len(sets) == k:
            break
    if not sets:
        raise ValueError(f"no piece in {Path(tok_dir) / split} names a key, time signature, tempo or instruments")
    return sets


def spread_over(sets: list[ConditionSet], family: str, k: int) -> list[ConditionSet]:
    """k of `sets` (most common first) taken in rounds: each round the first remaining set of each
    value of `family` (values in the order they first appear; a set without the family is a value
    of its own). The preference stage samples these, so that its pairs teach how each time signature
    follows its condition rather than which time signature the most common prompts share."""
    by_value: dict[Any, list[ConditionSet]] = {}
    for i, s in enumerate(sets):
        by_value.setdefault(s.request.get(family, ("none", i)), []).append(s)
    chosen: list[ConditionSet] = []
    while len(chosen) < min(k, len(sets)):
        for group in by_value.values():
            if group and len(chosen) < k:
                chosen.append(group.pop(0))
    return chosen


def sets_from_prompts(tokenizer, prompts: list[str]) -> list[ConditionSet]:
    return [condition_set(tokenizer, tokenizer.encode_prompt(p)) for p in prompts]


# --------------------------------------------------------------------------------------------------
# Annotation of a sample and the checks


def annotate_sample(midi: bytes) -> dict[str, Any]:
    """key, time_signature, tempo_bpm, instruments (drums as "Drums") of generated MIDI, by the
    project's annotator."""
    return sample_facts(annotate_midi(midi))


def sample_facts(info: dict[str, Any]) -> dict[str, Any]:
    """What the checks compare, from annotate_midi's columns."""
    instruments = set(info.get("instruments") or []) | ({DRUMS} if info.get("has_drums") else set())
    return {"key": info.get("key"), "time_signature": info.get("time_signature"),
            "tempo_bpm": info.get("tempo_bpm"), "instruments": sorted(instruments)}


def tempo_order() -> list[str]:
    """Tempo words from slow to fast (as the condition vocabulary bins them)."""
    from symcorpus.tokenizers.conditions import tempo_word

    order: list[str] = []
    for bpm in range(1, 601):
        word = tempo_word(float(bpm))
        if word not in order:
            order.append(word)
    return order


def same_key(a: str | None, b: str | None) -> bool:
    ka, kb = abc_key(a or ""), abc_key(b or "")
    return ka is not None and kb is not None and (ka.tonic, ka.minor) == (kb.tonic, kb.minor)


def checks(request: dict[str, Any], found: dict[str, Any] | None, order: list[str]) -> dict[str, bool]:
    """Pass/fail per metric whose family the request names (a sample that failed to parse fails)."""
    from symcorpus.tokenizers.conditions import tempo_word

    out: dict[str, bool] = {}
    f = found or {}
    if "key" in request:
        out["CK"] = same_key(request["key"], f.get("key"))
    if "time_signature" in request:
        out["CTS"] = request["time_signature"] == f.get("time_signature")
    if "tempo" in request:
        word = tempo_word(float(f["tempo_bpm"])) if f.get("tempo_bpm") else None
        out["TB"] = word == request["tempo"]
        out["TBT"] = word is not None and request["tempo"] in order and word in order and \
            abs(order.index(word) - order.index(request["tempo"])) <= 1
    if "instruments" in request:
        out["CI"] = sorted(set(request["instruments"])) == f.get("instruments")
    return out


# --------------------------------------------------------------------------------------------------
# The evaluation


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval of a proportion hits / n, in percent (95% for z = 1.96); None for n = 0.
    Unlike p +- z * sqrt(p(1-p)/n) it stays inside [0, 100] and is not empty at 0 or n hits."""
    if n <= 0:
        return None
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(100 * max(0.0, centre - half), 1), round(100 * min(1.0, centre + half), 1))


@dataclass
class EvaluationReport:
    conditioned: dict[str, float | None]  # percent per metric
    unconditioned: dict[str, float | None]
    counts: dict[str, dict[str, int]]  # samples measured per metric
    sets: list[dict[str, Any]] = field(default_factory=list)
    intervals: dict[str, dict[str, tuple[float, float] | None]] = field(default_factory=dict)  # Wilson 95%
    notes_per_second: float | None = None  # sampling speed over every batch of the evaluation

    def to_dict(self) -> dict[str, Any]:
        return {"conditioned": self.conditioned, "unconditioned": self.unconditioned, "counts": self.counts,
                "intervals_95": self.intervals, "notes_per_second": self.notes_per_second, "amadeus": AMADEUS,
                "sets": self.sets}


def shares(results: list[dict[str, bool]]) -> tuple[dict[str, float | None], dict[str, int],
                                                     dict[str, tuple[float, float] | None]]:
    """Percent of passes per metric over the results that measure it, the counts, Wilson 95% intervals."""
    out, counts, intervals = {}, {}, {}
    for m in METRICS:
        seen = [r[m] for r in results if m in r]
        counts[m] = len(seen)
        out[m] = round(100.0 * float(np.mean(seen)), 1) if seen else None
        intervals[m] = wilson_interval(int(sum(seen)), len(seen))
    return out, counts, intervals


def evaluate_run(
    run: LoadedRun,
    sets: list[ConditionSet],
    out: str | Path,
    *,
    samples_per_set: int = 8,
    max_new_tokens: int = 1024,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = 0.95,
    seed: int = 0,
    denoise_steps: int | None = None,
) -> EvaluationReport:
    """For every set: samples_per_set conditioned and as many unconditioned samples (one batch
    each), annotated and checked; writes the samples and evaluation.json under `out`."""
    tok = run.tokenizer
    out = Path(out)
    order = tempo_order()
    device = next(run.model.parameters()).device
    allowed = music_mask(tok, device)
    per_kind: dict[str, list[dict[str, bool]]] = {"conditioned": [], "unconditioned": []}
    report_sets = []
    seconds, n_notes = 0.0, 0
    for i, cs in enumerate(sets):
        entry: dict[str, Any] = {"prompt": cs.prompt, "request": cs.request}
        for kind, prompt, draw in (("conditioned", [tok.bos_id, *cs.tokens, tok.sep_id], seed + i),
                                   ("unconditioned", [tok.bos_id, tok.sep_id], seed + 100_003 + i)):
            t0 = time.perf_counter()
            rows = sample(run.model, prompt, samples_per_set, max_new_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p, eos_id=tok.eos_id, allowed=allowed, seed=draw,
                          denoise_steps=denoise_steps)
            seconds += time.perf_counter() - t0
            folder = out / f"set_{i:02d}" / kind
            folder.mkdir(parents=True, exist_ok=True)
            details = []
            for j, row in enumerate(rows):
                data = tok.decode(row)
                (folder / f"sample_{j:02d}{tok.suffix}").write_bytes(data)
                try:
                    midi = midi_of(tok, data)
                    n_notes += note_count(midi)
                    found = annotate_sample(midi)
                    error = None
                except Exception as e:  # an unreadable sample fails every check
                    found, error = None, f"{type(e).__name__}: {e}"
                result = checks(cs.request, found, order)
                per_kind[kind].append(result)
                details.append({"found": found, "checks": result, **({"error": error} if error else {})})
            entry[kind] = details
        report_sets.append(entry)
    conditioned, counts_c, intervals_c = shares(per_kind["conditioned"])
    unconditioned, counts_u, intervals_u = shares(per_kind["unconditioned"])
    report = EvaluationReport(conditioned, unconditioned, {"conditioned": counts_c, "unconditioned": counts_u},
                              report_sets, {"conditioned": intervals_c, "unconditioned": intervals_u},
                              round(n_notes / seconds, 2) if seconds > 0 else None)
    (out / "evaluation.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return report


def format_table(report: EvaluationReport) -> str:
    """Percent per metric with its Wilson 95% interval: conditioned, unconditioned, Amadeus' figure."""
    def cell(v):
        return "-" if v is None else f"{v:.1f}"

    def with_interval(kind: str, m: str) -> str:
        value, interval = getattr(report, kind)[m], report.intervals.get(kind, {}).get(m)
        return cell(value) + (f" [{interval[0]:.0f}-{interval[1]:.0f}]" if interval else "")

    lines = [f"{'metric':<7}{'conditioned':>20}{'unconditioned':>20}{'Amadeus':>9}{'samples':>9}"]
    for m in METRICS:
        lines.append(f"{m:<7}{with_interval('conditioned', m):>20}{with_interval('unconditioned', m):>20}"
                     f"{cell(AMADEUS.get(m)):>9}{report.counts['conditioned'][m]:>9}")
    return "\n".join(lines)
