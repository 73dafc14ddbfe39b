"""`symcorpus build --spark-master spark://...` on a real standalone cluster publishes the same rows as
the embedded local mode.

The master and one worker are started on 127.0.0.1 with the scripts the pyspark wheel ships
(sbin/spark-daemon.sh, what start-master.sh / start-worker.sh call; the wheel has no start-*.sh),
and always stopped afterwards. Both builds run the installed `symcorpus` console script.
Marked e2e (`make test-e2e`), like the two-node Ray cluster: three JVMs and two CLI builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pyspark
import pytest

from tests.conftest import HUMDRUM_FILES, M21

SPARK_HOME = Path(pyspark.__file__).resolve().parent
DAEMON = SPARK_HOME / "sbin" / "spark-daemon.sh"
MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
SYMCORPUS = Path(sys.executable).parent / "symcorpus"
TABLES = ("corpus/train", "corpus/valid", "corpus/test", "duplicates", "rejects", "errors")
# Manifest fields that describe the run, not the data.
RUN_FIELDS = ("created", "build_seconds", "stage_seconds", "shards")

pytestmark = pytest.mark.e2e


def _bound_ports(log_dir: Path) -> tuple[int, int] | None:
    """(RPC port, web UI port) the master bound, read from its log, or None before it says.
    The master starts on port 0 for both, so no port is picked here and lost to another process
    before the master binds it."""
    text = "".join(p.read_text(errors="replace") for p in log_dir.glob(f"*{MASTER.rsplit('.', 1)[-1]}*.out"))
    rpc = re.search(r"Starting Spark master at spark://127\.0\.0\.1:(\d+)", text)
    webui = re.search(r"MasterWebUI.*? at http://[^:]+:(\d+)", text)
    return (int(rpc.group(1)), int(webui.group(1))) if rpc and webui else None


def _master_state(webui_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=5) as response:
        return json.loads(response.read())


def _pid(pid_dir: Path, cls: str) -> int | None:
    files = list(pid_dir.glob(f"*{cls}-1.pid"))
    return int(files[0].read_text().strip()) if files else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(master URL, master web UI port) of a running master with one 2-core worker."""
    if not DAEMON.is_file():
        pytest.fail(f"pyspark ships no {DAEMON}")
    base = tmp_path_factory.mktemp("spark-cluster")
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_MASTER_HOST": "127.0.0.1",
        "SPARK_LOG_DIR": str(base / "logs"),
        "SPARK_PID_DIR": str(base / "pids"),
        "SPARK_WORKER_DIR": str(base / "work"),  # executors' scratch space and logs
        "SPARK_IDENT_STRING": f"symcorpus-test-{os.getpid()}",
        "SPARK_WORKER_CORES": "2",
        "SPARK_WORKER_MEMORY": "2g",
        "SPARK_DAEMON_MEMORY": "512m",
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",  # no fixed REST port to collide on
        "PYSPARK_PYTHON": sys.executable,
    }

    def daemon(action: str, cls: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(DAEMON), action, cls, "1", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    def logs() -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-2000:]}" for p in sorted((base / "logs").glob("*")))

    try:
        started = daemon("start", MASTER, "--host", "127.0.0.1", "--port", "0", "--webui-port", "0")
        assert started.returncode == 0 and "failed to launch" not in started.stdout, started.stdout + logs()
        deadline = time.time() + 90
        while (ports := _bound_ports(base / "logs")) is None:
            if time.time() > deadline:
                pytest.fail(f"the master never said where it listens:\n{logs()}")
            time.sleep(0.5)
        port, webui = ports
        url = f"spark://127.0.0.1:{port}"
        started = daemon("start", WORKER, "--webui-port", "0", url)
        assert started.returncode == 0 and "failed to launch" not in started.stdout, started.stdout + logs()
        deadline = time.time() + 90
        while True:
            try:
                if _master_state(webui).get("aliveworkers", 0) >= 1:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"no worker registered with {url}:\n{logs()}")
            time.sleep(0.5)
        yield url, webui
    finally:
        # Stop what this fixture started (the pid files in its own SPARK_PID_DIR), worker first.
        for cls in (WORKER, MASTER):
            pid = _pid(base / "pids", cls)
            if pid is None:
                continue
            daemon("stop", cls)
            deadline = time.time() + 20
            while _alive(pid) and time.time() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def sources(tmp_path_factory, midi_from_abc) -> list[Path]:
    """A directory of real files in three formats (with an exact duplicate and a broken file), and
    a .tar.gz, which the build reads whole in one task and then shuffles."""
    root = tmp_path_factory.mktemp("cluster-src")
    folder = root / "songs"
    folder.mkdir()
    shutil.copy(M21 / "nottingham-dataset/reelsa-c.abc", folder / "reels.abc")
    shutil.copy(M21 / HUMDRUM_FILES[0], folder / "chorale.krn")
    for name, data in midi_from_abc[:6]:
        (folder / name).write_bytes(data)
    (folder / "again.mid").write_bytes(midi_from_abc[0][1])
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02")
    archive = root / "more.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in midi_from_abc[6:9]:
            path = root / name
            path.write_bytes(data)
            tar.add(path, f"midi/{name}")
    return [folder, archive]


PARAMS = (
    "spark:\n  driver_memory: 1g\n"
    "ingest:\n  cache_dir: null\n"  # both builds parse every record themselves
    "split:\n  train: 0.5\n  valid: 0.25\n  test: 0.25\n"  # every split gets rows to compare
)


def _start_build(sources: list[Path], out: Path, master: str) -> subprocess.Popen:
    """`symcorpus build` as a user runs it, in the background; its stderr goes to OUT.log."""
    params = out.parent / f"{out.name}.params.yaml"
    params.write_text(PARAMS)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "COLUMNS": "200"}
    cmd = [str(SYMCORPUS), "build", *map(str, sources), "--out", str(out), "--params", str(params),
           "--spark-master", master]
    log = open(out.parent / f"{out.name}.log", "w")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, out: Path) -> None:
    try:
        proc.wait(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (out.parent / f"{out.name}.log").read_text()[-4000:]


@pytest.fixture(scope="module")
def local_build(sources, tmp_path_factory):
    """The same build with the embedded local[2] Spark, started first so that it runs while the
    cluster starts (two cores here: overlapping the two saves most of a minute)."""
    out = tmp_path_factory.mktemp("local-build") / "local"
    proc = _start_build(sources, out, "local[2]")
    yield proc, out
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _digest(row: dict) -> str:
    text = json.dumps(row, sort_keys=True, default=lambda v: v.hex() if isinstance(v, bytes) else str(v))
    return hashlib.sha256(text.encode()).hexdigest()


def _published(out: Path) -> dict[str, list[str]]:
    """Sorted row digests of every published table."""
    return {table: sorted(_digest(r) for r in pq.read_table(out / table).to_pylist()) for table in TABLES}


def test_cluster_build_publishes_the_rows_of_local_mode(local_build, cluster, sources, tmp_path):
    url, webui = cluster
    cluster_out = tmp_path / "cluster"
    _finish(_start_build(sources, cluster_out, url), cluster_out)
    apps = _master_state(webui)
    assert [a["name"] for a in apps["completedapps"]] == ["symcorpus"]  # it really ran there
    assert apps["completedapps"][0]["cores"] == 2
    local_proc, local_out = local_build
    _finish(local_proc, local_out)

    cluster_rows, local_rows = _published(cluster_out), _published(local_out)
    assert cluster_rows == local_rows
    m_cluster = json.loads((cluster_out / "manifest.json").read_text())
    m_local = json.loads((local_out / "manifest.json").read_text())
    assert {k: v for k, v in m_cluster.items() if k not in RUN_FIELDS} == {
        k: v for k, v in m_local.items() if k not in RUN_FIELDS}
    assert [(s["path"], s["rows"]) for s in m_cluster["shards"]] == [(s["path"], s["rows"]) for s in m_local["shards"]]

    # the comparison covers every kind of row: kept pieces in each split, a duplicate, an error
    counts = m_cluster["counts"]
    assert all(len(cluster_rows[f"corpus/{s}"]) == counts["by_split"][s] > 0 for s in ("train", "valid", "test"))
    assert len(cluster_rows["duplicates"]) == counts["duplicates"] >= 1
    assert len(cluster_rows["errors"]) == counts["errors"] >= 1
    assert {s["name"] for s in m_cluster["sources"]} == {"songs", "more"}
