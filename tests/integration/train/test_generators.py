"""The three generators end to end on music21's Irish tunes (tiny preset, CPU, no Ray): the REMI
model and the note-level model trained by the one loop, sampling with held attributes and English
prompts through the CLI, and the preference stage with its plagiarism index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import symusic
import torch

from symcorpus.config import Settings, TrainSettings
from symcorpus.errors import UsageError
from symcorpus.sources.music21 import corpus_root
from symcorpus.testing.shards import IRISH_TUNES, corpus_from_files, irish_tunes
from symcorpus.tokenizers import load_tokenizer
from symcorpus.train import commands
from symcorpus.train.generate import load_run
from symcorpus.train.notes_model import NoteModel
from symcorpus.train.plagiarism import CorpusIndex

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


def tiny(storage: Path, **changes) -> TrainSettings:
    return TrainSettings(
        preset="tiny", block_size=96, batch_size=8, learning_rate=3e-3, min_lr=3e-4, warmup_steps=5,
        max_steps=60, log_every=20, checkpoint_every=30, eval_batches=4, storage_path=str(storage),
        cpu_threads=1, compile=False, use_gpu=False,
    ).replace(**changes)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("irish")


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def note_run(data, storage):
    return commands.pretrain(irish_tunes(data, "notes", 256), "notes", settings=tiny(storage), no_ray=True)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symcorpus.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_one_loop_trains_both_models_and_reports_loss_per_note(data, storage, note_run):
    losses = [h["loss"] for h in note_run.history]
    assert losses[-1] < losses[0]
    state = json.loads((note_run.checkpoint / "state.json").read_text())
    assert state["model"]["kind"] == "notes" and state["format"]["stride"] == 8
    remi = commands.pretrain(irish_tunes(data, "remi", 256), "remi", settings=tiny(storage, max_steps=30),
                             no_ray=True)
    for run in (note_run, remi):
        validated = [h for h in run.history if "val_loss" in h]
        assert validated and all(h["val_loss_per_note"] > 0 for h in validated)
    # A REMI note costs several tokens, so its loss per note is above its loss per token.
    assert remi.metrics["val_loss_per_note"] > 2 * remi.metrics["val_loss"]
    with pytest.raises(UsageError, match="cannot read remi tokens"):
        commands.pretrain(irish_tunes(data, "remi", 256), "wrong", settings=tiny(storage, model="notes"), no_ray=True)


def test_generate_holds_fixed_attributes_and_reads_english(note_run, tmp_path):
    done = cli("generate", "--checkpoint", str(note_run.run_dir), "--out", str(tmp_path), "--n", "3",
               "--max-new-tokens", "40", "--prompt", "a reel in D major for fiddle",
               "--fix", "instrument=Violin", "--fix", "velocity=80")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "samples.json").read_text())
    tok = load_tokenizer(note_run.run_dir / "tokenizer")
    same = tok.encode_prompt('genre=reel key="D major" instruments=Fiddle')
    assert summary["prompt_tokens"] == [tok.bos_id, *same, tok.sep_id]
    notes = [n for i in range(3) for t in symusic.Score.from_midi((tmp_path / f"sample_{i:02d}.mid").read_bytes()).tracks
             for n in [(t.program, t.is_drum, v.velocity) for v in t.notes]]
    assert notes and set(notes) == {(40, False, 79)}  # Violin, the velocity bin nearest 80

    unknown = cli("generate", "--checkpoint", str(note_run.run_dir), "--out", str(tmp_path / "x"),
                  "--prompt", "a reel with sparkle")
    assert unknown.returncode == 2 and "'sparkle'" in unknown.stderr and len(unknown.stderr.strip().splitlines()) == 1


def test_fixing_attributes_needs_a_note_level_run(data, storage, tmp_path):
    remi = commands.pretrain(irish_tunes(data, "remi", 256), "remi_fix", settings=tiny(storage, max_steps=2),
                             no_ray=True)
    with pytest.raises(UsageError, match="--fix holds note attributes"):
        commands.generate(str(remi.run_dir), None, 1, tmp_path, fix=["instrument=Violin"])
    with pytest.raises(UsageError, match="instrument=Theremin"):
        commands.generate(str(storage / "notes"), None, 1, tmp_path, fix=["instrument=Theremin"],
                          settings=tiny(storage))


def test_the_plagiarism_index_finds_training_pieces(data):
    irish_tunes(data, "notes", 256)
    corpus = data / "corpus_v1"
    index = CorpusIndex.from_corpus(corpus, "train")
    train = pq.read_table(corpus / "corpus" / "train").to_pylist()
    assert len(index.ids) == len(train)
    for row in train[:5]:
        match = index.nearest(row["score_midi"])
        assert match.id == row["id"] and match.similarity == 1.0
    score = symusic.Score.from_midi(train[0]["score_midi"]).shift_pitch(3)  # a transposed copy is a copy
    match = index.nearest(score.dumps_midi())
    assert match.id == train[0]["id"] and match.similarity >= index.settings.threshold
    valid = pq.read_table(corpus / "corpus" / "valid").to_pylist()
    assert all(index.nearest(r["score_midi"]).similarity < 1.0 for r in valid)


def test_the_preference_stage_trains_on_pairs_and_reports_every_iteration(data, storage, note_run):
    # The tunes again, as a corpus whose quality rules a barely trained model's samples can pass.
    settings = Settings()
    settings = settings.replace(
        split=settings.split.replace(train=0.7, valid=0.15, test=0.15),
        filter=settings.filter.replace(rules={"too_few_notes": {"min_notes": 4}, "too_short": {"min_seconds": 0.5},
                                              "too_few_bars": {"min_bars": 1}, "looped_bar": False}))
    lenient = corpus_from_files([corpus_root() / IRISH_TUNES], data / "lenient", settings)
    s = tiny(storage)
    s = s.replace(prefer=s.prefer.replace(iterations=1, prompts=2, samples_per_prompt=6, max_new_tokens=48,
                                          steps=4, pairs_per_step=2, learning_rate=1e-4))
    result = commands.prefer("notes", "notes_prefer", settings=s, corpus=lenient, device="cpu")
    lines = result.history
    assert [h["iteration"] for h in lines] == [0, 1] and lines[-1]["final"]
    first = lines[0]
    assert first["pairs"] > 0 and first["samples"] == 12
    assert {"dpop_loss_first", "dpop_loss_last", "implicit_reward_accuracy"} <= set(first)
    assert set(first["reward_quantiles"]) == {"min", "p10", "p25", "p50", "p75", "p90", "max"}
    assert sum(first["reward_histogram"].values()) == 12
    for h in lines:
        assert set(h["metrics"]) == {"CK", "CTS", "TB", "TBT", "CI"} and set(h["intervals_95"]) == set(h["metrics"])
    before = load_run(note_run.run_dir, "cpu").model.state_dict()
    after = load_run(result.run_dir, "cpu")
    assert isinstance(after.model, NoteModel)
    changed = [k for k, v in after.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed  # the DPOP steps moved the weights
    assert not any(np.isnan(v.numpy()).any() for v in after.model.state_dict().values())
