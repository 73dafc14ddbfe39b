"""Training settings (params.yaml `train:`): a handful of named values with presets, plain data so
they travel to Ray workers as a dict. `for_finetune()` is the one place fine-tuning's values replace
pretraining's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symcorpus.config.base import Section

# torch.compile's modes; "max-autotune-no-cudagraphs" benchmarks Triton matmul kernels against cuBLAS.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

# Model kinds (train/architectures.py): auto = the note-level model for note tokens, else the GPT.
MODEL_KINDS = ("auto", "gpt", "notes")

# Model shapes. Parameter counts are for a vocabulary of ~1,000 tokens (tied embeddings). The
# note-level model adds a one-layer attribute decoder a quarter as wide (+2% on `small`).
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 2, "n_head": 4, "n_embd": 128},  # ~0.5M: CPU demo and tests
    "small": {"n_layer": 8, "n_head": 8, "n_embd": 512},  # ~25M
    "base": {"n_layer": 12, "n_head": 12, "n_embd": 768},  # ~86M
}


@dataclass
class FinetuneSettings(Section):
    where = "train.finetune"
    """What changes for `train finetune`: a lower learning rate on the labelled subset."""

    learning_rate: float = 1e-4
    min_lr: float = 1e-5
    warmup_steps: int = 20
    max_steps: int = 2000  # counted on top of nothing: a fine-tune run starts at step 0
    min_quality: float | None = 0.5  # corpus quality_score threshold; null = every labelled piece
    require_labels: bool = True  # keep only pieces with at least one label set
    condition_dropout: float | None = 0.0  # null = the tokenizer's value; 0 = always conditioned
    balance: str | None = "instruments"  # condition family whose rare values are repeated; null = as pretraining
    # Hidden families while fine-tuning (null = as pretraining). Labels that always come together
    # (Palestrina, Renaissance, Choral, mass: every Voice Oohs piece) let a model ignore any one of
    # them; hiding each half the time makes each one count (BENCHMARKS.md, controllability).
    family_dropout: float | None = 0.5

    def validate(self) -> None:
        self.check(self.learning_rate > 0, "learning_rate", "must be above 0")
        self.check(self.max_steps >= 1, "max_steps", "must be at least 1")
        for key in ("condition_dropout", "family_dropout", "min_quality"):
            value = getattr(self, key)
            self.check(value is None or 0 <= value <= 1, key, f"must be between 0 and 1, not {value}")



@dataclass
class GenerateSettings(Section):
    where = "train.generate"
    n: int = 8
    max_new_tokens: int = 1024
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = 0.95
    seed: int = 0
    soundfont: str | None = None  # a GM .sf2; null = look in the usual places
    # Note-level model: decoder passes per note; each keeps the most confident share of the
    # attributes still masked (Amadeus decodes in a few steps).
    denoise_steps: int = 4

    def validate(self) -> None:
        self.check(self.n >= 1, "n", "must be at least 1")
        self.check(1 <= self.denoise_steps <= 8, "denoise_steps", "must be 1..8 (a note has 8 attributes)")
        self.check(self.max_new_tokens >= 1, "max_new_tokens", "must be at least 1")
        self.check(self.temperature >= 0, "temperature", "must be >= 0 (0 = greedy)")
        self.check(self.top_k is None or self.top_k >= 1, "top_k", "must be at least 1")
        self.check(self.top_p is None or 0 < self.top_p <= 1, "top_p", "must be in (0, 1]")



@dataclass
class EvaluateSettings(Section):
    where = "train.evaluate"
    n_condition_sets: int = 8  # drawn from the valid split's condition tokens
    samples_per_set: int = 8
    max_new_tokens: int = 1024

    def validate(self) -> None:
        for key in ("n_condition_sets", "samples_per_set", "max_new_tokens"):
            self.check(getattr(self, key) >= 1, key, "must be at least 1")


@dataclass
class PreferSettings(Section):
    """`train prefer`: NotaGen's CLaMP-DPO loop with our own reward. Each iteration samples
    samples_per_prompt pieces for each of `prompts` condition sets (the train split's most common,
    spread over time signatures), scores them (prompt adherence + quality rules - plagiarism), pairs
    the top chosen_share of each prompt's samples that pass the rules and copy nothing with its
    bottom share, and takes `steps` DPOP steps on those pairs against a frozen copy of the
    iteration's starting model."""

    where = "train.prefer"
    iterations: int = 3  # NotaGen's released model: 3
    prompts: int = 8
    samples_per_prompt: int = 16
    max_new_tokens: int = 256  # notes for the note-level model, tokens for the GPT
    temperature: float = 1.2  # NotaGen's sampling for DPO data
    top_k: int | None = 9
    top_p: float | None = 0.9
    chosen_share: float = 0.25  # per prompt: this share at the top is chosen, as much at the bottom rejected
    steps: int = 100  # DPOP steps per iteration
    pairs_per_step: int = 4
    beta: float = 0.1  # NotaGen's DPOP values
    dpop_lambda: float = 10.0
    learning_rate: float = 1e-6
    quality_weight: float = 0.5  # reward for passing every quality rule (adherence is 0..1)
    plagiarism_penalty: float = 1.0  # taken off the reward of a near-duplicate of a train piece
    plagiarism_threshold: float | None = None  # estimated Jaccard; null = the corpus' dedup.threshold

    def validate(self) -> None:
        for key in ("iterations", "prompts", "samples_per_prompt", "max_new_tokens", "steps", "pairs_per_step"):
            self.check(getattr(self, key) >= 1, key, "must be at least 1")
        self.check(0 < self.chosen_share <= 0.5, "chosen_share", "must be in (0, 0.5]")
        self.check(self.temperature > 0, "temperature", "must be above 0")
        self.check(self.top_k is None or self.top_k >= 1, "top_k", "must be at least 1")
        self.check(self.top_p is None or 0 < self.top_p <= 1, "top_p", "must be in (0, 1]")
        self.check(self.beta > 0 and self.dpop_lambda >= 0, "beta", "need beta > 0 and dpop_lambda >= 0")
        self.check(self.learning_rate > 0, "learning_rate", "must be above 0")
        self.check(self.plagiarism_threshold is None or 0 < self.plagiarism_threshold <= 1, "plagiarism_threshold",
                   "must be in (0, 1]")


@dataclass
class TrainSettings(Section):
    where = "train"
    preset: str = "small"
    model: str = "auto"  # auto | gpt | notes (MODEL_KINDS)
    block_size: int = 1024  # tokens per training sequence (T)
    batch_size: int = 32  # sequences per worker and step (B)
    learning_rate: float = 6e-4
    min_lr: float = 6e-5  # cosine decay ends here at max_steps
    warmup_steps: int = 200
    max_steps: int = 20000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    dropout: float = 0.0
    condition_dropout: float | None = None  # null = the tokenizer's condition_dropout
    family_dropout: float | None = None  # null = the tokenizer's family_dropout
    # Repeat-factor sampling (train/balance.py): a row whose value of the `balance` family (e.g.
    # instruments) has share f is seen clip(sqrt(balance_threshold / f), 1, balance_max_repeat) times
    # an epoch. null = every row once.
    balance: str | None = None
    balance_threshold: float = 0.25
    balance_max_repeat: float = 8.0
    # REMI augmentation (tokenizers/augment.py): each training row is transposed by up to this many
    # semitones and its tempo moved by up to this many tempo bins (x1.04 each), with its key and
    # tempo conditions moved too. 0 = off.
    augment_semitones: int = 0
    augment_tempo_bins: int = 0
    log_every: int = 10  # steps between ray.train.report of loss, lr, tokens/s
    checkpoint_every: int = 500  # steps between checkpoints (and validation)
    eval_batches: int = 20  # validation batches per worker at each checkpoint
    num_to_keep: int = 3  # checkpoints kept in storage_path/name
    max_failures: int = 2  # worker deaths survived by restarting from the last checkpoint
    num_workers: int = 1
    use_gpu: bool | None = None  # null = when CUDA is available
    cpus_per_worker: float = 1.0  # leave CPUs to Ray Data's read and pack tasks
    cpu_threads: int | None = None  # torch threads when training on CPU; null = torch's default
    compile: bool = True  # torch.compile on GPU (never on CPU)
    compile_mode: str = "default"  # torch.compile's mode, e.g. max-autotune-no-cudagraphs (tunes matmuls)
    dtype: str = "bf16"  # autocast dtype on GPU: bf16 | fp32
    seed: int = 0
    read_batch_rows: int = 256  # token-shard rows per Arrow batch when reading and packing
    shuffle_buffer_blocks: int = 256  # packed blocks held for shuffling
    storage_path: str = "data/runs"
    finetune: FinetuneSettings = field(default_factory=FinetuneSettings)
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    prefer: PreferSettings = field(default_factory=PreferSettings)

    def validate(self) -> None:
        from symcorpus.tokenizers.conditions import FAMILIES  # imported here: config stays light

        self.check(self.preset in PRESETS, "preset", f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        self.check(self.model in MODEL_KINDS, "model", f"must be one of {', '.join(MODEL_KINDS)}, not {self.model!r}")
        self.check(self.dtype in ("bf16", "fp32"), "dtype", f"must be bf16 or fp32, not {self.dtype!r}")
        self.check(self.compile_mode in COMPILE_MODES, "compile_mode",
                   f"must be one of {', '.join(COMPILE_MODES)}, not {self.compile_mode!r}")
        self.check(self.balance is None or self.balance in FAMILIES, "balance",
                   f"must be a condition family ({', '.join(FAMILIES)}), not {self.balance!r}")
        for key in ("condition_dropout", "family_dropout"):
            value = getattr(self, key)
            self.check(value is None or 0 <= value <= 1, key, f"must be between 0 and 1, not {value}")
        self.check(0 <= self.augment_semitones <= 11, "augment_semitones", "must be 0..11")
        self.check(self.augment_tempo_bins >= 0, "augment_tempo_bins", "must be at least 0")
        self.check(self.balance_threshold > 0, "balance_threshold", "must be above 0")
        self.check(self.balance_max_repeat >= 1, "balance_max_repeat", "must be at least 1")
        for key in ("block_size", "batch_size", "max_steps", "log_every", "checkpoint_every", "num_workers",
                    "eval_batches", "num_to_keep", "read_batch_rows"):
            self.check(getattr(self, key) >= 1, key, f"must be at least 1, not {getattr(self, key)}")
        self.check(self.learning_rate > 0, "learning_rate", "must be above 0")
        self.check(0 <= self.min_lr <= self.learning_rate, "min_lr", "must be in [0, learning_rate]")
        self.check(self.warmup_steps >= 0, "warmup_steps", "must be at least 0")

    def for_finetune(self) -> TrainSettings:
        """These settings with `finetune`'s values in place of pretraining's (the one merge)."""
        ft = self.finetune
        return self.replace(learning_rate=ft.learning_rate, min_lr=min(ft.min_lr, ft.learning_rate),
                            warmup_steps=ft.warmup_steps, max_steps=ft.max_steps, balance=ft.balance,
                            family_dropout=ft.family_dropout, condition_dropout=ft.condition_dropout)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        """Settings from `to_dict()`'s output (how they travel to Ray workers)."""
        data = dict(data)
        nested = {"finetune": FinetuneSettings, "generate": GenerateSettings, "evaluate": EvaluateSettings,
                  "prefer": PreferSettings}
        for name, kind in nested.items():
            if isinstance(data.get(name), dict):
                data[name] = kind(**data[name])
        return cls(**data)
