"""The note-level model (as Amadeus builds it): a causal transformer over notes, and a small
bidirectional decoder that fills in each note's 8 attributes by masked discrete diffusion.

A position is 8 ids (B, T, 8): a note's attribute ids (tokenizers/notes.py), or bos, sep, eos or a
condition token in the first slot with pad_id in the others. Its input is the sum of its ids'
embeddings (pad adds nothing). The trunk (the GPT's blocks: causal, rotary positions, KV cache)
turns position t into a context for position t + 1; the decoder reads [context, the 8 attribute
slots], every slot seeing every other, with a learned mask embedding in each slot not yet known, and
predicts each attribute from its own ids (tied to the embedding; the type attribute also has eos,
which ends a piece). Each slot also adds the embedding of the same attribute of the position before
(the note at t, or sep before the first note): most attributes repeat from note to note (tempo and
instrument nearly always), and through the trunk's narrowed context alone the decoder learnt to copy
them slowly; on the demo corpus, 600 steps of a 4-layer model reached 8.6 nats per note with it and
14.1 without. The type slot also adds the type of the latest bar line (the latest note that opened a
bar, which carries the time signature in force; before the first, the time signature the prompt
asks for): the note before is mostly "same bar", and without it sampled pieces changed time
signature every few bars. The type attribute's first value is "same
bar" (tokenizers/notes.py). The decoder is narrow (decoder_embd, a quarter of the trunk's width by
default): it runs over 9 slots several times per note, and at the trunk's width those passes would
cost more than the trunk itself, which is what makes a note-level model fast.

- Training (`forward`): each target note gets t ~ U(0, 1); each attribute is masked with
  probability p = (1 - eps) t + eps; the loss is the cross-entropy of the masked attributes divided
  by p, per attribute of the batch.
- Likelihood (`position_nll`): exact for one fixed order: attribute k is predicted with the
  attributes before it (ATTRIBUTES order) shown and the rest masked, and the 8 terms are summed.
- Sampling (`sample`): one trunk step per note; the note starts fully masked except the attributes
  held fixed, and over `denoise_steps` decoder passes the most confident drawn values are kept
  first, so holding an attribute (an instrument, a velocity) needs no retraining. All 8 attributes
  are scored and drawn in one batched product and one draw per pass.

Imports only PyTorch, like model.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel

from symcorpus.train.model import MLP, SAMPLING_BACKENDS, Block, KVCache, draw, filtered_logits, rope_tables

N_ATTRIBUTES = 8


@dataclass
class NoteConfig:
    vocab_size: int
    attributes: list[list[int]]  # [first id, number of values] per attribute, type first
    eos_id: int
    pad_id: int
    block_size: int = 1024  # positions (notes, bos, sep, eos and condition tokens)
    n_layer: int = 12  # trunk blocks
    n_head: int = 12
    n_embd: int = 768
    decoder_layers: int = 1
    decoder_embd: int = 0  # the decoder's width; 0 = n_embd // 4
    decoder_head: int = 0  # its attention heads; 0 = one per 32 channels
    dropout: float = 0.0
    rope_base: float = 10000.0
    mask_eps: float = 1e-3  # the smallest masking rate in training
    # [condition id, type id] pairs: a time-signature condition counts as a bar line of that time
    # signature before the piece, so the first note reads the metre asked for as later notes read
    # the metre in force (NoteVocab.opening_lines).
    opening_lines: list[list[int]] = field(default_factory=list)
    bos_id: int | None = None  # resets the bar line (None: configs saved before it was kept)
    kind: str = "notes"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Width:
    """What a block needs to know of its width (MLP reads these)."""

    n_embd: int
    n_head: int
    dropout: float = 0.0


def decoder_width(config: NoteConfig) -> Width:
    d = config.decoder_embd or max(32, config.n_embd // 4)
    return Width(d, config.decoder_head or max(1, d // 32), config.dropout)


class DecoderBlock(nn.Module):
    """A pre-norm transformer block without a causal mask or positions (slots carry their own
    embedding): over the 9 slots of one note."""

    def __init__(self, config: Width):
        super().__init__()
        self.n_head = config.n_head
        self.norm1 = nn.RMSNorm(config.n_embd)
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.norm2 = nn.RMSNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        N, S, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(N, S, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(y.transpose(1, 2).reshape(N, S, C))
        return x + self.mlp(self.norm2(x))


class NoteModel(nn.Module):
    def __init__(self, config: NoteConfig):
        super().__init__()
        if len(config.attributes) != N_ATTRIBUTES:
            raise ValueError(f"a note has {N_ATTRIBUTES} attributes, the config names {len(config.attributes)}")
        self.config = config
        d = config.n_embd
        # Sums a position's 8 embeddings in one kernel; pad_id is left out of the sum.
        self.embed = nn.EmbeddingBag(config.vocab_size, d, mode="sum", padding_idx=config.pad_id)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = nn.RMSNorm(d)
        width = decoder_width(config)
        self.dec_in = nn.Linear(d, width.n_embd, bias=False)  # context and attribute embeddings, narrowed
        self.mask_embed = nn.Parameter(torch.zeros(N_ATTRIBUTES, width.n_embd))
        self.slot_embed = nn.Parameter(torch.zeros(N_ATTRIBUTES + 1, width.n_embd))  # the context, then each slot
        self.decoder = nn.ModuleList(DecoderBlock(width) for _ in range(config.decoder_layers))
        self.dec_norm = nn.RMSNorm(width.n_embd)
        self.dec_out = nn.Linear(width.n_embd, d, bias=False)  # back to the embedding's width: tied heads
        cos, sin = rope_tables(d // config.n_head, config.block_size, config.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        # Each attribute's classes are its own ids (type: and eos), as rows of a padded table, so that
        # one batched product scores all 8; local[id] is an id's class index, owner[id] its attribute.
        sizes = [size + (1 if k == 0 else 0) for k, (_, size) in enumerate(config.attributes)]
        table = torch.full((N_ATTRIBUTES, max(sizes)), config.pad_id)
        owner, local = torch.full((config.vocab_size,), -1), torch.full((config.vocab_size,), -1)
        for k, (first, size) in enumerate(config.attributes):
            ids = list(range(first, first + size)) + ([config.eos_id] if k == 0 else [])
            table[k, : len(ids)] = torch.tensor(ids)
            owner[ids] = k
            local[ids] = torch.arange(len(ids))
        self.register_buffer("class_table", table, persistent=False)
        self.register_buffer("class_valid", torch.arange(max(sizes))[None, :] < torch.tensor(sizes)[:, None],
                             persistent=False)
        self.register_buffer("owner", owner, persistent=False)
        self.register_buffer("local", local, persistent=False)
        # A masked slot reads row vocab_size + k of the decoder's input table (its mask embedding).
        self.register_buffer("mask_ids", config.vocab_size + torch.arange(N_ATTRIBUTES), persistent=False)
        # line_of[id]: the bar line a first-slot id sets: itself for a bar-opening type (the type's
        # value 0 is "same bar"), the mapped type for a time-signature condition, pad_id (none) for
        # bos, which starts a new piece in a packed block; -1 for ids that change nothing.
        line_of = torch.full((config.vocab_size,), -1)
        first, size = config.attributes[0]
        line_of[first + 1 : first + size] = torch.arange(first + 1, first + size)
        for condition, kind in config.opening_lines:
            line_of[condition] = kind
        if config.bos_id is not None:
            line_of[config.bos_id] = config.pad_id
        self.register_buffer("line_of", line_of, persistent=False)
        self.apply(self._init_weights)
        nn.init.normal_(self.mask_embed, std=0.02)
        nn.init.normal_(self.slot_embed, std=0.02)
        for name, p in self.named_parameters():  # residual projections scaled by depth (GPT-2)
            if name.endswith(("attn.proj.weight", "mlp.down.weight")) or (name.startswith("decoder.")
                                                                         and name.endswith("proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding, nn.EmbeddingBag)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---------------------------------------------------------------------------------------------

    def trunk(self, idx, cache: KVCache | None = None, start: int = 0) -> torch.Tensor:
        """(B, T, 8) positions -> (B, T, n_embd) contexts for the next position."""
        B, T, S = idx.shape
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} positions is longer than block_size {self.config.block_size}")
        cos, sin = self.rope_cos[start : start + T], self.rope_sin[start : start + T]
        x = self.drop(self.embed(idx.reshape(B * T, S)).view(B, T, -1))
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache.layers[i] if cache is not None else None, start)
        return self.norm(x)

    def decoder_table(self) -> torch.Tensor:
        """(vocab_size + 8, decoder width): every token's embedding brought into the decoder's width
        (dec_in is linear: the same as narrowing each slot's embedding), then the 8 mask embeddings.
        Sampling makes it once per call."""
        return torch.cat([self.dec_in(self.embed.weight), self.mask_embed])

    def carried(self, idx) -> torch.Tensor:
        """(B, T, 9) what the decoder carries over from positions (B, T, 8): each position's own 8
        ids, then the bar line in force there: the type id of the latest note that opened a bar, or
        before the first the time signature condition's (pad_id where there is none)."""
        sets = self.line_of[idx[..., 0].clamp(min=0)]
        t = torch.arange(sets.shape[-1], device=idx.device).expand_as(sets)
        latest = torch.where(sets >= 0, t, -1).cummax(dim=-1).values
        line = torch.where(latest >= 0, sets.gather(-1, latest.clamp(min=0)), self.config.pad_id)
        return torch.cat([idx, line[..., None]], dim=-1)

    def next_line(self, line, first_ids) -> torch.Tensor:
        """The bar line after positions whose first ids are `first_ids` (N,), given the line `line`
        (N,) before them: carried() one position at a time, for sampling."""
        sets = self.line_of[first_ids.clamp(min=0)]
        return torch.where(sets >= 0, sets, line)

    def decode(self, context, values, masked, previous, table: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 8, n_embd) decoder outputs for contexts (N, n_embd) and attribute ids (N, 8), the
        slots where `masked` (N, 8) is set shown as masked; `previous` (N, 9): carried() of the
        position before (where the context was read). `table`: decoder_table(), when at hand."""
        table = self.decoder_table() if table is None else table
        return self.dec_out(self.decode_narrow(self.dec_in(context), values, masked, previous, table))

    def decode_narrow(self, narrowed, values, masked, previous, table: torch.Tensor) -> torch.Tensor:
        """decode() before its last projection, from contexts already narrowed by dec_in: (N, 8,
        decoder width). Sampling narrows a note's context once for all its passes."""
        before = F.embedding(previous, table)
        slots = F.embedding(torch.where(masked, self.mask_ids, values), table) + before[:, :N_ATTRIBUTES]
        slots = torch.cat([slots[:, :1] + before[:, N_ATTRIBUTES:], slots[:, 1:]], dim=1)  # the bar line: type
        x = torch.cat([narrowed[:, None].to(slots.dtype), slots], dim=1) + self.slot_embed.to(slots.dtype)
        for block in self.decoder:
            x = block(x)
        return self.dec_norm(x[:, 1:])

    def class_weights(self) -> torch.Tensor:
        """(8, n_embd, classes): each attribute's class embeddings, laid out for a batched product
        (padded columns are never scored)."""
        return self.embed.weight[self.class_table].transpose(1, 2).contiguous()

    def narrow_class_weights(self) -> torch.Tensor:
        """(8, decoder width, classes): class_weights() with dec_out folded in (both are linear), so
        that sampling scores decode_narrow()'s outputs directly: a product a quarter the size and one
        projection fewer per pass. Sampling makes it once per call."""
        return (self.embed.weight[self.class_table] @ self.dec_out.weight).transpose(1, 2).contiguous()

    def logits(self, h, weights: torch.Tensor | None = None, attributes: slice = slice(None)) -> torch.Tensor:
        """(N, A, classes) scores of the classes of `attributes` (all 8 by default; -inf past an
        attribute's own) from decoder outputs (N, A, n_embd), in one batched product."""
        weights = (self.class_weights() if weights is None else weights)[attributes]
        scores = torch.bmm(h.transpose(0, 1), weights.to(h.dtype)).transpose(0, 1)
        return scores.float().masked_fill(~self.class_valid[attributes], float("-inf"))

    def _targets(self, targets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The target positions that are notes or eos (B, T), their ids (N, 8) and each attribute's
        class index (N, 8; -1 where the position has none: eos's attributes, padding)."""
        first = targets[..., 0]
        rows = (first >= 0) & (self.owner[first.clamp(min=0)] == 0)
        ids = targets[rows]
        safe = ids.clamp(min=0)
        mine = (ids >= 0) & (self.owner[safe] == torch.arange(N_ATTRIBUTES, device=ids.device))
        return rows, safe, torch.where(mine, self.local[safe], -1)

    def forward(self, idx, targets=None, cache: KVCache | None = None, start: int = 0):
        """Contexts (B, T, n_embd); with `targets` (B, T, 8), also the masked-diffusion loss."""
        h = self.trunk(idx, cache, start)
        if targets is None:
            return h, None
        rows, ids, local = self._targets(targets)
        ignored = local < 0
        if ids.shape[0] == 0:
            return h, h.sum() * 0.0
        n = ids.shape[0]
        rate = (1 - self.config.mask_eps) * torch.rand(n, 1, device=h.device) + self.config.mask_eps
        masked = torch.rand(n, N_ATTRIBUTES, device=h.device) < rate
        logits = self.logits(self.decode(h[rows], ids, masked | ignored, self.carried(idx)[rows]))
        scored = masked & ~ignored
        ce = F.cross_entropy(logits.flatten(0, 1), local.clamp(min=0).flatten(), reduction="none").view(n, -1)
        return h, (ce * scored / rate).sum() / (~ignored).sum().clamp(min=1)

    def position_nll(self, idx, targets) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) negative log-likelihood of each target note or eos, attribute by attribute in
        ATTRIBUTES order (the earlier shown, the later masked), and whether the position counts."""
        h = self.trunk(idx)
        rows, ids, local = self._targets(targets)
        ignored = local < 0
        nll = torch.zeros(ids.shape[0], device=h.device)
        later = torch.ones(N_ATTRIBUTES, dtype=torch.bool, device=h.device)
        context, previous, weights, table = h[rows], self.carried(idx)[rows], self.class_weights(), self.decoder_table()
        for k in range(N_ATTRIBUTES):
            later[:k] = False
            out = self.decode(context, ids, later[None, :] | ignored, previous, table)
            logits = self.logits(out[:, k : k + 1], weights, slice(k, k + 1))[:, 0]
            ce = F.cross_entropy(logits, local[:, k].clamp(min=0), reduction="none")
            nll = nll + ce * ~ignored[:, k]
        full = torch.zeros(rows.shape, device=h.device)
        full[rows] = nll
        return full, rows

    # ---------------------------------------------------------------------------------------------
    # Sampling

    def fill(self, context, previous, fixed: dict[int, int], steps: int, temperature: float, top_k: int | None,
             top_p: float | None, generator: torch.Generator | None,
             tables: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """One note per context (N, n_embd), after the positions `previous` (N, 9; carried()), as
        (N, 8) ids: the attributes in `fixed` (attribute index -> id) held, the others drawn over
        `steps` decoder passes, the most confident kept first (a near-equal share each pass).
        `tables`: (narrow_class_weights(), decoder_table()), when at hand."""
        n, device = context.shape[0], context.device
        weights, table = tables if tables is not None else (self.narrow_class_weights(), self.decoder_table())
        narrowed = self.dec_in(context)
        values = torch.full((n, N_ATTRIBUTES), self.config.pad_id, dtype=torch.long, device=device)
        known = torch.zeros(n, N_ATTRIBUTES, dtype=torch.bool, device=device)
        for k, token in fixed.items():
            values[:, k], known[:, k] = token, True
        done = len(fixed)  # the same in every row: each keeps `keep` a pass
        for step in range(steps):
            left = N_ATTRIBUTES - done
            if left == 0:
                break
            keep = math.ceil(left / (steps - step))
            done += keep
            out = self.decode_narrow(narrowed, values, ~known, previous, table)
            logits = self.logits(out, weights).flatten(0, 1)  # (N * 8, classes)
            if temperature <= 0:
                probs = logits.softmax(dim=-1)
                choice = probs.argmax(dim=-1, keepdim=True)
            else:
                probs = filtered_logits(logits, temperature, top_k, top_p).softmax(dim=-1)
                choice = draw(probs, generator)
            confidence = probs.gather(1, choice).view(n, N_ATTRIBUTES).masked_fill(known, float("-inf"))
            drawn = self.class_table.gather(1, choice.view(n, N_ATTRIBUTES).T).T
            chosen = confidence.topk(keep, dim=1).indices
            values.scatter_(1, chosen, drawn.gather(1, chosen))
            known.scatter_(1, chosen, True)
        return values

    @torch.no_grad()
    def sample(self, prompt: list[int], n: int, max_new_tokens: int, *, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, eos_id: int | None = None,
               allowed: torch.Tensor | None = None, seed: int = 0, use_cache: bool = True,
               fixed: dict[int, int] | None = None, denoise_steps: int | None = None) -> list[list[int]]:
        """`n` pieces continuing `prompt` (bos, condition and sep ids, one position each), at most
        max_new_tokens notes each (and block_size positions in all), as flat note ids (8 per note,
        eos not included). `fixed` holds attributes (index -> id) in every note; `denoise_steps`
        decoder passes per note (default 4). `eos_id` and `allowed` are the token model's: here the
        type attribute draws eos and every attribute draws only its own ids."""
        del eos_id, allowed
        if not prompt:
            raise ValueError("empty prompt: it needs at least the bos token")
        c = self.config
        steps = max(1, min(denoise_steps or 4, N_ATTRIBUTES))
        fixed = dict(fixed or {})
        for k, token in fixed.items():
            first, size = c.attributes[k] if 0 <= k < N_ATTRIBUTES else (0, 0)
            if not first <= token < first + size:
                raise ValueError(f"fixed value {token} is not an id of attribute {k}")
        device = next(self.parameters()).device
        if len(prompt) >= c.block_size:
            raise ValueError(f"prompt of {len(prompt)} positions leaves no room in block_size {c.block_size}")
        max_new = min(max_new_tokens, c.block_size - len(prompt))
        generator = torch.Generator(device=device).manual_seed(seed)
        bf16 = device.type == "cuda"
        was_training = self.training
        self.eval()
        head = torch.full((n, len(prompt), N_ATTRIBUTES), c.pad_id, dtype=torch.long, device=device)
        head[:, :, 0] = torch.tensor(prompt, device=device)
        cache = KVCache(c, n, len(prompt) + max_new, device, torch.bfloat16 if bf16 else torch.float32) \
            if use_cache else None
        eos_row = torch.full((N_ATTRIBUTES,), c.pad_id, dtype=torch.long, device=device)
        eos_row[0] = c.eos_id
        done = torch.zeros(n, dtype=torch.bool, device=device)
        rows: list[torch.Tensor] = []
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16), sdpa_kernel(SAMPLING_BACKENDS):
            tables = (self.narrow_class_weights(), self.decoder_table())
            context, previous = self.trunk(head, cache, 0)[:, -1], self.carried(head)[:, -1]
            for step in range(max_new):
                row = self.fill(context, previous, fixed, steps, temperature, top_k, top_p, generator, tables)
                ended = done | (row[:, 0] == c.eos_id)
                row = torch.where(ended[:, None], eos_row, row)
                done = ended
                previous = torch.cat([row, self.next_line(previous[:, -1], row[:, 0])[:, None]], dim=1)
                rows.append(row)
                if bool(done.all()) or step == max_new - 1:
                    break
                if use_cache:
                    context = self.trunk(row[:, None], cache, len(prompt) + step)[:, -1]
                else:
                    context = self.trunk(torch.cat([head, torch.stack(rows, dim=1)], dim=1))[:, -1]
        self.train(was_training)
        out = []
        for notes in torch.stack(rows, dim=1).tolist() if rows else [[] for _ in range(n)]:
            kept = []
            for note in notes:
                if note[0] == c.eos_id:
                    break
                kept += note
            out.append(kept)
        return out

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float], device_type: str):
        """AdamW; matrices decay, norms do not (as the GPT's)."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device_type == "cuda")
