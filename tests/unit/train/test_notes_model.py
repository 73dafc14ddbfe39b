"""The note-level model on small shapes: its likelihood is a distribution, its loss the masked
diffusion loss, its sampler the same with and without the cache and holding what it is told."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from symcorpus.config import PRESETS, TrainSettings
from symcorpus.tokenizers import TokenizeSettings, Tokenizer
from symcorpus.tokenizers.conditions import ConditionVocab
from symcorpus.train.architectures import build_model
from symcorpus.train.notes_model import NoteConfig, NoteModel
from symcorpus.train.runner import new_model_config

torch.set_num_threads(1)
PAD, BOS, EOS, SEP = 0, 1, 2, 3


def small(sizes=(3, 2, 2, 2, 2, 2, 2, 2), **changes) -> NoteModel:
    """Attributes of a few values each after the 4 specials, and 3 condition ids after them."""
    starts = [4]
    for size in sizes[:-1]:
        starts.append(starts[-1] + size)
    config = NoteConfig(vocab_size=starts[-1] + sizes[-1] + 3, attributes=[[a, b] for a, b in zip(starts, sizes)],
                        eos_id=EOS, pad_id=PAD, block_size=32, n_layer=2, n_head=2, n_embd=32)
    torch.manual_seed(0)
    return NoteModel(NoteConfig(**{**config.to_dict(), **changes}))


def note(model: NoteModel, values) -> list[int]:
    return [first + v for (first, _), v in zip(model.config.attributes, values)]


def prompt_rows(model: NoteModel) -> torch.Tensor:
    cond = model.config.vocab_size - 1
    rows = torch.full((3, 8), PAD)
    rows[:, 0] = torch.tensor([BOS, cond, SEP])
    return rows


def test_the_fixed_order_likelihood_sums_to_one_over_every_next_note():
    model = small().eval()
    sizes = [size for _, size in model.config.attributes]
    candidates = [note(model, v) for v in itertools.product(*(range(s) for s in sizes))]
    candidates.append([EOS] + [PAD] * 7)
    head = prompt_rows(model)
    x = head[None].expand(len(candidates), -1, -1)
    y = torch.full((len(candidates), 3, 8), -1)
    y[:, 2] = torch.tensor(candidates)
    y[y == PAD] = -1
    with torch.no_grad():
        nll, counted = model.position_nll(x, y)
    assert counted[:, 2].all() and not counted[:, :2].any()  # only the note is a target
    assert torch.exp(-nll[:, 2]).sum().item() == pytest.approx(1.0, abs=1e-5)


def test_with_everything_masked_the_loss_is_the_mean_cross_entropy():
    model = small(mask_eps=1.0).eval()  # masking rate (1 - eps) t + eps = 1
    x = torch.cat([prompt_rows(model), torch.tensor([note(model, [1, 0, 1, 0, 1, 0, 1, 0])])])[None]
    y = torch.full_like(x, -1)
    y[0, 2] = x[0, 3]
    _, loss = model(x[:, :3], y[:, :3])
    h = model.trunk(x[:, :3])
    out = model.decode(h[0, 2:3], y[0, 2:3], torch.ones(1, 8, dtype=torch.bool), model.carried(x)[0, 2:3])
    targets = [1, 0, 1, 0, 1, 0, 1, 0]
    weights = model.embed.weight
    expected = torch.stack([  # each attribute against its own ids alone (type: and eos)
        F.cross_entropy(out[:, k] @ weights[list(range(first, first + size)) + ([EOS] if k == 0 else [])].T,
                        torch.tensor([targets[k]]))
        for k, (first, size) in enumerate(model.config.attributes)]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_each_slot_reads_the_same_attribute_of_the_position_before_and_the_type_slot_the_bar_line():
    model = small().eval()
    context = torch.randn(1, model.config.n_embd)
    values, masked = torch.zeros(1, 8, dtype=torch.long), torch.ones(1, 8, dtype=torch.bool)
    before = torch.tensor([note(model, [0, 0, 1, 0, 1, 0, 1, 0]) + [note(model, [1] * 8)[0]]])
    with torch.no_grad():
        out = model.decode(context, values, masked, before)
        for k, (first, size) in enumerate(model.config.attributes):  # another value of attribute k
            other = before.clone()
            other[0, k] = first + (before[0, k] - first + 1) % size
            assert not torch.allclose(model.decode(context, values, masked, other), out)
        other = before.clone()
        other[0, 8] = note(model, [2] * 8)[0]  # another bar line
        assert not torch.allclose(model.decode(context, values, masked, other), out)
        assert torch.allclose(model.decode(context, values, masked, before.clone()), out)


def test_the_bar_line_carried_is_the_latest_note_that_opened_a_bar():
    model = small()
    types = [0, 1, 0, 0, 2, 0]  # same bar, bar line of value 1, ..., bar line of value 2, same bar
    x = torch.cat([prompt_rows(model), torch.tensor([note(model, [t] + [0] * 7) for t in types])])[None]
    first = model.config.attributes[0][0]
    expected = [PAD] * 4 + [first + 1] * 3 + [first + 2] * 2  # bos, condition, sep, a note in no bar yet
    assert model.carried(x)[0, :, 8].tolist() == expected
    assert torch.equal(model.carried(x)[..., :8], x)


def test_cached_sampling_equals_full_recompute_and_holds_fixed_attributes():
    model = small(sizes=(9, 8, 5, 4, 6, 12, 5, 4))
    prompt = [BOS, model.config.vocab_size - 1, SEP]
    fixed = {4: model.config.attributes[4][0] + 3, 7: model.config.attributes[7][0] + 1}
    kw = dict(temperature=1.0, top_p=0.9, seed=7, fixed=fixed, denoise_steps=3)
    cached = model.sample(prompt, 4, 20, **kw)
    full = model.sample(prompt, 4, 20, use_cache=False, **kw)
    assert cached == full and any(cached)
    for piece in cached:
        rows = torch.tensor(piece).view(-1, 8)
        assert (rows[:, 4] == fixed[4]).all() and (rows[:, 7] == fixed[7]).all()
        for k, (first, size) in enumerate(model.config.attributes):
            assert ((rows[:, k] >= first) & (rows[:, k] < first + size)).all()
    with pytest.raises(ValueError, match="not an id of attribute 4"):
        model.sample(prompt, 1, 4, fixed={4: model.config.attributes[5][0]})


def test_the_note_preset_has_about_the_gpts_parameter_count():
    conditions = ConditionVocab.build({}, 5).values
    settings = TrainSettings(preset="small", block_size=256)
    gpt = build_model(new_model_config(settings, Tokenizer("remi", TokenizeSettings(), conditions)).to_dict())
    notes = build_model(new_model_config(settings, Tokenizer("notes", TokenizeSettings(), conditions)).to_dict())
    assert isinstance(notes, NoteModel) and notes.config.n_layer == PRESETS["small"]["n_layer"]
    # The same trunk; the narrow one-layer decoder and the note vocabulary add about 2%.
    assert 1.0 < notes.num_params() / gpt.num_params() < 1.025, (notes.num_params(), gpt.num_params())
    with pytest.raises(ValueError, match="cannot read remi tokens"):
        new_model_config(settings.replace(model="notes"), Tokenizer("remi", TokenizeSettings(), conditions))


NOTE_MODEL_ALONE = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in ("symusic", "pyarrow", "ray", "symcorpus.config")):
            raise ImportError(name)
sys.meta_path.insert(0, Refuse())
from symcorpus.train.notes_model import NoteConfig, NoteModel
print(" ".join(sorted(m for m in sys.modules if m.startswith("symcorpus"))))
"""


def test_the_note_model_imports_only_torch(tmp_path):
    done = subprocess.run([sys.executable, "-c", NOTE_MODEL_ALONE], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["symcorpus", "symcorpus.train", "symcorpus.train.model",
                                   "symcorpus.train.notes_model"]


def test_a_time_signature_condition_is_the_bar_line_before_the_piece_and_bos_starts_afresh():
    first = small().config.attributes[0][0]
    cond = small().config.vocab_size - 1
    model = small(opening_lines=[[cond, first + 2]], bos_id=BOS)
    piece = [note(model, [t] + [0] * 7) for t in (0, 1, 0)]
    x = torch.cat([prompt_rows(model), torch.tensor(piece), prompt_rows(model)[[0, 2]],
                   torch.tensor(piece[:1])])[None]  # a second piece packed after, without the condition
    expected = [PAD, first + 2, first + 2, first + 2, first + 1, first + 1, PAD, PAD, PAD]
    assert model.carried(x)[0, :, 8].tolist() == expected
    line = torch.tensor([PAD])  # sampling's one-position-at-a-time form agrees
    for t, ids in enumerate(x[0, :, 0]):
        line = model.next_line(line, ids[None])
        assert line.item() == expected[t]
