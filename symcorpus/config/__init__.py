"""params.yaml read into typed settings. Every default lives in this package; params.yaml overrides.

    load_settings(path)            Settings from params.yaml (defaults when path is None)
    settings.<section>.replace()   the one way to override values (CLI flags, fine-tuning, demo)

An unknown key, a value of the wrong type or out of range is a SettingsError naming the key
(`train.preset: unknown preset 'huge'; ...`), which the CLI prints as one line with exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from symcorpus.config.base import Section, SettingsError, from_mapping
from symcorpus.config.demo import DemoSettings
from symcorpus.config.pipeline import (DEDUP_LEVELS, DedupSettings, FilterSettings, IngestSettings, Music21Settings,
                                       PublishSettings, SparkSettings, SplitSettings)
from symcorpus.config.tokenize import TokenizeSettings
from symcorpus.config.train import (COMPILE_MODES, MODEL_KINDS, PRESETS, EvaluateSettings, FinetuneSettings,
                                    GenerateSettings, PreferSettings, TrainSettings)

__all__ = [
    "COMPILE_MODES", "DEDUP_LEVELS", "PRESETS", "DedupSettings", "DemoSettings", "EvaluateSettings", "FilterSettings",
    "FinetuneSettings", "GenerateSettings", "IngestSettings", "MODEL_KINDS", "Music21Settings", "PreferSettings",
    "PublishSettings", "Section",
    "Settings", "SettingsError", "SparkSettings", "SplitSettings", "TokenizeSettings", "TrainSettings",
    "default_params", "load_settings",
]

DEFAULT_PARAMS = Path("params.yaml")


@dataclass
class Settings(Section):
    where = "params"
    spark: SparkSettings = field(default_factory=SparkSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    filter: FilterSettings = field(default_factory=FilterSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    tokenize: TokenizeSettings = field(default_factory=TokenizeSettings)
    train: TrainSettings = field(default_factory=TrainSettings)


def default_params(path: str | Path | None) -> Path | None:
    """An explicit params file, else ./params.yaml when there is one, else None (the defaults)."""
    if path is not None:
        return Path(path)
    return DEFAULT_PARAMS if DEFAULT_PARAMS.is_file() else None


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from a params.yaml (or the defaults when `path` is None), validated."""
    if path is None:
        settings = Settings()
    else:
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"params file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise SettingsError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        settings = from_mapping(Settings, data, "params")
    settings.validate_all()
    return settings
