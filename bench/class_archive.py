"""The local JVM with and without its class-data archive (spark/class_archive.py), alternating.

    python bench/class_archive.py                 # start a session + its first job, 3 times each way
    python bench/class_archive.py --abc-build     # also the build of music21's ABC tunes, 2 times each way

Each measurement runs in a fresh process. "With": the archive `make` made (made first if missing).
"Without": SYMCORPUS_CACHE pointed at an empty folder, so the JVM starts as it did before the archive.
Start: a local[2] session, then a small group-by job; printed are the seconds to the session, to the
end of the job, and the JVM's CPU seconds by then. The ABC build: `symcorpus build music21` with
`ingest.music21.formats: [abc]` (bench/abc_build.py's `run_build`), its wall seconds, stages, and
the CPU seconds of the JVM, the Python workers and the driver.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from abc_build import run_build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"

START = """
import os, sys, time
started = time.perf_counter()
from symcorpus.config import load_settings
from symcorpus.spark.session import spark_session
spark = spark_session(load_settings(None).spark, "local[2]")
session = time.perf_counter()
spark.range(100_000).selectExpr("id % 7 AS k").groupBy("k").count().collect()
job = time.perf_counter()
stat = open(f"/proc/{spark.sparkContext._gateway.proc.pid}/stat").read()
fields = stat[stat.rindex(")") + 2:].split()
cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
print(f"{session - started:.2f} {job - started:.2f} {cpu:.2f}")
"""


def env_for(with_archive: bool, empty: str) -> dict[str, str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SYMCORPUS_LOG_DIR": str(OUT / "logs")}
    if not with_archive:
        env["SYMCORPUS_CACHE"] = empty
    return env


def start(with_archive: bool, empty: str) -> tuple[float, float, float]:
    done = subprocess.run([sys.executable, "-c", START], cwd=ROOT, env=env_for(with_archive, empty),
                          capture_output=True, text=True, check=True)
    session, job, cpu = map(float, done.stdout.split()[-3:])
    return session, job, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="start-ups each way")
    parser.add_argument("--abc-build", action="store_true", help="also build music21's ABC tunes, twice each way")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    made = subprocess.run([sys.executable, "-m", "symcorpus.spark.archive_classes"], cwd=ROOT,
                          env=env_for(True, ""), capture_output=True, text=True, check=True)
    print(made.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    with tempfile.TemporaryDirectory() as empty:
        for _ in range(args.repeats):
            for with_archive in (True, False):
                session, job, cpu = start(with_archive, empty)
                print(f"start  {'with   ' if with_archive else 'without'} archive: session {session:5.2f} s, "
                      f"first job done {job:5.2f} s, JVM CPU {cpu:5.2f} s", flush=True)
        if args.abc_build:
            for _ in range(2):
                for with_archive in (True, False):
                    b = run_build(2, env_for(with_archive, empty))
                    m = b["manifest"]
                    cpu = ", ".join(f"{k} {v:.1f}" for k, v in sorted(b["cpu_by_process"].items()))
                    print(f"ABC build {'with   ' if with_archive else 'without'} archive: {b['seconds']:5.1f} s, "
                          f"{m['counts']['input'] / b['seconds'] / 2:6.1f} tunes/s per core, stages {m['stage_seconds']}, "
                          f"CPU s: {cpu}", flush=True)


if __name__ == "__main__":
    main()
