"""Training throughput through the real data path against a plain PyTorch loop on random tokens,
plus single-stream generation speed.

  real   symcorpus.train.loop.train_loop_per_worker (the --no-ray path): token shards read with
         pyarrow, examples packed into blocks, shuffled, batched, copied to the device; tokens/s from
         its own reports, data_wait_share = time spent fetching batches / step time
  plain  the same model and optimizer in a bare loop over random tokens already on the device
  ratio  real / plain tokens/s; stall = 1 - ratio. MFU = FLOPs per token (6 N + 12 L d T) x tokens/s
         over the device's dense bf16 peak (989 TFLOP/s on an H100 SXM)
  gen    one stream sampled with the KV cache; notes/s = tokens/s / tokens per note of the shards
         (Pitch tokens counted in them), since an untrained model's tokens are not music

Two steps, so the GPU machine needs neither Ray nor Spark, nor the source corpus:

  # here: real token shards (from `symcorpus tokenize`) -> a self-contained folder
  python bench/train_throughput.py prepare --tokens TOK --out bench/out/train_tokens --copies 20
  # CPU figures here, or the GPU run (base preset, T=1024, B=32, bf16, compiled and eager)
  python bench/train_throughput.py run --data bench/out/train_tokens --preset tiny --block-size 128 \
      --batch-size 8 --steps 30 --warmup 10 --modes eager
  python bench/train_throughput.py run --data bench/out/train_tokens --preset base --modes compiled,eager
  # then --modes compiled --compile-mode max-autotune-no-cudagraphs: Triton matmuls tuned against cuBLAS
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.config import COMPILE_MODES, TrainSettings  # noqa: E402
from symcorpus.train.data import SequenceFormat, shard_files  # noqa: E402
from symcorpus.train.generate import sample  # noqa: E402
from symcorpus.train.loop import train_loop_per_worker  # noqa: E402
from symcorpus.train.model import GPT, GPTConfig  # noqa: E402
from symcorpus.train.runner import preset_config  # noqa: E402

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def prepare(tokens: Path, out: Path, copies: int) -> None:
    """Copy the train and valid shards (train `copies` times, as distinct files) and write meta.json:
    the sequence format and the Pitch token ids, read from tokenizer.json."""
    tok = json.loads((tokens / "tokenizer.json").read_text())
    specials = tok["special_tokens"]
    fmt = SequenceFormat(tok["vocab_size"], specials["<pad>"], specials["<bos>"], specials["<eos>"],
                         specials["<sep>"], float(tok["condition_dropout"]))
    pitch_ids = [i for i, name in enumerate(tok["tokens"]) if name.startswith("Pitch")]
    if out.exists():
        shutil.rmtree(out)
    for split, n in (("train", copies), ("valid", 1)):
        (out / split).mkdir(parents=True)
        for c in range(n):
            for f in shard_files(tokens, split):
                shutil.copyfile(f, out / split / f"part-{c:03d}-{f.stem.split('-')[-1]}.parquet")
    n_tokens = sum(int(pq.read_table(f, columns=["n_tokens"]).column(0).to_numpy().sum())
                   for f in shard_files(out, "train"))
    (out / "meta.json").write_text(json.dumps({"format": fmt.to_dict(), "pitch_ids": pitch_ids,
                                               "source": str(tokens), "copies": copies,
                                               "train_tokens": int(n_tokens)}, indent=1))
    print(f"{out}: {n_tokens:,} train tokens in {len(shard_files(out, 'train'))} shards")


def tokens_per_note(data: Path, pitch_ids: list[int]) -> float:
    pitches = total = 0
    for f in shard_files(data, "train")[:4]:
        values = pq.read_table(f, columns=["tokens"]).column(0).combine_chunks().flatten().to_numpy()
        pitches += int(np.isin(values, pitch_ids).sum())
        total += len(values)
    return total / max(pitches, 1)


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def real_path(data: Path, fmt: SequenceFormat, s: TrainSettings, model_cfg: GPTConfig, warmup: int) -> dict:
    with tempfile.TemporaryDirectory() as run_dir:
        config = {"settings": s.to_dict(), "format": fmt.to_dict(), "model": model_cfg.to_dict(),
                  "tok_dir": str(data), "run_dir": run_dir, "ray": False, "ids": None, "init": None,
                  "kind": "bench", "checkpoint": False}
        t0 = time.perf_counter()
        history = train_loop_per_worker(config)
        wall = time.perf_counter() - t0
    timed = [m for m in history if m["step"] > warmup]
    tps = float(np.mean([m["tokens_per_s"] for m in timed]))
    return {"tokens_per_s": tps, "data_wait_share": float(np.mean([m["data_wait_share"] for m in timed])),
            "loss_first": history[0]["loss"], "loss_last": history[-1]["loss"], "wall_s": wall,
            "windows": len(timed)}


def plain_loop(s: TrainSettings, model_cfg: GPTConfig, device: torch.device, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = GPT(model_cfg).to(device)
    opt = model.configure_optimizer(s.weight_decay, s.learning_rate, (s.beta1, s.beta2), device.type)
    step_fn = torch.compile(model, mode=s.compile_mode) if s.compile and device.type == "cuda" else model
    cuda = device.type == "cuda"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda)
    data = torch.randint(0, model_cfg.vocab_size, (8, s.batch_size, s.block_size + 1), device=device)

    def step(i):
        batch = data[i % 8]
        with autocast:
            _, loss = step_fn(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for i in range(warmup):
        step(i)
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    loss.item()
    seconds = time.perf_counter() - t0
    return {"tokens_per_s": steps * s.batch_size * s.block_size / seconds, "n_params": model.num_params(),
            "flops_per_token": model.flops_per_token(s.block_size)}


def generation(model_cfg: GPTConfig, fmt: SequenceFormat, device: torch.device, new_tokens: int,
               tok_per_note: float) -> dict:
    torch.manual_seed(0)
    model = GPT(model_cfg).to(device).eval()
    prompt = [fmt.bos_id, fmt.sep_id]
    sample(model, prompt, 1, 16, temperature=1.0, top_p=0.95, seed=0)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = sample(model, prompt, 1, new_tokens, temperature=1.0, top_p=0.95, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tps = len(out[0]) / seconds
    return {"tokens": len(out[0]), "seconds": seconds, "tokens_per_s": tps, "tokens_per_note": tok_per_note,
            "notes_per_s": tps / tok_per_note}


def run(args) -> dict:
    meta = json.loads((args.data / "meta.json").read_text())
    fmt = SequenceFormat(**meta["format"])
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    elif args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    model_cfg = preset_config(TrainSettings(preset=args.preset, block_size=args.block_size), fmt.vocab_size)
    peak = peak_flops(device)
    results = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "torch": torch.__version__, "preset": args.preset, "block_size": args.block_size,
               "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
               "train_tokens_in_shards": meta["train_tokens"], "modes": {}}
    for mode in args.modes.split(","):
        s = TrainSettings(preset=args.preset, block_size=args.block_size, batch_size=args.batch_size,
                          max_steps=args.warmup + args.steps, warmup_steps=10, log_every=args.log_every,
                          checkpoint_every=10**9, compile=mode == "compiled", compile_mode=args.compile_mode,
                          use_gpu=device.type == "cuda",
                          cpu_threads=args.cpu_threads, shuffle_buffer_blocks=256, read_batch_rows=256)
        plain = plain_loop(s, model_cfg, device, args.steps, args.warmup)
        real = real_path(args.data, fmt, s, model_cfg, args.warmup)
        row = {"plain": plain, "real": real, "ratio": real["tokens_per_s"] / plain["tokens_per_s"]}
        if peak:
            row["mfu_plain"] = plain["flops_per_token"] * plain["tokens_per_s"] / peak
            row["mfu_real"] = plain["flops_per_token"] * real["tokens_per_s"] / peak
        results["modes"][mode] = row
        results["n_params"] = plain["n_params"]
        print(f"{mode:>9}: real {real['tokens_per_s']:,.0f} tok/s (data wait {100 * real['data_wait_share']:.2f}%)"
              f" | plain {plain['tokens_per_s']:,.0f} tok/s | real/plain {row['ratio']:.3f}"
              + (f" | MFU real {100 * row['mfu_real']:.1f}% plain {100 * row['mfu_plain']:.1f}%" if peak else ""),
              flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.gen_tokens:
        tpn = tokens_per_note(args.data, meta["pitch_ids"])
        results["generation"] = generation(model_cfg, fmt, device, args.gen_tokens, tpn)
        g = results["generation"]
        print(f"generation, one stream, KV cache: {g['tokens_per_s']:,.1f} tok/s = {g['notes_per_s']:,.1f} notes/s "
              f"at {tpn:.2f} tokens/note (Amadeus: 16.23 notes/s)", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--tokens", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("bench/out/train_tokens"))
    p.add_argument("--copies", type=int, default=20)
    r = sub.add_parser("run")
    r.add_argument("--data", type=Path, default=Path("bench/out/train_tokens"))
    r.add_argument("--preset", default="base")
    r.add_argument("--block-size", type=int, default=1024)
    r.add_argument("--batch-size", type=int, default=32)
    r.add_argument("--steps", type=int, default=60)
    r.add_argument("--warmup", type=int, default=20)
    r.add_argument("--log-every", type=int, default=10)
    r.add_argument("--modes", default="compiled,eager")
    r.add_argument("--compile-mode", default="default", choices=COMPILE_MODES, help="torch.compile's mode")
    r.add_argument("--device", default=None)
    r.add_argument("--cpu-threads", type=int, default=None)
    r.add_argument("--gen-tokens", type=int, default=1000)
    r.add_argument("--json", type=Path, default=Path("bench/out/train_throughput.json"))
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.tokens, args.out, args.copies)
        return
    results = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
