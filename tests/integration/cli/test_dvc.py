"""The DVC pipeline, as a new user runs it: `dvc repro` in a fresh repository, a changed param reruns
only the stages after it, and `dvc push` / `dvc pull` move every output through a local remote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

# Thirteen symcorpus commands, each starting Spark or Ray: `make test-e2e`, not CI's `make test`.
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def small_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["spark"]["master"] = "local[2]"
    params["ingest"]["music21"] = {"formats": ["abc"], "max_files": {"abc": 2}}
    params["demo"].update(pretrain_steps=6, finetune_steps=3, block_size=64, batch_size=4, max_new_tokens=32)
    params["train"]["checkpoint_every"] = 3
    params["train"]["warmup_steps"] = 2
    params["train"]["finetune"]["min_quality"] = 0.0
    return params


def test_repro_rerun_push_and_pull(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for item in ("dvc.yaml", "symcorpus"):
        source = ROOT / item
        (shutil.copytree(source, repo / item, ignore=shutil.ignore_patterns("__pycache__"))
         if source.is_dir() else shutil.copy(source, repo / item))
    (repo / "params.yaml").write_text(yaml.safe_dump(small_params(), sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "config", "user.email", "t@example.org"], repo)
    run(["git", "config", "user.name", "test"], repo)
    run(["dvc", "init", "-q"], repo)

    out = run(["dvc", "repro"], repo)
    for stage in ("ingest", "dedup", "filter_annotate", "publish", "tokenize", "pretrain", "finetune", "evaluate"):
        assert f"Running stage '{stage}'" in out
    counts = json.loads((repo / "data/pipeline/metrics/corpus.json").read_text())["counts"]
    assert counts["kept"] > 50
    assert counts["input"] == counts["kept"] + counts["duplicates"] + counts["rejected"] + counts["errors"]
    assert (repo / "data/pipeline/card/README.md").is_file()
    assert list((repo / "data/pipeline/runs/pretrain").glob("checkpoint_*"))
    assert "conditioned" in (repo / "data/pipeline/evaluation/evaluation.json").read_text()
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo)

    # A filter threshold changes: ingest and dedup stay, everything from the filter on runs again.
    notes = sorted(pq.read_table(repo / "data/pipeline/corpus/corpus", columns=["n_notes"]).column("n_notes").to_pylist())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["filter"]["rules"]["too_few_notes"] = {"min_notes": notes[len(notes) // 4]}  # rejects a quarter
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    again = run(["dvc", "repro", "--no-run-cache"], repo)
    assert "Running stage 'ingest'" not in again and "Running stage 'dedup'" not in again
    for stage in ("filter_annotate", "tokenize", "pretrain", "finetune", "evaluate"):  # the corpus changed
        assert f"Running stage '{stage}'" in again
    assert json.loads((repo / "data/pipeline/metrics/corpus.json").read_text())["counts"]["rejected"] > counts["rejected"]

    # Push to a local remote, clone, pull: the clone has the same outputs.
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "local", str(remote)], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "pipeline"], repo)
    run(["dvc", "push"], repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    manifest = "data/pipeline/corpus/manifest.json"
    assert (clone / manifest).read_bytes() == (repo / manifest).read_bytes()
    assert sorted(p.name for p in (clone / "data/pipeline/tokens/train").glob("*.parquet")) == \
        sorted(p.name for p in (repo / "data/pipeline/tokens/train").glob("*.parquet"))
