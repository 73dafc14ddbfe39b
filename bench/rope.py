"""Rotary positions, forward and backward: ours (symcorpus.train.model.apply_rope: x * cos + halves
swapped * signed sin, in x's dtype) against the textbook form (split the halves, rotate in fp32,
concatenate), on q-shaped tensors sliced from a qkv projection as the model does. Eager mode, where
each operation is its own kernel; under torch.compile both fuse into one.

  .venv/bin/python -P bench/rope.py [--batch 8] [--repeats 10] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from symcorpus.train.model import apply_rope, rope_tables


def textbook_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The peer: cos, sin of shape (T, D / 2); the halves rotated in fp32 and concatenated."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


def timed(fn, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, repeats: int) -> float:
    """Mean seconds of forward + backward."""
    grad = torch.ones_like(x)
    for _ in range(2):
        fn(x, cos, sin).backward(grad)
    if x.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(x, cos, sin).backward(grad)
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--length", type=int, default=1024)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    B, H, T, D = args.batch, args.heads, args.length, args.head_dim
    cos, sin = rope_tables(D, T, 10000.0, device=args.device)
    half_cos, half_sin = cos[:, : D // 2], sin[:, D // 2 :]  # the textbook's (T, D / 2) tables
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        qkv = torch.randn(B, T, 3, H, D, device=args.device, dtype=dtype)
        q = qkv.permute(2, 0, 3, 1, 4)[0].detach().requires_grad_()  # (B, H, T, D), strided like the model's
        ours, peer = apply_rope(q, cos, sin), textbook_rope(q, half_cos, half_sin)
        diff = (ours.float() - peer.float()).abs().max().item()
        t_peer = timed(textbook_rope, q, half_cos, half_sin, args.repeats)
        t_ours = timed(apply_rope, q, cos, sin, args.repeats)
        print(f"{args.device} {str(dtype).split('.')[1]:9s} (B={B}, H={H}, T={T}, D={D}) forward+backward: "
              f"ours {1000 * t_ours:7.2f} ms, textbook {1000 * t_peer:7.2f} ms, {t_peer / t_ours:.2f}x; "
              f"max difference {diff:.3g}", flush=True)


if __name__ == "__main__":
    main()
