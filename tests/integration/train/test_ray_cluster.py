"""Training across two Ray nodes started with `ray start` on this machine, through --ray-address."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from symcorpus.train.runner import train

from tests.integration.train.test_train import session_tokens, tiny_settings

RAY = str(Path(sys.executable).parent / "ray")

# Its teardown stops every Ray process on the machine (`ray stop --force`): run alone, by
# `make test-e2e` (one process, no other Ray instance), never beside other tests.
pytestmark = pytest.mark.e2e


def _run(cmd: list[str], env: dict[str, str]) -> str | None:
    """Run a `ray` command; return what Ray printed if it failed, None if it worked."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if not done.returncode:
        return None
    return f"{' '.join(cmd[1:])} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_two_nodes(temp: Path, env: dict[str, str]) -> tuple[str | None, str | None]:
    """Start a head and a second node on loopback; (address, None) or (None, what failed)."""
    port = _free_port()
    head = [RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=3",
            "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"]
    worker = [RAY, "start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", "--num-cpus=3"]
    failure = _run(head, env) or _run(worker, env)
    if failure:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        return None, failure
    return f"127.0.0.1:{port}", None


@pytest.fixture(scope="module")
def two_nodes():
    # Token authentication off for this loopback cluster (head, second node and the driver alike).
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    # Ray puts its sockets under --temp-dir and AF_UNIX paths stop at 107 bytes: pytest's own
    # temporary folders are too deep, so the cluster gets a short one under /tmp.
    temp = Path(tempfile.mkdtemp(prefix="scr-", dir="/tmp"))
    try:
        # A node joining a busy 2-core machine can miss Ray's start-up deadlines: the whole cluster
        # gets a second try, and the first failure is still shown as a warning.
        address, failure = _start_two_nodes(temp, env)
        if address is None:
            warnings.warn(f"first cluster start failed: {failure}", stacklevel=1)
            address, failure = _start_two_nodes(temp, env)
        if address is None:
            pytest.fail(failure)
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        os.environ.pop("RAY_AUTH_MODE", None)
        shutil.rmtree(temp, ignore_errors=True)


def test_two_workers_on_two_nodes_write_checkpoints(two_nodes, tmp_path_factory, tmp_path):
    import ray

    tokens = session_tokens(tmp_path_factory)
    # 2 of a node's 3 logical CPUs per worker: the two workers must land on different nodes, and each
    # node keeps one CPU for Ray Data's read and pack tasks.
    settings = tiny_settings(tmp_path / "runs", num_workers=2, cpus_per_worker=2.0, max_steps=8, log_every=4,
                             checkpoint_every=4, eval_batches=2)
    try:
        result = train(tokens, settings, "two_nodes", ray_address=two_nodes)
        assert result.metrics["step"] == 8
        assert sorted(p.name for p in (tmp_path / "runs" / "two_nodes").glob("checkpoint_0*"))[-1] == "checkpoint_00000008"
        if not ray.is_initialized():
            ray.init(address=two_nodes)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2  # the cluster really has two nodes
    finally:
        ray.shutdown()  # before the fixture stops the cluster: a driver whose raylet dies exits
