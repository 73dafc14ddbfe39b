"""A decoder-only transformer, readable top to bottom: rotary positions, PyTorch's fused
scaled_dot_product_attention, RMSNorm, a GELU MLP, and the output layer tied to the embedding.

`forward(idx, targets, cache, start)` serves training (targets given) and sampling (a KVCache filled
from position `start` on); `position_nll` gives validation and the preference stage each target's
negative log-likelihood; `sample` draws continuations with the cache. The note-level model
(notes_model.py) has the same four methods, so the loop, sampling and evaluation never ask which
model they hold.

It imports only PyTorch: the presets that name model shapes live in symcorpus.config.train, and the
training runner turns a preset into a GPTConfig.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    rope_base: float = 10000.0
    kind: str = "gpt"  # which model class reads this config (train/architectures.py)

    def to_dict(self) -> dict:
        return asdict(self)


def rope_tables(head_dim: int, length: int, base: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and signed sin of position x frequency, (length, head_dim): channels i and i + head_dim / 2
    form a pair rotated by one angle, and sin is negated on the first half (see apply_rope)."""
    freqs = base ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), freqs)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([cos, cos], dim=-1), torch.cat([-sin, sin], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x1, x2) = (x[i], x[i + D/2]) by its angle: (x1 cos - x2 sin, x2 cos + x1 sin),
    written as x * cos + (x with its halves swapped) * signed sin. Four element-wise kernels in x's
    dtype: in eager mode the textbook split-and-concatenate form in fp32 runs about eight, each
    reading and writing fp32 copies of q and k (bench/rope.py). x is (B, H, T, D)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + torch.roll(x, x.shape[-1] // 2, dims=-1) * sin


class KVCache:
    """Keys and values of every layer for `batch` sequences up to `length` positions."""

    def __init__(self, config: GPTConfig, batch: int, length: int, device, dtype=torch.float32):
        shape = (batch, config.n_head, length, config.n_embd // config.n_head)
        self.layers = [
            (torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))
            for _ in range(config.n_layer)
        ]


class Attention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.dropout = config.dropout

    def forward(self, x, cos, sin, cache: tuple[torch.Tensor, torch.Tensor] | None, start: int):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        mask, causal = None, T > 1
        if cache is not None:
            cache_k, cache_v = cache
            cache_k[:, :, start : start + T] = k
            cache_v[:, :, start : start + T] = v
            k, v = cache_k[:, :, : start + T], cache_v[:, :, : start + T]
            if start > 0 and T > 1:  # new queries see the whole past and each other causally
                mask = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(diagonal=start)
                causal = False
            elif T == 1:
                causal = False  # one new query attends to everything cached
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.up = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.down = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.norm1 = nn.RMSNorm(config.n_embd)
        self.attn = Attention(config)
        self.norm2 = nn.RMSNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, cache, start):
        x = x + self.attn(self.norm1(x), cos, sin, cache, start)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = nn.RMSNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied: one matrix reads and writes tokens
        cos, sin = rope_tables(config.n_embd // config.n_head, config.block_size, config.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # residual projections scaled by depth (GPT-2)
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # the tied matrix counts once

    def forward(self, idx, targets=None, cache: KVCache | None = None, start: int = 0):
        """Logits (B, T, vocab); with `targets`, also the mean cross-entropy (targets -1 ignored)."""
        T = idx.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens is longer than block_size {self.config.block_size}")
        cos, sin = self.rope_cos[start : start + T], self.rope_sin[start : start + T]
        x = self.drop(self.embed(idx))
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache.layers[i] if cache is not None else None, start)
        logits = self.head(self.norm(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def position_nll(self, idx, targets) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) negative log-likelihood of each target token (float32) and whether it counts
        (targets -1 do not)."""
        logits, _ = self(idx)
        counted = targets != -1
        nll = F.cross_entropy(logits.float().transpose(1, 2), targets.clamp(min=0), reduction="none")
        return nll * counted, counted

    @torch.no_grad()
    def sample(self, prompt: list[int], n: int, max_new_tokens: int, *, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, eos_id: int | None = None,
               allowed: torch.Tensor | None = None, seed: int = 0, use_cache: bool = True,
               fixed: dict[int, int] | None = None, denoise_steps: int | None = None) -> list[list[int]]:
        """`n` continuations of `prompt` in one batch; each stops at eos (not included) or after
        max_new_tokens (at most block_size in all). `allowed` (bool, vocab) masks the tokens that may
        be drawn. Without the cache every step reruns the whole sequence: the reference for the
        cache. `fixed` and `denoise_steps` belong to the note-level model: a token model has no
        attributes to hold."""
        if fixed:
            raise ValueError("--fix holds note attributes: it needs a note-level model (tokenize with --tokenizer notes)")
        if not prompt:
            raise ValueError("empty prompt: it needs at least the bos token")
        device = next(self.parameters()).device
        limit = self.config.block_size
        if len(prompt) >= limit:
            raise ValueError(f"prompt of {len(prompt)} tokens leaves no room in block_size {limit}")
        max_new = min(max_new_tokens, limit - len(prompt))
        generator = torch.Generator(device=device).manual_seed(seed)
        bf16 = device.type == "cuda"
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
        was_training = self.training
        self.eval()
        idx = torch.tensor([prompt] * n, dtype=torch.long, device=device)
        cache = KVCache(self.config, n, len(prompt) + max_new, device, torch.bfloat16 if bf16 else torch.float32) \
            if use_cache else None
        done = torch.zeros(n, dtype=torch.bool, device=device)
        with autocast, sdpa_kernel(SAMPLING_BACKENDS):
            logits, _ = self(idx, cache=cache, start=0)
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
                    logits, _ = self(token[:, None], cache=cache, start=idx.shape[1] - 1)
                else:
                    logits, _ = self(idx)
        self.train(was_training)
        out = []
        for row in idx[:, len(prompt):].tolist():
            out.append(row[: row.index(eos_id)] if eos_id is not None and eos_id in row else row)
        return out

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float], device_type: str):
        """AdamW; matrices decay, norms do not."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device_type == "cuda")

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6 per parameter plus attention's scores and mixing (PaLM, app. B)."""
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layer * c.n_embd * seq_len


# cuDNN attention builds a plan per key length, i.e. per generated token: sampling leaves it out.
SAMPLING_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def filtered_logits(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """(B, V) logits scaled by the temperature (> 0) and cut to the top k values and the top-p
    probability mass (-inf elsewhere; the most likely value always stays)."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs > top_p  # values past the mass, the most likely always kept
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return logits


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One class index per row of (B, classes) probabilities (rows summing to about 1; zero
    entries are never drawn), as (B, 1): the inverse of each row's CDF at a uniform draw. Five times
    faster than torch.multinomial on CPU at sampling's small sizes, which the note-level model pays
    four times per note."""
    cdf = probs.cumsum(dim=-1)
    u = torch.rand((probs.shape[0], 1), generator=generator, device=probs.device, dtype=cdf.dtype)
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp(max=probs.shape[-1] - 1)


def pick_next(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
              generator: torch.Generator | None) -> torch.Tensor:
    """One token per row of (B, vocab) logits: greedy at temperature 0, else sampled from the
    temperature-scaled distribution cut to the top k tokens and the top-p probability mass."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = filtered_logits(logits, temperature, top_k, top_p).softmax(dim=-1)
    return draw(probs, generator).squeeze(-1)
