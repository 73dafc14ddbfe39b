"""Dedup at scale: `symcorpus build` at 10K, 50K and 100K records, against a single-process
datasketch MinHash LSH over the same files.

Records are music21's tunes (rendered by our converter) and variants of them (every kind in
symcorpus.testing.variants.MUST_MATCH), so duplicates are plentiful, as in a scraped corpus. Our
build runs with the parse cache off; the manifest gives the dedup stage's own seconds; the driver's memory is read after the build
(the JVM heap in use once cached blocks are dropped and a GC has run — local mode shares one JVM
between driver and executor — and the Python driver's peak RSS). The datasketch side does the same
dedup work in one process: parse, the same shingles, MinHash (same permutations), LSH with the same
bands x rows, verification at the same threshold, union-find clusters. Our build does more (hashing,
summaries, Parquet), so the comparison is tilted towards the peer.
`ratio_per_core` is datasketch's seconds over the build's seconds times the cores it ran on.

    python bench/dedup_scale.py                    # 10K, 50K, 100K
    python bench/dedup_scale.py --sizes 10000      # one size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_midi import base_midi  # noqa: E402

from symcorpus.testing.variants import MUST_MATCH  # noqa: E402

OUT = Path("bench/out")
CORES = os.cpu_count() or 1  # the build runs on local[CORES]; its time counts CORES cores


def make_records(n: int) -> Path:
    """`n` MIDI files: every base tune once, then variants of random kinds until n."""
    folder = OUT / f"scale_{n // 1000}k"
    if folder.exists() and sum(1 for _ in folder.rglob("*.mid")) == n:
        return folder
    rng = np.random.default_rng(11)
    bases = base_midi()
    kinds = list(MUST_MATCH)
    for i in range(n):
        base = bases[i % len(bases)]
        data = base if i < len(bases) else MUST_MATCH[kinds[int(rng.integers(len(kinds)))]](base, rng)
        path = folder / f"{i // 1000:03d}" / f"r{i:06d}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def run_ours(folder: Path) -> dict:
    """Our build in a fresh process (Spark start-up included), with its driver memory."""
    code = f"""
import gc, json, resource, sys, time
from symcorpus.config import load_settings
from symcorpus.spark.build import build
settings = load_settings("params.yaml")
settings.spark.master = "local[{CORES}]"
t = time.perf_counter()
result = build([{str(folder)!r}], {str(OUT / 'dedup_scale_corpus')!r}, settings, overwrite=True, use_cache=False)
seconds = time.perf_counter() - t
from pyspark.sql import SparkSession
sc = SparkSession.getActiveSession().sparkContext
# Local mode runs driver and executor in one JVM: drop cached and checkpointed blocks (executor
# state), so the heap left after a GC is what the driver itself holds on to.
for rdd in list(sc._jsc.getPersistentRDDs().values()):
    rdd.unpersist(True)
jvm = sc._jvm
jvm.java.lang.System.gc()
rt = jvm.java.lang.Runtime.getRuntime()
print(json.dumps({{"seconds": seconds, "counts": result.counts, "stage_seconds": result.manifest["stage_seconds"],
    "dedup": result.manifest["dedup"], "driver_jvm_heap_used_mb": (rt.totalMemory() - rt.freeMemory()) / 2**20,
    "driver_python_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_datasketch(folder: Path) -> dict:
    """The same dedup in one process with datasketch's MinHash and MinHashLSH."""
    code = f"""
import json, time, resource
from pathlib import Path
import numpy as np, symusic
from datasketch import MinHash, MinHashLSH
from symcorpus.config import load_settings
from symcorpus.music.notes import note_table, quarter_notes
from symcorpus.music.fingerprint import shingles
d = load_settings("params.yaml").dedup
files = sorted(Path({str(folder)!r}).rglob("*.mid"))
t = time.perf_counter()
lsh = MinHashLSH(threshold=d.threshold, num_perm=d.num_perm, params=(d.bands, d.rows))
signatures, parent = {{}}, list(range(len(files)))
def find(i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i
for i, path in enumerate(files):
    score = symusic.Score.from_midi(path.read_bytes())
    table = note_table(score)
    s = shingles(quarter_notes(table, max(score.ticks_per_quarter, 1)), d.shingle_size)
    m = MinHash(num_perm=d.num_perm, seed=d.seed)
    m.update_batch([int(x).to_bytes(8, "little") for x in s])
    for j in lsh.query(m):
        if m.jaccard(signatures[j]) >= d.threshold:
            parent[find(i)] = find(j)
    lsh.insert(i, m)
    signatures[i] = m
clusters = len({{find(i) for i in range(len(files))}})
print(json.dumps({{"seconds": time.perf_counter() - t, "clusters": clusters,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--peer-sizes", type=int, nargs="*", default=None,
                        help="sizes at which to run datasketch too (default: all)")
    args = parser.parse_args()
    peer_sizes = args.sizes if args.peer_sizes is None else args.peer_sizes
    rows = []
    for n in args.sizes:
        folder = make_records(n)
        ours = run_ours(folder)
        peer = run_datasketch(folder) if n in peer_sizes else None
        row = {
            "records": n,
            "build_s": round(ours["seconds"], 1),
            "dedup_stage_s": ours["stage_seconds"]["dedup"],
            "ingest_parse_annotate_s": ours["stage_seconds"]["ingest_parse_annotate"],
            "kept": ours["counts"]["kept"],
            "duplicates": ours["counts"]["duplicates"],
            "near_candidate_pairs": ours["dedup"].get("near_candidate_pairs"),
            "driver_jvm_heap_used_mb": round(ours["driver_jvm_heap_used_mb"]),
            "driver_python_peak_rss_mb": round(ours["driver_python_peak_rss_mb"]),
        }
        if peer:
            row.update({"datasketch_s": round(peer["seconds"], 1), "datasketch_clusters": peer["clusters"],
                        "datasketch_peak_rss_mb": round(peer["peak_rss_mb"]),
                        # per core against per core: the build ran on CORES cores, datasketch on one
                        "ratio_per_core": round(peer["seconds"] / (ours["seconds"] * CORES), 2)})
        rows.append(row)
        print(json.dumps(row))
    base = rows[0]
    for row in rows[1:]:
        growth = row["dedup_stage_s"] / base["dedup_stage_s"]
        print(f"{row['records'] // base['records']}x records -> dedup stage {growth:.1f}x time")
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "rows": rows}
    (OUT / "dedup_scale.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
