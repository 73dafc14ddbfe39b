"""Fault tolerance: two Ray Train workers, one killed (SIGKILL, a real process death) mid-run; Ray
restarts the worker group from the last checkpoint and the run finishes."""

from __future__ import annotations

import pytest
import torch

from symcorpus.train.runner import connect_ray, train

from tests.integration.train.test_train import session_tokens, tiny_settings

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    connect_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_a_killed_worker_resumes_from_the_last_checkpoint(ray_cluster, tmp_path_factory, tmp_path):
    tokens = session_tokens(tmp_path_factory)
    flag = tmp_path / "kill-rank-1"
    flag.touch()
    settings = tiny_settings(tmp_path / "runs", num_workers=2, cpus_per_worker=0.5, max_steps=16, log_every=4,
                             checkpoint_every=8, eval_batches=2, max_failures=1)
    # Rank 1 SIGKILLs itself as it starts its 11th step if the flag exists (removing the flag first).
    result = train(tokens, settings, "fault", fault={"flag": str(flag), "rank": 1, "step": 10})

    assert not flag.exists()  # the worker got there and died
    steps = [(m["step"], m["start_step"]) for m in result.history]
    # Before the death: reports at steps 4 and 8 (the checkpoint); steps 9 and 10 are lost.
    assert steps[:2] == [(4, 0), (8, 0)]
    resumed = [m for m in result.history if m["start_step"] > 0]
    assert resumed and all(m["start_step"] == 8 for m in resumed)
    assert [m["step"] for m in resumed] == [12, 16]
    assert resumed[0]["tokens"] == 12 * 2 * 8 * 64  # counted on from the checkpoint, two workers
    assert result.metrics["step"] == 16 and result.checkpoint.name == "checkpoint_00000016"
    assert result.metrics["loss"] < result.history[0]["loss"]
