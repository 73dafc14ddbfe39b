"""Arrow's allocator in a whole build: pyarrow's default (mimalloc in its wheels) against jemalloc,
which `spark_session` makes the allocator of the driver and of Spark's Python workers.

    python bench/arrow_pool.py                      # bench/out/lakh10k (made by bench/scale.py), 3 rounds
    python bench/arrow_pool.py --folder DIR --rounds 5
    python bench/arrow_pool.py --micro              # only the staged-row write path, in this process

Whole builds: `symcorpus build DIR --no-cache --spark-master local[2]` in fresh processes, the two
allocators alternating (ARROW_DEFAULT_MEMORY_POOL set for the build and everything it starts; the
session leaves a value the user set alone), each build after the files were read once, untimed.
Printed: the median of each side's wall seconds and CPU seconds (all processes, by role), peak memory.

`--micro`: the staged rows' round trip of a build (spark/staging.py) on the train shard of a
published version: write them as the staging file (lz4, batches of 256), then
`staging.write_corpus_shard` (read back, take every row, sort, write the zstd corpus shard); CPU ms
per row of each for each allocator, each in a fresh process,
alternating, the median of the rounds and the range of their totals (the default allocator's cost
varies from one process to the next, so the fastest round would hide it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import OUT, read_through, run_build  # noqa: E402

POOLS = ("mimalloc", "jemalloc")  # pyarrow's default, ours

MICRO = r"""
import sys, time
import pyarrow as pa, pyarrow.parquet as pq
from symcorpus.spark.staging import STAGED, STAGED_OPTIONS, write_corpus_shard
table = pq.read_table(sys.argv[1]).select(STAGED.names).cast(STAGED)
tmp = sys.argv[2]
n = table.num_rows
times = {}
def clock(label, f):
    c = time.process_time(); f(); times[label] = (time.process_time() - c) / n * 1e3
def stage():  # what stage_batches writes for one task (it needs a running Spark task itself)
    w = pq.ParquetWriter(f"{tmp}/staged.parquet", STAGED, **STAGED_OPTIONS)
    for b in table.to_batches(256):
        w.write_table(pa.Table.from_batches([b]).cast(STAGED))
    w.close()
clock("stage", stage)
# The write stage's own function: read back, take, sort, write the zstd corpus shard.
clock("shard", lambda: write_corpus_shard((("staged.parquet", i) for i in range(n)), tmp, f"{tmp}/shard.parquet", "train"))
print(pa.default_memory_pool().backend_name, n, " ".join(f"{k}={v:.4f}" for k, v in times.items()))
"""


def micro(shard: Path, rounds: int) -> dict:
    """CPU ms per row of each part of the staged rows' round trip, per allocator (medians)."""
    tmp = OUT / "arrow_pool_micro"
    tmp.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, float]]] = {pool: [] for pool in POOLS}
    for _ in range(rounds):
        for pool in POOLS:
            env = dict(os.environ, ARROW_DEFAULT_MEMORY_POOL=pool)
            proc = subprocess.run([sys.executable, "-c", MICRO, str(shard), str(tmp)], capture_output=True,
                                  text=True, env=env, check=True)
            backend, n, *parts = proc.stdout.split()
            assert backend == pool, proc.stdout
            times = {k: float(v) for k, v in (p.split("=") for p in parts)}
            times["total"] = sum(times.values())
            runs[pool].append(times)
    medians = {pool: {k: round(statistics.median(t[k] for t in ts), 4) for k in ts[0]} for pool, ts in runs.items()}
    for pool, times in medians.items():
        totals = [t["total"] for t in runs[pool]]
        print(f"{pool:9s} rows {n}, median of {rounds}: " + ", ".join(f"{k} {v:.3f}" for k, v in times.items())
              + f" CPU ms per row (totals {min(totals):.3f}-{max(totals):.3f})")
    return {"rows": int(n), "cpu_ms_per_row_median": medians,
            "total_range": {pool: [round(min(t["total"] for t in ts), 4), round(max(t["total"] for t in ts), 4)]
                            for pool, ts in runs.items()}}


def builds(folder: Path, rounds: int, params: Path) -> dict:
    runs: dict[str, list[dict]] = {pool: [] for pool in POOLS}
    files = sum(1 for _ in folder.rglob("*.mid"))
    for r in range(rounds):
        for pool in POOLS:
            os.environ["ARROW_DEFAULT_MEMORY_POOL"] = pool
            read_through(folder)
            run = run_build(folder, OUT / "arrow_pool_corpus", 2, params)
            runs[pool].append(run)
            print(f"  round {r + 1} {pool:9s} {run['seconds']:6.1f} s wall, {run['cpu_s']:6.1f} s CPU "
                  f"({', '.join(f'{k} {v:.1f}' for k, v in sorted(run['cpu_by_role'].items()))})", flush=True)
    os.environ.pop("ARROW_DEFAULT_MEMORY_POOL")
    result = {}
    for pool, rs in runs.items():
        roles = sorted({k for r in rs for k in r["cpu_by_role"]})
        result[pool] = {
            "wall_s": round(statistics.median(r["seconds"] for r in rs), 1),
            "cpu_s": round(statistics.median(r["cpu_s"] for r in rs), 1),
            "cpu_s_by_role": {k: round(statistics.median(r["cpu_by_role"].get(k, 0.0) for r in rs), 1) for k in roles},
            "peak_mb": {k: max(r["memory"][k] for r in rs) for k in rs[0]["memory"]},
            "counts": rs[0]["manifest"]["counts"],
        }
        print(f"{pool:9s} median of {rounds}: {result[pool]['wall_s']} s wall, {result[pool]['cpu_s']} s CPU "
              f"({files / result[pool]['wall_s'] / 2:.1f} files/s per core), by role {result[pool]['cpu_s_by_role']}, "
              f"peak MB {result[pool]['peak_mb']}")
    assert runs["mimalloc"][0]["manifest"]["counts"] == runs["jemalloc"][0]["manifest"]["counts"]
    return {"files": files, "rounds": rounds, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=OUT / "lakh10k")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--micro", action="store_true", help="only the staged rows' round trip")
    args = parser.parse_args()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.micro:
        shard = next((OUT / "arrow_pool_corpus" / "corpus" / "train").glob("*.parquet"), None)
        if shard is None:
            raise SystemExit("no published shard yet: run the builds first (without --micro)")
        result = {"micro": micro(shard, args.rounds)}
    else:
        if not args.folder.exists():
            raise SystemExit(f"{args.folder} does not exist: make it with `python bench/scale.py --sizes 10000`")
        result = {"builds": builds(args.folder, args.rounds, args.params)}
    result["date"] = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M+00:00}"
    name = "arrow_pool_micro.json" if args.micro else "arrow_pool.json"
    (OUT / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
