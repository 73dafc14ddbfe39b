"""`symcorpus demo` settings: where it writes, and the tiny training run it makes."""

from __future__ import annotations

from dataclasses import dataclass

from symcorpus.config.base import Section
from symcorpus.config.train import TrainSettings


@dataclass
class DemoSettings(Section):
    where = "demo"
    out: str = "data/demo"
    # After the build, `make demo` tokenizes, pretrains and fine-tunes a tiny model and samples.
    tokens: str = "data/demo_tokens"
    runs: str = "data/demo_runs"
    samples: str = "data/demo_samples"
    # abc: a character model of the folk tunes, which learns to write playable tunes in a few
    # hundred CPU steps; remi: every piece's notes (needs far longer training to sound like music).
    tokenizer: str = "abc"
    preset: str = "tiny"
    block_size: int = 256
    batch_size: int = 16
    pretrain_steps: int = 400
    finetune_steps: int = 100
    n_samples: int = 4
    max_new_tokens: int = 384
    prompt: str = 'key="D major" time_signature=4/4'
    use_ray: bool = True  # train through Ray Train (local); false = the same loop in this process

    def validate(self) -> None:
        self.check(self.tokenizer in ("abc", "remi"), "tokenizer", "must be abc or remi")
        for key in ("block_size", "batch_size", "pretrain_steps", "finetune_steps", "n_samples", "max_new_tokens"):
            self.check(getattr(self, key) >= 1, key, "must be at least 1")

    def train_settings(self, train: TrainSettings) -> TrainSettings:
        """`train` shrunk to the demo's tiny run (checkpoints halfway and at the end)."""
        return train.replace(preset=self.preset, block_size=self.block_size, batch_size=self.batch_size,
                             storage_path=self.runs, checkpoint_every=max(self.pretrain_steps // 2, 1),
                             warmup_steps=min(train.warmup_steps, self.pretrain_steps // 5))
