"""The local JVM maps the class-data archive `make` creates (spark/class_archive.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]

# A fresh process starts a local session, runs a job and says whether its JVM mapped the archive.
MAPPED = """
from symcorpus.config import load_settings
from symcorpus.spark import class_archive
from symcorpus.spark.session import spark_session
spark = spark_session(load_settings(None).spark, "local[1]")
assert spark.range(100).selectExpr("id % 3 AS k").groupBy("k").count().count() == 3
maps = open(f"/proc/{spark.sparkContext._gateway.proc.pid}/maps").read()
print("mapped" if str(class_archive.archive_path()) in maps else "not mapped")
"""


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_a_local_session_maps_the_archive(tmp_path):
    env = {**os.environ, "SYMCORPUS_LOG_DIR": str(tmp_path / "logs")}
    # As `make` does; a no-op where the archive already exists.
    made = subprocess.run([sys.executable, "-m", "symcorpus.spark.archive_classes"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0 and "class-data archive" in made.stdout, made.stdout + made.stderr[-3000:]
    assert _python(MAPPED, env) == "mapped"


def test_without_an_archive_nothing_is_mapped_and_spark_runs(tmp_path):
    env = {**os.environ, "SYMCORPUS_CACHE": str(tmp_path / "empty-cache")}
    assert _python(MAPPED, env) == "not mapped"


def test_an_archive_that_cannot_be_made_leaves_make_going(tmp_path):
    # /proc takes no new folders: the archive cannot be kept, and `make` must go on without it.
    env = {**os.environ, "SYMCORPUS_CACHE": "/proc/symcorpus-cache", "SYMCORPUS_LOG_DIR": str(tmp_path / "logs")}
    made = subprocess.run([sys.executable, "-m", "symcorpus.spark.archive_classes"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    assert "no class-data archive made" in made.stdout and "Traceback" not in made.stdout + made.stderr
