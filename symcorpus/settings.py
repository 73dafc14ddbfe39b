"""params.yaml read into typed settings. Every default lives here; params.yaml overrides them.

An unknown key is an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from symcorpus.music.parse import Limits
from symcorpus.tokenizers.config import TokenizeSettings
from symcorpus.train.config import TrainSettings


class SettingsError(ValueError):
    pass


@dataclass
class SparkSettings:
    master: str = "local[*]"
    driver_memory: str = "4g"
    # Records per Arrow batch handed to the parse function: bounds worker memory for big files.
    arrow_batch_size: int = 256
    conf: dict[str, str] = field(default_factory=dict)  # any extra spark.* settings


@dataclass
class Music21Settings:
    """Which part of music21's bundled corpus the source `music21` stands for."""

    formats: list[str] = field(default_factory=lambda: ["abc", "musicxml", "humdrum"])
    # At most this many files per format, spread evenly over the sorted list; null = all.
    max_files: dict[str, int | None] = field(default_factory=dict)


@dataclass
class IngestSettings:
    max_bytes: int = 32 * 2**20
    max_notes: int = 2_000_000
    subprocess_timeout_s: float = 20.0
    parse_timeout_s: float = 60.0
    strict_midi: bool = True
    # Partitions are packed by estimated parse cost; these bound one partition's share.
    max_units_per_partition: int = 4000
    min_partitions_per_core: int = 2
    # Parse cache: earlier builds' parses reused by content hash (pipeline/cache.py); null = off.
    cache_dir: str | None = None
    music21: Music21Settings = field(default_factory=Music21Settings)

    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.max_bytes,
            max_notes=self.max_notes,
            subprocess_timeout_s=self.subprocess_timeout_s,
            parse_timeout_s=self.parse_timeout_s,
            strict_midi=self.strict_midi,
        )


@dataclass
class DedupSettings:
    """Three levels: exact (always), notes and near. See README "Deduplication" for the defaults."""

    levels: list[str] = field(default_factory=lambda: ["exact", "notes", "near"])
    transpose_invariant: bool = True  # `notes` level: a transposed copy has the same notes
    grid: int = 48  # `notes` level: onsets and durations rounded to 1/48 quarter
    shingle_size: int = 4  # `near` level: tokens per shingle (pitch interval + onset ratio)
    bands: int = 80
    rows: int = 3  # bands x rows = MinHash permutations; centre of the S-curve ~ (1/bands)^(1/rows)
    threshold: float = 0.35  # estimated Jaccard a candidate pair needs to become an edge
    seed: int = 1
    max_bucket_size: int = 64  # larger LSH buckets are joined as stars, not all pairs
    max_iterations: int = 30  # connected-components rounds before giving up

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


@dataclass
class FilterSettings:
    """Quality rules (symcorpus/music/quality.py): thresholds per rule, then overrides per source
    name; a rule set to false is off. Unset rules keep quality.DEFAULT_RULES."""

    rules: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def active(self, source: str) -> dict[str, dict[str, Any]]:
        from symcorpus.music.quality import rules_for

        return rules_for(self.rules, self.sources.get(source))


@dataclass
class SplitSettings:
    train: float = 0.98
    valid: float = 0.01
    test: float = 0.01
    seed: str = "symcorpus"  # mixed into the split hash; change it to draw other splits

    def ratios(self) -> dict[str, float]:
        return {"train": self.train, "valid": self.valid, "test": self.test}


@dataclass
class PublishSettings:
    shard_bytes: int = 128 * 2**20
    compression: str = "zstd"


@dataclass
class DemoSettings:
    out: str = "data/demo"
    # After the build, `make demo` tokenizes, pretrains and fine-tunes a tiny model and samples.
    tokens: str = "data/demo_tokens"
    runs: str = "data/demo_runs"
    samples: str = "data/demo_samples"
    preset: str = "tiny"
    block_size: int = 256
    batch_size: int = 16
    pretrain_steps: int = 200
    finetune_steps: int = 60
    n_samples: int = 4
    max_new_tokens: int = 384
    prompt: str = 'key="D major" time_signature=4/4'
    use_ray: bool = True  # train through Ray Train (local); false = the same loop in this process


@dataclass
class Settings:
    spark: SparkSettings = field(default_factory=SparkSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    filter: FilterSettings = field(default_factory=FilterSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    tokenize: TokenizeSettings = field(default_factory=TokenizeSettings)
    train: TrainSettings = field(default_factory=TrainSettings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise SettingsError(f"{where or 'params'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SettingsError(f"{where or 'params'}: unknown key(s) {', '.join(unknown)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value or {}, f"{where}.{name}".lstrip("."))
        else:
            values[name] = value
    return cls(**values)


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from a params.yaml (or the defaults when `path` is None)."""
    if path is None:
        return Settings()
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"params file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    settings = _build(Settings, data, "")
    unknown_levels = set(settings.dedup.levels) - {"exact", "notes", "near"}
    if unknown_levels:
        raise SettingsError(f"dedup.levels: unknown level(s) {', '.join(sorted(unknown_levels))}")
    try:
        for source in [None, *settings.filter.sources]:
            settings.filter.active(source)
    except ValueError as e:
        raise SettingsError(f"filter: {e}") from None
    try:
        settings.tokenize.validate()
    except ValueError as e:
        raise SettingsError(f"tokenize: {e}") from None
    total = sum(settings.split.ratios().values())
    if abs(total - 1.0) > 1e-9:
        raise SettingsError(f"split ratios must add up to 1, they add up to {total:g}")
    return settings
