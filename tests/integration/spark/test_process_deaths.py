"""A build survives what kills processes: real deaths, end to end through the `symcorpus` CLI.

120 small MIDI files (music21 tunes converted by our code), embedded Spark local[2], batches of 8
records (16 batches in 4 partitions). Every build runs in its own session with a mark in its
environment, so the test can find every process it started and check that none outlives a kill.

    reference      a build in which one file segfaults its worker: that file is one error row
    worker         a Spark Python worker killed (kill -9, from outside) mid-stage: same shards
    resume         the CLI killed (kill -9) once half the batches are done, then run again: it
                   reuses the finished half and publishes the same shards; nothing is left behind
    publish        the CLI killed at each publish step while a reader in another process keeps
                   reading OUT: OUT is always the old version or the new one, whole

`make test` (CI) runs the reference build and its check; the three kill tests are marked e2e
(`make test-e2e`): they need 7 more builds. Spark builds dominate the time: 9 builds. Measured on the project's 2-core VM while other jobs kept
its load average at 25-50: 31 min in all (reference 383 s, worker 213 s, resume 292 s, publish
940 s for its 5 builds); a plain 120-file build took ~200 s under the same load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from symcorpus.music.abc_text import split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.spark.publish import PUBLISH_POINTS
from symcorpus.steps import faults

from tests.conftest import M21
from tests.processes import MARK, READER, marked_processes, wait_for, wait_for_no_processes

N_FILES = 120
BATCH = 8
SEGFAULTS = "piece_017.mid"  # kills whichever process parses it
HELD = "piece_090.mid"  # the worker parsing it is killed from outside


class Build:
    """`symcorpus build` as a user runs it, in its own session, with a mark in its environment."""

    def __init__(self, sources: list[Path], out: Path, params: Path, logs: Path, fault: str | None = None,
                 overwrite: bool = False):
        self.mark = uuid.uuid4().hex
        env = {k: v for k, v in os.environ.items() if k != faults.ENV}
        env.update({"COLUMNS": "200", MARK: self.mark, **({faults.ENV: fault} if fault else {})})
        logs.mkdir(parents=True, exist_ok=True)
        self.log = logs / f"build-{self.mark[:8]}.log"
        args = ["build", *map(str, sources), "--out", str(out), "--no-cache", "--params", str(params)]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "symcorpus.cli", *args, *(["--overwrite"] if overwrite else [])],
                                         stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait(self, timeout: float = 900) -> int:
        return self.proc.wait(timeout)

    @property
    def output(self) -> str:
        return self.log.read_text()

    def succeeded(self) -> None:
        assert self.wait() == 0, self.output[-3000:]


def content_id(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def whole_version(out: Path) -> list[tuple[str, str]]:
    """The (path, sha256) of every shard the manifest lists, each checked against its file."""
    assert (out / "_SUCCESS").exists()
    shards = json.loads((out / "manifest.json").read_text())["shards"]
    for shard in shards:
        assert hashlib.sha256((out / shard["path"]).read_bytes()).hexdigest() == shard["sha256"], shard["path"]
    return [(s["path"], s["sha256"]) for s in shards]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("deaths")
    src = root / "src"
    src.mkdir()
    tunes = [t for book in ("book2", "book3") for t in split_tunes((M21 / f"airdsAirs/{book}.abc").read_bytes())]
    for i, tune in enumerate(tunes[:N_FILES]):
        (src / f"piece_{i:03d}.mid").write_bytes(to_midi(tune.content, "abc"))
    (root / "params.yaml").write_text(f"spark:\n  master: local[2]\n  driver_memory: 1g\n  arrow_batch_size: {BATCH}\n")
    return root


@pytest.fixture(scope="module")
def reference(corpus) -> Path:
    """An undisturbed build, but for one file that segfaults whichever process parses it."""
    out = corpus / "reference" / "out"
    build = Build([corpus / "src"], out, corpus / "params.yaml", corpus / "logs",
                  fault=f"segv:{content_id(corpus / 'src' / SEGFAULTS)}")
    build.succeeded()
    return out


def test_a_file_that_segfaults_its_worker_is_one_error_row(corpus, reference):
    errors = pq.read_table(reference / "errors").to_pylist()
    assert [(e["path"], e["stage"], e["error"]) for e in errors] == [(SEGFAULTS, "parse", "crashed: signal 11 (SIGSEGV)")]
    published = [row for table in ("corpus/train", "corpus/valid", "corpus/test", "duplicates")
                 for row in pq.read_table(reference / table, columns=["path"]).to_pylist()]
    expected = {p.name for p in (corpus / "src").iterdir()} - {SEGFAULTS}
    assert sorted(r["path"] for r in published) == sorted(expected)  # every other file of every batch kept
    assert not hidden(reference.parent)  # no staging, no finished batches left


@pytest.mark.e2e
def test_a_worker_killed_mid_stage_costs_one_retry(corpus, reference, tmp_path):
    src = corpus / "src"
    marker = tmp_path / "held"
    build = Build([src], tmp_path / "out", corpus / "params.yaml", tmp_path / "logs",
                  fault=f"segv:{content_id(src / SEGFAULTS)},hold:{content_id(src / HELD)}:{marker}")
    _, worker = map(int, wait_for(lambda: marker.exists() and marker.read_text().split(), what="the held record"))
    assert "pyspark" in Path(f"/proc/{worker}/cmdline").read_bytes().decode()  # a Spark Python worker
    os.kill(worker, signal.SIGKILL)
    build.succeeded()
    assert whole_version(tmp_path / "out") == whole_version(reference)


@pytest.mark.e2e
def test_a_build_killed_halfway_reuses_what_it_finished(corpus, reference, tmp_path):
    out, fault = tmp_path / "out", f"segv:{content_id(corpus / 'src' / SEGFAULTS)}"
    work = tmp_path / ".out.work"
    build = Build([corpus / "src"], out, corpus / "params.yaml", tmp_path / "logs", fault=fault)
    wait_for(lambda: work.is_dir() and len(list(work.glob("*.arrow"))) >= N_FILES // BATCH // 2,
             what="half of the batches")
    os.kill(build.proc.pid, signal.SIGKILL)  # kill -9 of the CLI
    assert build.wait() == -signal.SIGKILL
    wait_for_no_processes(build.mark)  # no JVM, daemon, worker or isolated child outlives it
    finished = sorted(work.glob("*.arrow"))
    rows = sum(pa.ipc.open_file(pa.OSFile(str(p))).read_all().num_rows for p in finished)

    again = Build([corpus / "src"], out, corpus / "params.yaml", tmp_path / "logs", fault=fault)
    again.succeeded()
    resumed = json.loads((out / "manifest.json").read_text())["resumed"]
    assert resumed == {"records": rows, "batches_found": len(finished)}
    assert len(finished) >= N_FILES // BATCH // 2
    assert f"resumed: {rows:,} of {N_FILES:,} records reused" in again.output
    assert whole_version(out) == whole_version(reference)
    assert not hidden(tmp_path)  # the finished batches went once the version was published


@pytest.mark.e2e
def test_a_build_killed_at_each_publish_step_leaves_a_whole_version(corpus, reference, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    for path in sorted((corpus / "src").iterdir())[:12]:
        shutil.copy(path, small)
    params = tmp_path / "params.yaml"  # exact dedup only: the publish steps are what is tested
    params.write_text((corpus / "params.yaml").read_text() + "dedup:\n  levels: [exact]\n")
    out = tmp_path / "versions" / "out"
    shutil.copytree(reference, out)
    old = whole_version(out)
    new = None
    for point in (*PUBLISH_POINTS, None):
        reader = subprocess.Popen([sys.executable, "-c", READER, str(out), str(tmp_path / "stop")],
                                  stdout=subprocess.PIPE, text=True)
        assert reader.stdout.readline() == "reading\n"
        build = Build([small], out, params, tmp_path / "logs", fault=f"kill:{point}" if point else None,
                      overwrite=True)
        code = build.wait()
        (tmp_path / "stop").write_text("")
        reads, misses = map(int, reader.communicate(timeout=120)[0].split())
        (tmp_path / "stop").unlink()
        assert reads > 0 and misses == 0, point  # never a moment without a version
        if point is None:
            assert code == 0, build.output[-3000:]
            assert whole_version(out) == new
            assert not hidden(out.parent)  # what the killed builds staged is gone
            continue
        assert code == -signal.SIGKILL, build.output[-3000:]
        wait_for_no_processes(build.mark)
        if point == "publish-swap":
            new = whole_version(out)
            assert new != old
        else:
            assert whole_version(out) == old
        staged = [name for name in hidden(out.parent) if name.startswith(".out.tmp-")]
        assert len(staged) == 1, staged  # this build's own; the ones before it were removed
