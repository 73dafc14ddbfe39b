"""The preference stage's pieces on values worked out by hand: the DPOP loss, the choice of pairs,
and the Wilson interval every metric is reported with."""

from __future__ import annotations

import math

import pytest
import torch

from symcorpus.train.evaluate import ConditionSet, spread_over, wilson_interval
from symcorpus.train.prefer import Scored, dpop_loss, pick_pairs


def test_dpop_loss_on_hand_computed_values():
    # policy chosen -10, rejected -12; reference both -11: margin (1) - (-1) = 2, no penalty.
    # -log sigmoid(0.1 * 2) = log(1 + e^-0.2) = 0.598139
    # policy chosen -12 (1 below its reference -11), rejected -14 against -11: margin -1 + 3 = 2,
    # penalty 10 * 1: -log sigmoid(0.1 * (2 - 10)) = log(1 + e^0.8) = 1.171101
    loss = dpop_loss(torch.tensor([-10.0, -12.0]), torch.tensor([-12.0, -14.0]), torch.tensor([-11.0, -11.0]),
                     torch.tensor([-11.0, -11.0]), beta=0.1, lam=10.0)
    assert loss.tolist() == pytest.approx([0.598139, 1.171101], abs=1e-6)
    assert loss[0].item() == pytest.approx(math.log1p(math.exp(-0.2)), abs=1e-7)
    # Without the penalty term it is plain DPO: the second pair's margin alone.
    dpo = dpop_loss(torch.tensor([-12.0]), torch.tensor([-14.0]), torch.tensor([-11.0]), torch.tensor([-11.0]),
                    beta=0.1, lam=0.0)
    assert dpo.item() == pytest.approx(math.log1p(math.exp(-0.2)), abs=1e-6)


def scored(prompt: int, reward: float, passes: bool = True, plagiarized: bool = False) -> Scored:
    return Scored(prompt, [], True, reward, {}, reward, passes, plagiarized, 0.0, 20)


def test_pairs_take_the_top_that_passes_and_copies_nothing_against_the_bottom():
    group = [scored(0, 2.0, plagiarized=True), scored(0, 1.9, passes=False), scored(0, 1.5), scored(0, 1.2),
             scored(0, 1.0), scored(0, 0.8), scored(0, 0.5), scored(0, 0.1)]
    other = [scored(1, 1.0), scored(1, 1.0), scored(1, 0.0), scored(1, 0.0)]
    pairs = pick_pairs(group + other, share=0.25)  # 2 of 8, 1 of 4
    first = [(c.reward, r.reward) for c, r in pairs if c.prompt == 0]
    assert first == [(1.5, 0.5), (1.5, 0.1), (1.2, 0.5), (1.2, 0.1)]  # never the copy or the rule-breaker
    assert [(c.reward, r.reward) for c, r in pairs if c.prompt == 1] == [(1.0, 0.0)]
    assert all(c.prompt == r.prompt for c, r in pairs)
    assert pick_pairs([scored(0, 1.0, passes=False), scored(0, 0.0)], share=0.5) == []


def test_wilson_intervals_by_hand():
    # 5 of 10: centre (0.5 + 1.92/10) / 1.384 = 0.5, half 1.96 * sqrt(0.025 + 0.0096) / 1.384 = 0.2634
    assert wilson_interval(5, 10) == (23.7, 76.3)
    assert wilson_interval(0, 10) == (0.0, 27.8)
    assert wilson_interval(10, 10) == (72.2, 100.0)
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(200, 400)  # what a 10-point difference needs near 50%: half-widths under 5
    assert high - low < 10.0


def test_prompts_are_spread_over_time_signatures_most_common_first():
    metres = ["2/2", "6/8", "2/2", "4/4", "6/8", None, "2/2"]
    sets = [ConditionSet(f"set {i}", [i], {"key": "D major"} | ({"time_signature": m} if m else {}))
            for i, m in enumerate(metres)]
    assert [s.tokens[0] for s in spread_over(sets, "time_signature", 4)] == [0, 1, 3, 5]
    assert [s.tokens[0] for s in spread_over(sets, "time_signature", 6)] == [0, 1, 3, 5, 2, 4]
    assert [s.tokens[0] for s in spread_over(sets, "time_signature", 20)] == [0, 1, 3, 5, 2, 4, 6]
