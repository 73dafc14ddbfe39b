"""Training, resuming, sampling and evaluation on real token shards: music21's Irish folk tunes,
parsed and annotated into a corpus and tokenized with REMI by the pipeline's own functions (in this
process: Spark is not what these tests test), then the tiny preset on CPU."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import symusic
import torch

from symcorpus.config import TrainSettings
from symcorpus.errors import UsageError
from symcorpus.testing.shards import irish_tunes, token_shards
from symcorpus.tokenizers import TokenizeSettings, load_tokenizer
from symcorpus.train import commands
from symcorpus.tokenizers.augment import Augmentation
from symcorpus.train.balance import repeat_factors
from symcorpus.train.data import (SequenceFormat, balanced_rows, dropped_slots, examples_stream, iter_blocks,
                                  keep_conditions, labelled_ids, pack_batch, ray_dataset, shard_files,
                                  start_epoch_clock)
from symcorpus.train.evaluate import checks, format_table, tempo_order
from symcorpus.train.generate import load_run, music_mask, prompt_tokens, sample
from symcorpus.train.model import KVCache, apply_rope, rope_tables
from symcorpus.train.ray_connect import STATE_API_WARNING, connect_ray
from symcorpus.train.runner import train

# Two shared cores: one torch thread runs a tiny model many times faster than two that fight.
torch.set_num_threads(1)


def session_tokens(tmp_path_factory) -> Path:
    """REMI token shards of the Irish tunes (corpus beside them), made once per test session."""
    return irish_tunes(tmp_path_factory.getbasetemp() / "train_data")


def tiny_settings(storage: Path, **changes) -> TrainSettings:
    return TrainSettings(
        preset="tiny", block_size=64, batch_size=8, learning_rate=3e-3, min_lr=3e-4, warmup_steps=5,
        max_steps=40, log_every=10, checkpoint_every=20, eval_batches=4, storage_path=str(storage),
        cpu_threads=1, compile=False, use_gpu=False, cpus_per_worker=1.0,
    ).replace(**changes)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    return session_tokens(tmp_path_factory)


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def pretrained(tokens, storage):
    return commands.pretrain(tokens, "pre", settings=tiny_settings(storage), no_ray=True)


# --------------------------------------------------------------------------------------------------
# Data


def test_packed_blocks_are_the_examples_end_to_end(tokens):
    tok = load_tokenizer(tokens)
    fmt = SequenceFormat.of(tok, 0.0, 0.0)  # no condition or family dropout: the stream is the rows
    files = shard_files(tokens, "train")
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    expected = [t for r in rows for t in [tok.bos_id, *r["conditions"], tok.sep_id, *r["tokens"], tok.eos_id]]
    blocks = np.stack(list(iter_blocks(files, fmt, 64, shuffle=False)))
    assert blocks.shape[1] == 65
    assert (blocks[1:, 0] == blocks[:-1, -1]).all()  # each block starts with the last one's end
    stitched = np.concatenate([blocks[0], blocks[1:, 1:].ravel()])
    assert stitched[: len(expected)].tolist() == expected
    assert (stitched[len(expected):] == tok.pad_id).all() and len(stitched) - len(expected) < 64  # the tail

    # Ray Data's map_batches function packs a batch the same way (its tail padded on its own).
    table = pq.read_table(files[0])
    packed = pack_batch(table, fmt.to_dict(), 64, seed=0)["block"]
    flat = np.concatenate([packed[0], packed[1:, 1:].ravel()])
    mine = examples_stream(table, fmt, np.ones(table.num_rows, dtype=bool))
    assert flat[: len(mine)].tolist() == mine.tolist() and (flat[len(mine):] == tok.pad_id).all()

    # Shuffled epochs hold the same blocks in another order, and differ from epoch to epoch.
    epoch0 = list(iter_blocks(files, fmt, 64, epoch=0, shuffle=True, shuffle_buffer=16))
    epoch1 = list(iter_blocks(files, fmt, 64, epoch=1, shuffle=True, shuffle_buffer=16))
    assert len(epoch0) == len(epoch1)
    assert [b.tolist() for b in epoch0] != [b.tolist() for b in epoch1]


def test_condition_dropout_is_a_deterministic_rate(tokens):
    table = pq.read_table(shard_files(tokens, "train"))
    ids, chunks = table.column("id").combine_chunks(), table.column("chunk").combine_chunks()
    keep = keep_conditions(ids, chunks, 0.5, seed=0, epoch=0)
    assert keep.tolist() == keep_conditions(ids, chunks, 0.5, seed=0, epoch=0).tolist()
    assert 0.3 < keep.mean() < 0.7
    assert keep.tolist() != keep_conditions(ids, chunks, 0.5, seed=0, epoch=1).tolist()
    assert keep_conditions(ids, chunks, 0.0, 0, 0).all() and not keep_conditions(ids, chunks, 1.0, 0, 0).any()
    fmt = SequenceFormat(10, 0, 1, 2, 3)
    stream = examples_stream(table, fmt, np.zeros(table.num_rows, dtype=bool))
    assert stream.size == sum(n + 3 for n in table.column("n_tokens").to_pylist())  # [bos][sep]...[eos]


def test_family_dropout_shows_whole_families_as_unknown(tokens):
    tok = load_tokenizer(tokens)
    assert SequenceFormat.of(tok).family_dropout == tok.family_dropout > 0
    table = pq.read_table(shard_files(tokens, "train"))
    ids, chunks = table.column("id").combine_chunks(), table.column("chunk").combine_chunks()
    fmt = SequenceFormat.of(tok, 0.0, 0.3)
    dropped = dropped_slots(ids, chunks, fmt, seed=0, epoch=0)
    assert dropped.tolist() == dropped_slots(ids, chunks, fmt, seed=0, epoch=0).tolist()
    assert dropped.tolist() != dropped_slots(ids, chunks, fmt, seed=0, epoch=1).tolist()
    family_of = np.asarray(fmt.slot_family)
    for f in np.unique(family_of):  # the instrument slots go together
        cols = dropped[:, family_of == f]
        assert (cols == cols[:, :1]).all()
    first_slots = dropped[:, np.unique(family_of, return_index=True)[1]]
    assert 0.2 < first_slots.mean() < 0.4
    assert dropped_slots(ids, chunks, SequenceFormat.of(tok, 0.0, 0.0), 0, 0) is None

    # The stream holds each dropped slot as its family's unknown token and every other token as it was.
    rows = table.to_pylist()
    expected = []
    for r, row in enumerate(rows):
        assert len(row["conditions"]) == len(fmt.slot_unknown)
        shown = [fmt.slot_unknown[k] if dropped[r, k] else c for k, c in enumerate(row["conditions"])]
        expected += [tok.bos_id, *shown, tok.sep_id, *row["tokens"], tok.eos_id]
    keep = np.ones(table.num_rows, dtype=bool)
    assert examples_stream(table, fmt, keep, dropped).tolist() == expected
    assert examples_stream(table, fmt, keep).tolist() != expected


def _time_signature_factors(tokens, threshold=0.2, max_repeat=3.0):
    tok = load_tokenizer(tokens)
    return repeat_factors(shard_files(tokens, "train"), tok.conditions, "time_signature", threshold, max_repeat)


def test_rare_condition_values_are_repeated_by_their_factor(tokens):
    table = pq.read_table(shard_files(tokens, "train"))
    factors = _time_signature_factors(tokens)
    slot = factors.slots[0]
    counts = Counter(c[slot] for c in table.column("conditions").to_pylist())
    n = table.num_rows
    want = {(v,): min(3.0, math.sqrt(0.2 * n / c)) for v, c in counts.items() if 0.2 * n / c > 1}
    assert 0 < len(want) < len(counts)  # the common metres stay at one copy
    assert dict(zip(factors.values, factors.repeats)) == pytest.approx(want)
    per_row = factors.of_rows(table.column("conditions"))
    assert per_row.tolist() == [want.get((c[slot],), 1.0) for c in table.column("conditions").to_pylist()]

    # One epoch holds floor(r) or ceil(r) copies of each row; over epochs the mean approaches r.
    keys = list(zip(table.column("id").to_pylist(), table.column("chunk").to_pylist()))
    mean_copies = np.zeros(n)
    for epoch in range(40):
        batch, salt = balanced_rows(table, factors, seed=0, epoch=epoch)
        seen = Counter(zip(batch.column("id").to_pylist(), batch.column("chunk").to_pylist()))
        got = np.array([seen[k] for k in keys])
        assert ((got == np.floor(per_row)) | (got == np.ceil(per_row))).all()
        assert len(set(zip(batch.column("id").to_pylist(), salt.tolist()))) == batch.num_rows  # own dropout draws
        mean_copies += got / 40
    assert mean_copies.sum() == pytest.approx(per_row.sum(), rel=0.05)
    assert mean_copies.sum() > n

    # Both readers emit every copy's example: the epoch's non-padding tokens grow by the copies' lengths.
    tok = load_tokenizer(tokens)
    fmt = SequenceFormat.of(tok, 0.0, 0.0)
    lengths = {k: len(t) + len(c) + 3 for k, t, c in zip(keys, table.column("tokens").to_pylist(),
                                                          table.column("conditions").to_pylist())}
    batch, _ = balanced_rows(table, factors, seed=0, epoch=0)
    want_tokens = sum(lengths[k] for k in zip(batch.column("id").to_pylist(), batch.column("chunk").to_pylist()))
    files = shard_files(tokens, "train")
    blocks = np.stack(list(iter_blocks(files, fmt, 64, shuffle=False, read_batch_rows=10_000, repeats=factors)))
    assert int((blocks[:, 1:] != tok.pad_id).sum()) + 1 == want_tokens
    again = np.stack(list(iter_blocks(files, fmt, 64, shuffle=False, read_batch_rows=10_000, repeats=factors)))
    assert np.array_equal(blocks, again)
    packed = pack_batch(table, fmt.to_dict(), 64, seed=0, repeats=factors.to_dict())["block"]
    assert int((packed[:, 1:] != tok.pad_id).sum()) + 1 == want_tokens
    plain = pack_batch(table, fmt.to_dict(), 64, seed=0)["block"]
    assert int((plain[:, 1:] != tok.pad_id).sum()) + 1 == sum(lengths.values())


def test_augmented_epochs_shift_rows_deterministically(tokens):
    tok = load_tokenizer(tokens)
    fmt = SequenceFormat.of(tok, 0.0, 0.0)
    files = shard_files(tokens, "train")
    aug = Augmentation.of(tok, 5, 8)

    def epoch(n, augment):
        return np.stack(list(iter_blocks(files, fmt, 64, epoch=n, shuffle=False, read_batch_rows=10_000,
                                         augment=augment)))

    plain, shifted = epoch(0, None), epoch(0, aug)
    assert plain.shape == shifted.shape  # shifting changes values, never lengths
    pitch = (plain >= tok.remi.pitch0) & (plain < tok.remi.pitch0 + 128)
    tempo = (plain >= tok.remi.tempo0) & (plain < tok.remi.tempo0 + len(tok.remi.tempos))
    other_music = ~pitch & ~tempo & (plain < tok.conditions.offset)
    assert np.array_equal(plain[other_music], shifted[other_music])  # bars, positions, programs, durations...
    assert not np.array_equal(plain[tempo], shifted[tempo])
    assert not np.array_equal(plain[pitch], shifted[pitch])
    moves = shifted[pitch].astype(int) - plain[pitch].astype(int)
    assert moves.min() >= -5 and moves.max() <= 5 and len(set(moves.tolist())) == 11
    assert np.array_equal(shifted, epoch(0, aug))  # the same epoch twice
    assert not np.array_equal(shifted, epoch(1, aug))  # another epoch, other shifts
    packed = pack_batch(pq.read_table(files), fmt.to_dict(), 64, seed=0, augment=aug.to_dict())["block"]
    assert packed.shape == pack_batch(pq.read_table(files), fmt.to_dict(), 64, seed=0)["block"].shape


# --------------------------------------------------------------------------------------------------
# Training without Ray


def test_no_ray_training_lowers_the_loss_and_checkpoints(pretrained, tokens):
    history = pretrained.history
    assert [m["step"] for m in history] == [10, 20, 30, 40]
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    validated = [m for m in history if "val_loss" in m]
    assert [m["step"] for m in validated] == [20, 40]
    assert validated[-1]["val_loss"] < validated[0]["val_loss"]
    assert math.isclose(validated[-1]["val_ppl"], math.exp(validated[-1]["val_loss"]), rel_tol=1e-9)
    assert all(m["tokens_per_s"] > 0 and 0 <= m["data_wait_share"] <= 1 for m in history)
    ckpt = pretrained.checkpoint
    assert ckpt.name == "checkpoint_00000040"
    for name in ("model.pt", "optimizer.pt", "state.json"):
        assert (ckpt / name).stat().st_size > 0
    state = json.loads((ckpt / "state.json").read_text())
    assert state["state"]["step"] == 40 and state["state"]["tokens"] == 40 * 8 * 64
    copied = pretrained.run_dir / "tokenizer" / "tokenizer.json"
    assert copied.read_bytes() == (tokens / "tokenizer.json").read_bytes()


def test_no_ray_resume_is_exact(pretrained, tokens, storage):
    """A run stopped after its step-20 checkpoint and started again ends where the unbroken run did:
    same weights, same loss (the data position is restored, not just the step count)."""
    copy = storage / "pre_resumed"
    shutil.copytree(pretrained.run_dir, copy)
    shutil.rmtree(copy / "checkpoint_00000040")
    (copy / "metrics.jsonl").write_text("")
    again = commands.pretrain(tokens, "pre_resumed", settings=tiny_settings(storage), no_ray=True)
    assert [m["start_step"] for m in again.history] == [20, 20]
    assert again.history[-1]["step"] == 40
    assert again.history[-1]["loss"] == pytest.approx(pretrained.history[-1]["loss"], rel=1e-5)
    a = torch.load(pretrained.checkpoint / "model.pt")
    b = torch.load(again.checkpoint / "model.pt")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


# --------------------------------------------------------------------------------------------------
# Ray Train


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    connect_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _killed_run_settings(storage: Path) -> TrainSettings:
    return tiny_settings(storage, num_workers=2, cpus_per_worker=0.5, max_steps=16, log_every=4,
                         checkpoint_every=8, eval_batches=2, max_failures=1)


def _run_with_a_killed_worker(tokens: Path, storage: Path, tmp_path: Path, name: str):
    flag = tmp_path / f"kill-rank-1-{name}"
    flag.touch()
    # Rank 1 SIGKILLs itself as it starts its 11th step if the flag exists (removing the flag first).
    result = train(tokens, _killed_run_settings(storage), name, fault={"flag": str(flag), "rank": 1, "step": 10})
    assert not flag.exists()  # the worker got there and died
    return result


def test_ray_trainer_survives_a_killed_worker(ray_cluster, tokens, storage, tmp_path):
    """Two Ray Train workers, one SIGKILLed (a real process death) mid-run: Ray restarts the worker
    group from the last checkpoint and the run finishes."""
    first = _run_with_a_killed_worker(tokens, storage, tmp_path, "ray_run")
    steps = [(m["step"], m["start_step"]) for m in first.history]
    # Before the death: reports at steps 4 and 8 (the checkpoint); steps 9 and 10 are lost.
    assert steps[:2] == [(4, 0), (8, 0)]
    resumed = [m for m in first.history if m["start_step"] > 0]
    assert resumed and all(m["start_step"] == 8 for m in resumed)
    assert [m["step"] for m in resumed] == [12, 16]
    assert resumed[0]["tokens"] == 12 * 2 * 8 * 64  # counted on from the checkpoint, two workers
    assert first.metrics["step"] == 16 and first.checkpoint.name == "checkpoint_00000016"
    assert first.metrics["loss"] < first.history[0]["loss"]
    assert (first.run_dir / "checkpoint_manager_snapshot.json").is_file()  # Ray Train's own record


# A third Ray Train worker group on top of the two above: in the whole-pipeline tier with the other
# process-death runs, which keeps `make test` inside CI's time (the no-Ray loop's resume is tested above).
@pytest.mark.e2e
def test_a_rerun_of_a_ray_run_goes_on_from_its_last_checkpoint(ray_cluster, tokens, storage, tmp_path):
    """A second run of the same name goes on from the first one's last checkpoint (Ray Train's
    snapshot in storage), after a first run that lost a worker."""
    first = _run_with_a_killed_worker(tokens, storage, tmp_path, "ray_rerun")
    settings = _killed_run_settings(storage)
    second = commands.pretrain(tokens, "ray_rerun", settings=settings.replace(max_steps=24))
    later = [m for m in second.history if m["start_step"] == 16]
    assert [m["step"] for m in later] == [20, 24]
    assert later[0]["tokens"] == 20 * 2 * 8 * 64  # the token count carried on from the checkpoint
    assert later[-1]["loss"] < first.history[0]["loss"]  # the curve goes on from where it was
    assert second.checkpoint.name == "checkpoint_00000024"
    assert np.isfinite(later[-1]["val_loss"])


def test_ray_data_passes_draw_for_the_epoch_on_the_clock(ray_cluster, tokens):
    """Ray Data's packing tasks keep conditions on exactly the rows the hash keeps for the epoch set
    on the EpochClock (what the pyarrow reader draws for that epoch), so passes do not repeat draws."""
    import ray

    tok = load_tokenizer(tokens)
    fmt = SequenceFormat.of(tok, 0.5, 0.0)  # half the rows lose their conditions; no family dropout
    files = shard_files(tokens, "train")
    table = pq.read_table(files)
    ids, chunks = table.column("id").combine_chunks(), table.column("chunk").combine_chunks()
    lengths = np.array([len(c) for c in table.column("conditions").to_pylist()])
    first, stop = tok.conditions.offset, tok.conditions.offset + len(tok.conditions.names())
    clock = start_epoch_clock()
    ds = ray_dataset(files, fmt, 64, seed=0, clock=clock)

    def condition_tokens_in_a_pass(epoch: int) -> int:
        ray.get(clock.set.remote(epoch))
        # Each block's first token is the previous block's last (or a bos): the targets count each token once.
        return sum(int(((b[:, 1:] >= first) & (b[:, 1:] < stop)).sum())
                   for b in (batch["block"] for batch in ds.iter_batches(batch_format="numpy")))

    expected = {e: int(lengths[keep_conditions(ids, chunks, 0.5, seed=0, epoch=e)].sum()) for e in (0, 1)}
    assert expected[0] != expected[1]
    assert condition_tokens_in_a_pass(0) == expected[0]
    assert condition_tokens_in_a_pass(1) == expected[1]
    assert condition_tokens_in_a_pass(0) == expected[0]  # the same epoch draws the same again


def test_local_ray_workers_drop_only_the_state_api_warning(ray_cluster):
    import ray

    @ray.remote
    def passes(message: str) -> bool:
        logger = logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner")
        return bool(logger.filter(logging.LogRecord(logger.name, logging.WARNING, __file__, 0, message, None, None)))

    assert ray.get(passes.remote(f"Failed to query Ray Train Controller actor state. {STATE_API_WARNING}.")) is False
    assert ray.get(passes.remote("Failed to launch PlacementGroupCleaner")) is True


# --------------------------------------------------------------------------------------------------
# Sampling


# Modules model.py must not need: it runs where only PyTorch is installed.
NOT_FOR_THE_MODEL = ("symusic", "pyarrow", "ray", "symcorpus.config")

MODEL_ALONE = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in {blocked}):
            raise ImportError(f"{{name}} is blocked")

sys.meta_path.insert(0, Refuse())
for name in {blocked}:  # the block works
    try:
        __import__(name)
    except ImportError:
        continue
    raise SystemExit(f"{{name}} imported")
import torch
from symcorpus.train.model import GPT, GPTConfig

torch.manual_seed(0)
model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32))
idx = torch.randint(0, 40, (3, 16))
logits, loss = model(idx[:, :-1], idx[:, 1:])
assert logits.shape == (3, 15, 40) and 0 < loss.item() < 10, (logits.shape, loss)
print(" ".join(sorted(m for m in sys.modules if m.startswith("symcorpus"))))
"""


def test_the_model_imports_only_torch(tmp_path):
    code = MODEL_ALONE.format(blocked=repr(NOT_FOR_THE_MODEL))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["symcorpus", "symcorpus.train", "symcorpus.train.model"]


def test_rotary_positions_rotate_pairs_and_keep_only_relative_position():
    D, T = 16, 40
    cos, sin = rope_tables(D, T, 10000.0)
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, T, D, dtype=torch.float64), torch.randn(1, 1, T, D, dtype=torch.float64)
    rq = apply_rope(q, cos.double(), sin.double())
    # Each channel pair (i, i + D/2) keeps its length: a rotation, not a scaling.
    pairs = lambda x: x[..., : D // 2] ** 2 + x[..., D // 2 :] ** 2  # noqa: E731
    assert torch.allclose(pairs(rq), pairs(q))
    assert torch.equal(rq[..., 0, :], q[..., 0, :])  # position 0 is not rotated
    # The same q and k vectors placed at (m, n) or at (m + s, n + s) score the same: only m - n counts.
    qv, kv = q[0, 0, 0], k[0, 0, 0]

    def score(m: int, n: int) -> torch.Tensor:
        at = lambda v, pos: apply_rope(v.expand(1, 1, T, D), cos.double(), sin.double())[0, 0, pos]  # noqa: E731
        return at(qv, m) @ at(kv, n)

    assert torch.allclose(score(7, 3), score(30, 26)) and torch.allclose(score(3, 7), score(25, 29))
    assert not torch.allclose(score(7, 3), score(7, 4))
    # The first half of the pair turns by -sin, the second by +sin (the textbook rotation).
    x1, x2 = q[..., : D // 2], q[..., D // 2 :]
    c, s = cos[:, : D // 2].double(), sin[:, D // 2 :].double()
    assert torch.allclose(rq, torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1))


def test_kv_cache_sampling_equals_full_recompute(pretrained):
    run = load_run(pretrained.run_dir, "cpu")
    tok = run.tokenizer
    for prompt in (prompt_tokens(tok, 'key="D major" time_signature=6/8'), prompt_tokens(tok, None)):
        cached = sample(run.model, prompt, 2, 40, temperature=0, eos_id=tok.eos_id, use_cache=True)
        full = sample(run.model, prompt, 2, 40, temperature=0, eos_id=tok.eos_id, use_cache=False)
        assert cached == full and len(cached[0]) > 0
    # Logits position by position through the cache equal one pass over the whole sequence.
    seq = torch.tensor([prompt_tokens(tok, "time_signature=3/4") + cached[0][:20]])
    full_logits, _ = run.model(seq)
    cache = KVCache(run.model.config, 1, seq.shape[1], "cpu")
    step_logits = [run.model(seq[:, :5], cache=cache, start=0)[0]]
    step_logits += [run.model(seq[:, i : i + 1], cache=cache, start=i)[0] for i in range(5, seq.shape[1])]
    assert torch.allclose(torch.cat(step_logits, dim=1), full_logits, atol=1e-4)


def test_sampling_draws_only_music_tokens_and_is_seeded(pretrained):
    run = load_run(pretrained.run_dir, "cpu")
    tok = run.tokenizer
    prompt = prompt_tokens(tok, None)
    allowed = music_mask(tok, "cpu")
    a = sample(run.model, prompt, 4, 50, temperature=1.2, top_k=50, top_p=0.9, eos_id=tok.eos_id,
               allowed=allowed, seed=7)
    b = sample(run.model, prompt, 4, 50, temperature=1.2, top_k=50, top_p=0.9, eos_id=tok.eos_id,
               allowed=allowed, seed=7)
    assert a == b
    first, end = tok.music_range
    assert all(first <= t < end for row in a for t in row)
    assert len({tuple(r) for r in a}) > 1  # a batch of different samples


def test_generate_writes_midi_and_piano_rolls(pretrained, storage, tmp_path):
    result = commands.generate(str(pretrained.run_dir), 'key="D major" time_signature=6/8', 3, tmp_path,
                               settings=tiny_settings(storage), max_new_tokens=60, seed=1)
    assert sorted(p.name for p in result.files) == ["sample_00.mid", "sample_01.mid", "sample_02.mid"]
    notes = [sum(len(t.notes) for t in symusic.Score.from_midi(p.read_bytes()).tracks) for p in result.files]
    assert sum(notes) > 0 and sum(notes) == result.n_notes
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in result.pngs) and len(result.pngs) == 3
    if shutil.which("fluidsynth") is None:
        assert "fluidsynth" in result.wav_note and result.wavs == []
    else:  # `make` installs FluidSynth and a General MIDI SoundFont: every sample can be heard
        assert [p.name for p in result.wavs] == ["sample_00.wav", "sample_01.wav", "sample_02.wav"]
        assert all(p.read_bytes()[:4] == b"RIFF" and p.read_bytes()[8:12] == b"WAVE" and p.stat().st_size > 1000
                   for p in result.wavs)
    summary = json.loads((tmp_path / "samples.json").read_text())
    assert summary["n"] == 3 and summary["notes_per_second"] > 0
    assert summary["prompt_tokens"][0] == load_tokenizer(pretrained.run_dir / "tokenizer").bos_id


def test_prompt_and_call_errors_are_clear(pretrained, storage, tmp_path):
    s = tiny_settings(storage)
    with pytest.raises(UsageError, match="unknown condition family 'mood'"):
        commands.generate(str(pretrained.run_dir), "mood=happy", 1, tmp_path, settings=s)
    with pytest.raises(UsageError, match="time_signature='13/7' is not in the vocabulary"):
        commands.generate(str(pretrained.run_dir), "time_signature=13/7", 1, tmp_path, settings=s)
    with pytest.raises(UsageError, match="'happy' is not family=value"):
        commands.generate(str(pretrained.run_dir), "tempo=Allegro happy", 1, tmp_path, settings=s)
    with pytest.raises(UsageError, match="cannot read 'happy'"):  # without an '=', a prompt is English
        commands.generate(str(pretrained.run_dir), "happy allegro", 1, tmp_path, settings=s)
    with pytest.raises(UsageError, match="no such run"):
        commands.generate(str(tmp_path / "nothing"), None, 1, tmp_path, settings=s)
    with pytest.raises(UsageError, match="--n must be at least 1"):
        commands.generate(str(pretrained.run_dir), None, 0, tmp_path, settings=s)
    with pytest.raises(UsageError, match="no checkpoint"):
        commands.generate(str(pretrained.run_dir / "tokenizer"), None, 1, tmp_path, settings=s)


# --------------------------------------------------------------------------------------------------
# Fine-tuning and evaluation


def test_finetune_on_the_labelled_high_quality_subset(pretrained, tokens, storage, tmp_path):
    corpus = pq.read_table(tokens.parent / "corpus_v1" / "corpus" / "train", columns=["id", "quality_score", "labels"])
    want = sorted(r["id"] for r in corpus.to_pylist()
                  if r["quality_score"] is not None and r["quality_score"] >= 0.8 and any(r["labels"].values()))
    assert 0 < len(want) < corpus.num_rows
    assert labelled_ids(tokens.parent / "corpus_v1", "train", 0.8) == want

    s = tiny_settings(storage)
    ft = commands.finetune(tokens, "pre", "ft", settings=s, min_quality=0.8, max_steps=10, no_ray=True)
    run = json.loads((ft.run_dir / "run.json").read_text())
    assert run["n_selected_ids"] == len(want)
    assert run["balance"] is None  # fine-tuning balances instruments, and these tunes are all piano
    assert all(m["kind"] == "finetune" and m["lr"] <= s.finetune.learning_rate for m in ft.history)
    # The loop trained with fine-tuning's values in place of pretraining's (TrainSettings.for_finetune).
    used = json.loads((ft.checkpoint / "state.json").read_text())["settings"]
    f = s.finetune
    assert (used["learning_rate"], used["min_lr"], used["warmup_steps"]) == (f.learning_rate, f.min_lr, f.warmup_steps)
    assert (used["condition_dropout"], used["family_dropout"], used["balance"]) == (0.0, 0.5, "instruments")
    assert used["max_steps"] == 10 and s.condition_dropout is None
    # Started from the pretrained weights: far below a fresh model's loss, log(vocab).
    assert ft.history[-1]["val_loss"] < 0.5 * math.log(load_tokenizer(tokens).vocab_size)

    # Balancing metres instead (and augmenting): the run names each repeated metre with its factor, and trains.
    ts = s.replace(finetune=dataclasses.replace(s.finetune, balance="time_signature"), augment_semitones=3,
                   augment_tempo_bins=4)
    # A --learning-rate below train.finetune.min_lr brings the floor of the decay down with it.
    balanced = commands.finetune(tokens, "pre", "ft_ts", settings=ts, min_quality=0.8, max_steps=4,
                                 learning_rate=5e-6, no_ray=True)
    used = json.loads((balanced.checkpoint / "state.json").read_text())["settings"]
    assert used["learning_rate"] == used["min_lr"] == 5e-6 and used["balance"] == "time_signature"
    assert all(0 < m["lr"] <= 5e-6 for m in balanced.history)  # in its warm-up: under the asked rate
    lines = json.loads((balanced.run_dir / "run.json").read_text())["balance"]
    assert lines and all(re.fullmatch(r"\d+/\d+ x \d\.\d\d", line) for line in lines), lines
    assert balanced.history[-1]["step"] == 4
    assert json.loads((balanced.run_dir / "run.json").read_text())["augment"] == {"semitones": 3, "tempo_bins": 4}
    with pytest.raises(UsageError, match="train.balance: must be a condition family"):
        s.replace(balance="colour")
    with pytest.raises(UsageError, match="train.compile_mode: must be one of default"):
        s.replace(compile_mode="fastest")

    with pytest.raises(UsageError, match="subset is empty"):
        commands.finetune(tokens, "pre", "ft_none", settings=s, min_quality=1.01, no_ray=True)
    bare = tmp_path / "corpus" / "train"
    bare.mkdir(parents=True)
    pq.write_table(pa.table({"id": corpus.column("id")}), bare / "part-0.parquet")
    with pytest.raises(ValueError, match="no quality_score column"):
        labelled_ids(tmp_path, "train", 0.5)


def test_evaluate_reports_adherence_beside_unconditioned(pretrained, storage, tmp_path):
    report = commands.evaluate(str(pretrained.run_dir), tmp_path, settings=tiny_settings(storage), n_sets=2,
                               samples_per_set=2, max_new_tokens=50)
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert saved["conditioned"] == report.conditioned and len(saved["sets"]) == 2
    for kind in ("conditioned", "unconditioned"):
        for metric, share in getattr(report, kind).items():
            n = report.counts[kind][metric]
            assert (share is None) == (n == 0)
            assert share is None or 0 <= share <= 100
    requested = {f for s in saved["sets"] for f in s["request"]}
    assert "time_signature" in requested and report.counts["conditioned"]["CTS"] == 4
    assert len(list(tmp_path.glob("set_0*/conditioned/sample_*.mid"))) == 4
    assert "CTS" in format_table(report) and "97.0" in format_table(report)


def test_checks_compare_like_text2midi():
    from symcorpus.tokenizers.conditions import tempo_word

    order = tempo_order()
    bpm = {word: next(b for b in range(1, 601) if tempo_word(float(b)) == word) for word in order}
    asked = order[len(order) // 2]
    request = {"key": "Db major", "time_signature": "3/4", "tempo": asked,
               "instruments": ["Violin", "Acoustic Grand Piano"]}
    found = {"key": "C# major", "time_signature": "3/4", "tempo_bpm": float(bpm[asked]),
             "instruments": ["Acoustic Grand Piano", "Violin"]}
    assert checks(request, found, order) == {"CK": True, "CTS": True, "TB": True, "TBT": True, "CI": True}
    neighbour = {**found, "tempo_bpm": float(bpm[order[len(order) // 2 + 1]])}
    assert checks(request, neighbour, order) == {"CK": True, "CTS": True, "TB": False, "TBT": True, "CI": True}
    far = {**found, "tempo_bpm": float(bpm[order[0]]), "instruments": ["Violin"], "time_signature": "6/8"}
    assert checks(request, far, order) == {"CK": True, "CTS": False, "TB": False, "TBT": False, "CI": False}
    assert checks(request, None, order) == {"CK": False, "CTS": False, "TB": False, "TBT": False, "CI": False}
    assert checks({"key": "D minor"}, {"key": "D major"}, order) == {"CK": False}


# --------------------------------------------------------------------------------------------------
# ABC end to end: score tokens -> training -> generated tunes that ABC readers accept


def test_abc_model_generates_tunes_that_parse(tokens, storage, tmp_path, caplog):
    abc_tokens = tmp_path / "tok_abc"
    token_shards(tokens.parent / "corpus_v1", "abc", abc_tokens, TokenizeSettings(max_seq_len=512))
    # The repository's params augment REMI rows; ABC tokens train unaugmented, with a warning.
    s = tiny_settings(storage, block_size=128, max_steps=80, checkpoint_every=40, augment_semitones=5,
                      augment_tempo_bins=8)
    with caplog.at_level(logging.WARNING, logger="symcorpus.train.runner"):
        run = commands.pretrain(abc_tokens, "abc_pre", settings=s, no_ray=True)
    assert "shift REMI tokens only" in caplog.text
    assert json.loads((run.run_dir / "run.json").read_text())["augment"] is None
    assert run.history[-1]["val_loss"] < 0.5 * math.log(load_tokenizer(abc_tokens).vocab_size)

    result = commands.generate(str(run.run_dir), "time_signature=6/8", 3, tmp_path / "out", settings=s,
                               max_new_tokens=300, seed=3)
    assert [p.suffix for p in result.files] == [".abc"] * 3
    texts = [p.read_text(encoding="ascii") for p in result.files]
    assert all(t.startswith("X:1\n") for t in texts)
    summary = json.loads((tmp_path / "out" / "samples.json").read_text())
    # Every sample either rendered (notes counted, a piano roll drawn) or says why it did not.
    assert all(("n_notes" in info) != ("error" in info) for info in summary["samples"])
    parsed = [p for p, info in zip(result.files, summary["samples"]) if info.get("n_notes", 0) > 0]
    assert parsed, summary["samples"]
    for p in parsed:
        assert symusic.Score.from_abc(p.read_text()).note_num() > 0
        assert p.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
