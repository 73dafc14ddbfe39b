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

from symcorpus.audio import find_soundfont, render_wav, why_no_audio
from symcorpus.train.architectures import build_model
from symcorpus.train.checkpoints import latest_checkpoint
from symcorpus.train.model import pick_next  # noqa: F401 - part of this module's interface

# --------------------------------------------------------------------------------------------------
# Sampling


def sample(model, prompt: list[int], n: int, max_new_tokens: int, **options) -> list[list[int]]:
    """`n` continuations of `prompt` from either model (see GPT.sample and NoteModel.sample)."""
    return model.sample(prompt, n, max_new_tokens, **options)


# --------------------------------------------------------------------------------------------------
# Loading a run


@dataclass
class LoadedRun:
    model: torch.nn.Module  # GPT or NoteModel
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
    model = build_model(meta["model"])
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


def fixed_attributes(tokenizer, items: list[str] | None) -> dict[int, int]:
    """`attribute=value` items (generate --fix) as attribute index -> token id, for a note-level
    run. ValueError naming the item for anything else."""
    if not items:
        return {}
    if tokenizer.kind != "notes":
        raise ValueError(f"--fix holds note attributes: this run reads {tokenizer.kind} tokens, not notes "
                         "(train on `symcorpus tokenize --tokenizer notes` shards)")
    from symcorpus.tokenizers.notes import ATTRIBUTES

    fixed: dict[int, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise ValueError(f"--fix {item}: write attribute=value, e.g. instrument=Violin ({', '.join(ATTRIBUTES)})")
        token = tokenizer.notes.value_of(name.strip().lower(), value.strip())
        fixed[ATTRIBUTES.index(name.strip().lower())] = token
    return fixed


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
    """The sample as MIDI: itself for remi and notes; ABC rendered by the project's converter."""
    if tokenizer.suffix == ".mid":
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
    fix: list[str] | None = None,
    denoise_steps: int | None = None,
) -> GenerateResult:
    """Sample `n` pieces for `prompt` in one batch and write them under `out` with samples.json.
    `fix` holds note attributes (`instrument=Violin`, note-level runs only)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    tok = run.tokenizer
    tokens = prompt_tokens(tok, prompt)
    fixed = fixed_attributes(tok, fix)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = next(run.model.parameters()).device
    t0 = time.perf_counter()
    rows = sample(run.model, tokens, n, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                  eos_id=tok.eos_id, allowed=music_mask(tok, device), seed=seed, fixed=fixed,
                  denoise_steps=denoise_steps)
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
                midi_path = path if tok.suffix == ".mid" else path.with_suffix(".mid")
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
        "fix": fix or [], "denoise_steps": denoise_steps,
        "seed": seed, "device": str(device), "seconds": round(seconds, 4), "n_notes": result.n_notes,
        "notes_per_second": round(result.notes_per_second, 2), "wav": wav_note or "written",
        "samples": result.samples,
    }
    (out / f"{prefix}s.json").write_text(json.dumps(summary, indent=1) + "\n")
    return result
