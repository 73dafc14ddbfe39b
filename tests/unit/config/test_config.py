"""params.yaml into settings: every bad value is a SettingsError naming its key; `replace` is the one
override path and validates too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from symcorpus.config import SettingsError, TrainSettings, load_settings
from symcorpus.errors import UsageError

REPO = Path(__file__).resolve().parents[3]


def load(tmp_path: Path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return load_settings(path)


@pytest.mark.parametrize("text, message", [
    ("train: {preset: huge}", "train.preset: unknown preset 'huge'"),
    ("train: {max_steps: many}", "train.max_steps: expected int, got 'many'"),
    ("train: {learning_rate: -1}", "train.learning_rate: must be above 0"),
    ("train: {finetune: {max_steps: 0}}", "train.finetune.max_steps: must be at least 1"),
    ("train: {generate: {top_p: 2}}", "train.generate.top_p: must be in (0, 1]"),
    ("train: {model: rnn}", "train.model: must be one of auto, gpt, notes, not 'rnn'"),
    ("train: {generate: {denoise_steps: 9}}", "train.generate.denoise_steps: must be 1..8"),
    ("train: {prefer: {chosen_share: 0.8}}", "train.prefer.chosen_share: must be in (0, 0.5]"),
    ("dedup: {levels: [exact, fuzzy]}", "dedup.levels: unknown level(s) fuzzy"),
    ("dedup: {threshold: 0}", "dedup.threshold: must be in (0, 1]"),
    ("split: {train: 0.5}", "split: ratios must add up to 1, they add up to 0.52"),
    ("tokenize: {grid: 0}", "tokenize.grid: must be at least 1"),
    ("tokenize: {durations: [[0, 4, 8]]}", "tokenize.durations: 8 divisions do not divide the grid 12"),
    ("filter: {rules: {too_short: {max_secs: 3}}}", "unknown threshold(s) max_secs"),
    ("filter: {rules: {no_such_rule: true}}", "unknown filter rule 'no_such_rule'"),
    ("ingest: {music21: {formats: [abc, pdf]}}", "ingest.music21.formats: unknown format(s) pdf"),
    ("ingest: {max_byts: 10}", "ingest: unknown key(s) max_byts"),
    ("spark: [local]", "spark: expected a mapping, got list"),
    ("demo: {use_ray: maybe}", "demo.use_ray: expected bool, got 'maybe'"),
    ("nonsense: 1", "params: unknown key(s) nonsense"),
    ("train: {preset: [tiny", "not valid YAML"),
])
def test_every_bad_value_names_its_key(tmp_path, text, message):
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, UsageError)  # the CLI prints it as one line, exit code 2


def test_yaml_numbers_are_read_as_meant(tmp_path):
    settings = load(tmp_path, "train: {learning_rate: 3e-4, max_steps: 100.0}\ndedup: {threshold: 1}\n")
    assert settings.train.learning_rate == 3e-4 and settings.train.max_steps == 100
    assert isinstance(settings.train.max_steps, int) and settings.dedup.threshold == 1


def test_the_project_params_load(tmp_path):
    settings = load_settings(REPO / "params.yaml")
    assert settings.train.preset in ("tiny", "small", "base") and settings.dedup.levels == ["exact", "notes", "near"]


def test_replace_ignores_options_not_given_and_validates():
    base = TrainSettings()
    changed = base.replace(preset="tiny", max_steps=None, batch_size=4)
    assert (changed.preset, changed.max_steps, changed.batch_size) == ("tiny", base.max_steps, 4)
    assert base.preset == "small"  # a copy: the original is unchanged
    with pytest.raises(SettingsError, match="train.batch_size: must be at least 1"):
        base.replace(batch_size=0)
    with pytest.raises(SettingsError, match="train: unknown key"):
        base.replace(bath_size=4)
    with pytest.raises(SettingsError, match="train.max_steps: expected int"):
        base.replace(max_steps="ten")


def test_finetune_values_replace_pretraining_ones_in_one_place(tmp_path):
    settings = load(tmp_path, "train:\n  learning_rate: 0.001\n  balance: key\n"
                              "  finetune: {learning_rate: 0.0002, min_lr: 0.5, max_steps: 7, balance: null}\n")
    ft = settings.train.for_finetune()
    assert (ft.learning_rate, ft.max_steps) == (0.0002, 7)
    assert ft.min_lr == 0.0002  # never above the learning rate
    assert ft.balance == "key"  # null in finetune: as pretraining
    assert ft.family_dropout == 0.5 and ft.condition_dropout == 0.0


def test_demo_shrinks_training_through_replace():
    settings = load_settings(None)
    train = settings.demo.train_settings(settings.train)
    assert (train.preset, train.block_size, train.storage_path) == ("tiny", 256, "data/demo_runs")
    assert train.checkpoint_every == settings.demo.pretrain_steps // 2


def test_cli_prints_a_bad_value_as_one_line(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  preset: huge\n")
    proc = subprocess.run([sys.executable, "-m", "symcorpus.cli", "train", "pretrain", "--tokens", str(tmp_path),
                           "--name", "x", "--params", str(params)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["error: train.preset: unknown preset 'huge'; choose one of tiny, small, base"], proc.stderr
