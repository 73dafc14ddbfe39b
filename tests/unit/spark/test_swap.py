"""Publishing with no gap, without Spark: the atomic swap of a staged version with OUT, readers that
always find a whole version while versions are swapped under them, and what dead builds leave.

Under a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from symcorpus.spark import swap
from symcorpus.spark.session import with_retries

from tests.processes import READER


def make_version(folder: Path, label: str) -> Path:
    (folder / "corpus").mkdir(parents=True)
    (folder / "corpus" / "part-00000.parquet").write_text(label)
    (folder / "manifest.json").write_text(json.dumps({"label": label}))
    (folder / "_SUCCESS").write_text("")
    return folder


def test_place_swaps_a_version_in_and_removes_the_old(tmp_path):
    out = make_version(tmp_path / "out", "old")
    staging = make_version(swap.staging_dir(out), "new")
    how = swap.place(staging, out)
    assert how == ("exchange" if sys.platform.startswith("linux") else "renames")
    assert json.loads((out / "manifest.json").read_text()) == {"label": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_readers_always_find_a_whole_version_while_versions_are_swapped(tmp_path):
    if not swap.exchange(make_version(tmp_path / "a", "a"), make_version(tmp_path / "b", "b")):
        pytest.skip("this filesystem cannot exchange directories: the two-rename fallback has a gap")
    out = make_version(tmp_path / "out", "v0")
    reader = subprocess.Popen([sys.executable, "-c", READER, str(out), str(tmp_path / "stop")],
                              stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline() == "reading\n"  # it is reading before the first swap
    for i in range(1, 301):
        swap.place(make_version(swap.staging_dir(out), f"v{i}"), out)
    (tmp_path / "stop").write_text("")
    reads, misses = map(int, reader.communicate(timeout=60)[0].split())
    assert reads > 0 and misses == 0
    assert json.loads((out / "manifest.json").read_text()) == {"label": "v300"}


def test_what_dead_builds_left_is_removed_and_a_live_build_is_not(tmp_path):
    out = make_version(tmp_path / "out", "old")
    live = swap.staging_dir(out)
    live.mkdir()
    swap.claim(live)  # this process: alive
    dead = swap.staging_dir(out)
    dead.mkdir()
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    (dead / swap.OWNER).write_text(json.dumps({"host": os.uname().nodename, "pid": exited.pid, "start": "1"}))
    unowned = make_version(swap.staging_dir(out), "swapped out")  # an old version a swap left behind
    other = tmp_path / ".other.tmp-12345678"  # another OUT's staging: not ours to judge
    other.mkdir()
    assert swap.remove_stale(out) == sorted([dead, unowned])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name, other.name])


@pytest.mark.parametrize("master, expected", [
    ("local", "local[1,4]"), ("local[2]", "local[2,4]"), ("local[*]", "local[*,4]"), ("local[ 3 ]", "local[3,4]"),
    ("local[2,7]", "local[2,7]"), ("spark://host:7077", "spark://host:7077"), ("local-cluster[2,1,1024]",
                                                                               "local-cluster[2,1,1024]")])
def test_local_masters_retry_failed_tasks(master, expected):
    assert with_retries(master, 4) == expected
