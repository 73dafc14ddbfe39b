"""Sampling from a trained run: batched, with a KV cache, temperature, top-k and top-p; outputs a MIDI
(REMI) or ABC file per sample, a piano-roll PNG, and a WAV where FluidSynth and a GM SoundFont are
installed (skipped with a note otherwise)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from symcorpus.audio import find_soundfont, render_wav, why_no_audio
from symcorpus.train.checkpoints import latest_checkpoint
from symcorpus.train.model import GPT, GPTConfig, KVCache

# --------------------------------------------------------------------------------------------------
# Sampling


def pick_next(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
              generator: torch.Generator | None) -> torch.Tensor:
    """One token per row of (B, vocab) logits: greedy at temperature 0, else sampled from the
    temperature-scaled distribution cut to the top k tokens and the top-p probability mass."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs > top_p  # tokens past the mass, the most likely always kept
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def sample(
    model: GPT,
    prompt: list[int],
    n: int,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    allowed: torch.Tensor | None = None,
    seed: int = 0,
    use_cache: bool = True,
) -> list[list[int]]:
    """`n` continuations of `prompt` in one batch; each stops at eos (not included) or after
    max_new_tokens (at most block_size in all). `allowed` (bool, vocab) masks the tokens that may
    be drawn. Without the cache every step reruns the whole sequence: the reference for the cache."""
    if not prompt:
        raise ValueError("empty prompt: it needs at least the bos token")
    device = next(model.parameters()).device
    limit = model.config.block_size
    if len(prompt) >= limit:
        raise ValueError(f"prompt of {len(prompt)} tokens leaves no room in block_size {limit}")
    max_new = min(max_new_tokens, limit - len(prompt))
    generator = torch.Generator(device=device).manual_seed(seed)
    bf16 = device.type == "cuda"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    was_training = model.training
    model.eval()
    idx = torch.tensor([prompt] * n, dtype=torch.long, device=device)
    cache = KVCache(model.config, n, len(prompt) + max_new, device, torch.bfloat16 if bf16 else torch.float32) \
        if use_cache else None
    done = torch.zeros(n, dtype=torch.bool, device=device)
    # cuDNN attention builds a plan per key length, i.e. per generated token: leave it out here.
    backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    with autocast, sdpa_kernel(backends):
        logits, _ = model(idx, cache=cache, start=0)
        for _ in range(max_new):
            last = logits[:, -1]
            if allowed is not None:
                last = last.masked_fill(~allowed, float("-inf"))
            token = pick_next(last, temperature, top_k, top_p, generator)
            if eos_id is not None:
                token = torch.where(done, torch.full_like(token, eos_id), token)
                done |= token == eos_id
            idx = torch.cat([idx, token[:, None]], dim=1)
            if bool(done.all()) or idx.shape[1] == len(prompt) + max_new:
                break
            if use_cache:
                logits, _ = model(token[:, None], cache=cache, start=idx.shape[1] - 1)
            else:
                logits, _ = model(idx)
    model.train(was_training)
    out = []
    for row in idx[:, len(prompt):].tolist():
        out.append(row[: row.index(eos_id)] if eos_id is not None and eos_id in row else row)
    return out


# --------------------------------------------------------------------------------------------------
# Loading a run


@dataclass
class LoadedRun:
    model: GPT
    tokenizer: Any
    checkpoint: Path
    meta: dict[str, Any]


def load_run(checkpoint: str | Path, device: str | torch.device | None = None) -> LoadedRun:
    """A run directory (its newest checkpoint) or a checkpoint directory, with its tokenizer."""
    from symcorpus.tokenizers import load_tokenizer

    ckpt = latest_checkpoint(checkpoint)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint in {checkpoint} (a run directory or one of its checkpoint_* folders)")
    meta = json.loads((ckpt / "state.json").read_text())
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = GPT(GPTConfig(**meta["model"]))
    model.load_state_dict(torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True))
    tok_dir = ckpt.parent / "tokenizer"
    if not (tok_dir / "tokenizer.json").is_file():
        run = json.loads((ckpt.parent / "run.json").read_text()) if (ckpt.parent / "run.json").is_file() else {}
        tok_dir = Path(run.get("tokens", tok_dir))
    tokenizer = load_tokenizer(tok_dir)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"tokenizer in {tok_dir} has {tokenizer.vocab_size} tokens, "
                         f"the model {model.config.vocab_size}")
    return LoadedRun(model.to(device).eval(), tokenizer, ckpt, meta)


def prompt_tokens(tokenizer, prompt: str | None) -> list[int]:
    """[bos] + condition tokens + [sep]; None means unconditioned, [bos] + [sep], as in training's
    condition dropout. ValueError (naming the family or value) for a bad prompt."""
    if prompt is None:
        return [tokenizer.bos_id, tokenizer.sep_id]
    return [tokenizer.bos_id, *tokenizer.encode_prompt(prompt), tokenizer.sep_id]


def music_mask(tokenizer, device) -> torch.Tensor:
    """Music tokens and eos may be drawn; pad, bos, sep and condition tokens may not."""
    first, end = tokenizer.music_range
    allowed = torch.zeros(tokenizer.vocab_size, dtype=torch.bool, device=device)
    allowed[first:end] = True
    allowed[tokenizer.eos_id] = True
    return allowed


# --------------------------------------------------------------------------------------------------
# Outputs


def piano_roll_png(midi: bytes, path: Path, title: str = "") -> int:
    """Draw the notes (quarters x pitch, one colour per track, drums grey); returns the note count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import symusic

    from symcorpus.music.notes import note_table

    score = symusic.Score.from_midi(midi)
    table = note_table(score)
    tpq = max(int(score.ticks_per_quarter), 1)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    colours = plt.get_cmap("tab10")(table["track"] % 10)
    colours[table["is_drum"]] = (0.6, 0.6, 0.6, 1.0)
    ax.barh(table["pitch"], table["duration"] / tpq, left=table["onset"] / tpq, height=0.8, color=colours)
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title or f"{len(table)} notes")
    if len(table):
        ax.set_ylim(table["pitch"].min() - 2, table["pitch"].max() + 2)
        ax.set_xlim(0, max(1.0, float((table["onset"] + table["duration"]).max() / tpq)))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return len(table)


def note_count(midi: bytes) -> int:
    import symusic

    return sum(len(track.notes) for track in symusic.Score.from_midi(midi).tracks)


@dataclass
class GenerateResult:
    out: Path
    files: list[Path]  # the MIDI or ABC files
    pngs: list[Path]
    wavs: list[Path]
    wav_note: str | None  # why no WAV was written
    seconds: float  # sampling time
    n_notes: int
    notes_per_second: float
    samples: list[dict[str, Any]] = field(default_factory=list)


def midi_of(tokenizer, data: bytes) -> bytes:
    """The sample as MIDI: itself for remi; ABC rendered by the project's converter."""
    if tokenizer.kind == "remi":
        return data
    from symcorpus.music.convert import to_midi

    return to_midi(data, "abc")


def generate_samples(
    run: LoadedRun,
    prompt: str | None,
    n: int,
    out: str | Path,
    *,
    max_new_tokens: int = 1024,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = 0.95,
    seed: int = 0,
    soundfont: str | None = None,
    png: bool = True,
    wav: bool = True,
    prefix: str = "sample",
) -> GenerateResult:
    """Sample `n` pieces for `prompt` in one batch and write them under `out` with samples.json."""
    if n < 1:
        raise ValueError("n must be at least 1")
    tok = run.tokenizer
    tokens = prompt_tokens(tok, prompt)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = next(run.model.parameters()).device
    t0 = time.perf_counter()
    rows = sample(run.model, tokens, n, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                  eos_id=tok.eos_id, allowed=music_mask(tok, device), seed=seed)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0

    font = find_soundfont(soundfont) if wav else None
    wav_note = why_no_audio(soundfont) if wav else "no WAV: not asked for"
    result = GenerateResult(out, [], [], [], wav_note, seconds, 0, 0.0)
    for i, row in enumerate(rows):
        info: dict[str, Any] = {"n_tokens": len(row)}
        path = out / f"{prefix}_{i:02d}{tok.suffix}"
        data = tok.decode(row)
        path.write_bytes(data)
        result.files.append(path)
        info["file"] = path.name
        try:
            midi = midi_of(tok, data)
            info["n_notes"] = note_count(midi)
            if png:
                piano_roll_png(midi, path.with_suffix(".png"), f"{path.name}: {prompt or 'unconditioned'}")
                result.pngs.append(path.with_suffix(".png"))
            if wav_note is None:
                midi_path = path if tok.kind == "remi" else path.with_suffix(".mid")
                if midi_path != path:
                    midi_path.write_bytes(midi)
                render_wav(midi_path, path.with_suffix(".wav"), font)
                result.wavs.append(path.with_suffix(".wav"))
        except Exception as e:  # a sample we cannot render is kept and says why
            info["error"] = f"{type(e).__name__}: {e}"
        result.n_notes += info.get("n_notes", 0)
        result.samples.append(info)
    result.notes_per_second = result.n_notes / seconds if seconds > 0 else 0.0
    summary = {
        "checkpoint": str(run.checkpoint), "prompt": prompt, "prompt_tokens": tokens, "n": n,
        "max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k, "top_p": top_p,
        "seed": seed, "device": str(device), "seconds": round(seconds, 4), "n_notes": result.n_notes,
        "notes_per_second": round(result.notes_per_second, 2), "wav": wav_note or "written",
        "samples": result.samples,
    }
    (out / f"{prefix}s.json").write_text(json.dumps(summary, indent=1) + "\n")
    return result
