"""The whole build at Lakh size: `symcorpus build` against a bare symusic loop on the same files, in
the same run, at 10K, 50K and 100K files of bench/make_corpus.py (multi-track, ~3,500 notes, ~27 KB
each, 10% planted duplicates).

    python bench/scale.py                          # 10K, 50K, 100K
    python bench/scale.py --sizes 10000 --cores 2  # one size
    python bench/scale.py --folder DIR             # files someone else made (no planted manifest needed)

Ours: `symcorpus build DIR --no-cache --spark-master local[CORES]` in a fresh process, as a user runs
it (Spark start-up, listing, every step, dedup, publishing). The peer: one plain Python process that
reads each file, takes its sha256, parses it with symusic, makes a summary (tracks, notes, seconds,
tempo, metre, programs, drums) and writes everything, bytes included, to one zstd Parquet file.
Pieces/s per core: ours over CORES, the peer's over 1. Both run in fresh processes, once per size
(`--repeats R`: R alternating runs each, the median reported), each after the files were read once,
untimed, so that both start from the page cache.

Printed per size: both rates and their ratio, the build's stage seconds (manifest), its peak memory
(driver Python, the JVM that local mode shares between driver and executor, Python workers), and the
planted duplicates found in the same cluster as the file they copy, by level. Then a linear model
of the build's time (fixed cost + core-seconds per file) extrapolated to 1M files on 2 and 64 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_corpus import MANIFEST, make_corpus  # noqa: E402

OUT = Path("bench/out")


# --------------------------------------------------------------------------------------------------
# The peer: one plain process


def bare_loop(folder: Path, out: Path) -> int:
    """Read, sha256, symusic parse, a summary, one Parquet file: what a one-process script does."""
    import numpy as np
    import symusic

    rows = []
    for path in sorted(folder.rglob("*.mid")):
        data = path.read_bytes()
        row = {"id": hashlib.sha256(data).hexdigest(), "path": str(path.relative_to(folder)), "content": data}
        try:
            score = symusic.Score.from_midi(data)
        except Exception as e:  # noqa: BLE001 - a bad file is a row with its error, as in ours
            rows.append({**row, "error": str(e)})
            continue
        tempos = score.tempos.numpy()
        ticks, mspq = tempos["time"].astype(np.int64), tempos["mspq"].astype(np.float64)
        if len(ticks) == 0 or ticks[0] > 0:
            ticks, mspq = np.concatenate([[0], ticks]), np.concatenate([[500_000.0], mspq])
        end = score.end()
        tpq = max(score.ticks_per_quarter, 1)
        upto = np.minimum(np.append(ticks[1:], end), end) - ticks
        seconds = float((np.maximum(upto, 0) * mspq).sum() / tpq / 1e6)
        ts = score.time_signatures.numpy()
        tracks = [t for t in score.tracks if t.note_num()]
        rows.append({**row, "n_tracks": len(tracks), "n_notes": score.note_num(), "duration_seconds": seconds,
                     "tempo_bpm": float(6e7 / mspq[0]),
                     "time_signature": f"{ts['numerator'][0]}/{ts['denominator'][0]}" if len(ts["time"]) else "4/4",
                     "programs": sorted({t.program for t in tracks if not t.is_drum}),
                     "has_drums": any(t.is_drum for t in tracks), "ticks_per_beat": score.ticks_per_quarter})
    pq.write_table(pa.Table.from_pylist(rows), out, compression="zstd")
    return len(rows)


def read_through(folder: Path) -> None:
    """Read every file once, untimed: a build writes gigabytes and can push the sources out of the
    page cache, and a cold read (3-4 times slower on the VM of BENCHMARKS.md) would favour whichever
    side runs second."""
    for path in folder.rglob("*.mid"):
        path.read_bytes()


def run_bare(folder: Path) -> dict:
    """The peer in a fresh process (imports included, as for ours)."""
    out = OUT / "scale_bare.parquet"
    code = (f"import sys, time; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            f"from pathlib import Path; from scale import bare_loop; "
            f"n = bare_loop(Path({str(folder)!r}), Path({str(out)!r})); print(n)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bare loop failed:\n{proc.stderr[-3000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"seconds": seconds, "cpu_s": cpu, "files": int(proc.stdout.strip().splitlines()[-1])}


# --------------------------------------------------------------------------------------------------
# Ours: the build as a user runs it


class TreeMemory:
    """Peak RSS of a process and its descendants, sampled every 0.2 s, by role; and the CPU seconds
    they used (each process's last sample: a process that ends between samples loses < 0.2 s). A
    Python worker's CPU includes what its reaped children used that was not sampled (abc2midi runs,
    too short to sample), but not the forked children that were sampled (an isolated batch's child
    counts once, as itself); the pyspark daemon's children are the workers, counted themselves.
    After `stop`, `python_split` divides the Python workers' CPU seconds by tier: the daemon (the
    JVM's child), the workers it forks, and the isolated children the workers fork (steps/guard.py),
    each with the short-lived processes it reaped (abc2midi)."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak = Counter()
        # pid -> (role, parent pid, own CPU seconds, reaped children's CPU seconds) at its last sample
        self.cpu: dict[int, tuple[str, int, float, float]] = {}
        self.tier: dict[int, str] = {}  # Python worker pid -> daemon | workers | isolated children
        self.python_split: dict[str, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.done.wait(0.2):
            now = Counter()
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    times = p.cpu_times()
                    role = ("driver_python" if p.pid == self.root.pid else
                            "jvm" if "java" in p.name() else "python_workers")
                    reaped = 0.0
                    if role == "python_workers" and "java" not in psutil.Process(p.ppid()).name():
                        reaped = times.children_user + times.children_system
                    if role == "python_workers" and p.pid not in self.tier:
                        self.tier[p.pid] = self._tier(p)
                    self.cpu[p.pid] = (role, p.ppid(), times.user + times.system, reaped)
                except psutil.NoSuchProcess:
                    continue
                now[role] += rss
            for role, rss in now.items():
                self.peak[role] = max(self.peak[role], rss)

    @staticmethod
    def _tier(p: psutil.Process) -> str:
        """How far below the JVM a Python worker process is: its daemon, a worker, an isolated child."""
        parent = psutil.Process(p.ppid())
        if "java" in parent.name():
            return "daemon"
        return "workers" if "java" in psutil.Process(parent.ppid()).name() else "isolated children"

    def stop(self) -> tuple[dict[str, int], dict[str, float]]:
        self.done.set()
        self.thread.join()
        sampled_children: Counter = Counter()  # parent pid -> CPU of its children that were sampled
        for _, parent, own, _ in self.cpu.values():
            sampled_children[parent] += own
        cpu: Counter = Counter()
        split: Counter = Counter()
        for pid, (role, _, own, reaped) in self.cpu.items():
            used = own + max(reaped - sampled_children[pid], 0.0)
            cpu[role] += used
            if role == "python_workers":
                split[self.tier.get(pid, "workers")] += used
        self.python_split = {tier: round(seconds, 2) for tier, seconds in sorted(split.items())}
        return {f"{role}_peak_mb": round(rss / 2**20) for role, rss in sorted(self.peak.items())}, dict(cpu)


def run_build(folder: Path, out: Path, cores: int, params: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "symcorpus.cli", "build", str(folder), "--out", str(out), "--no-cache",
           "--spark-master", f"local[{cores}]", "--params", str(params)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(proc.pid)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    peaks, cpu = memory.stop()
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": seconds, "cpu_s": sum(cpu.values()), "cpu_by_role": cpu, "manifest": manifest, "memory": peaks}


def clusters_of(out: Path) -> dict[str, str]:
    """path -> cluster id of every kept piece, every duplicate and every reject (a rejected piece
    that dedup saw represents its cluster, whose id is its own: spark/dedup.py)."""
    cluster = {r["path"]: r["id"] for r in pq.read_table(out / "rejects", columns=["path", "id"]).to_pylist()}
    cluster.update({r["path"]: r["dedup_cluster"] for r in pq.read_table(out / "corpus", columns=["path", "dedup_cluster"]).to_pylist()})
    cluster.update({r["path"]: r["cluster_id"] for r in pq.read_table(out / "duplicates", columns=["path", "cluster_id"]).to_pylist()})
    return cluster


def rejected_paths(out: Path) -> set[str]:
    """Paths in the rejects table."""
    return set(pq.read_table(out / "rejects", columns=["path"]).column("path").to_pylist())


def planted_caught(out: Path, manifest: dict) -> dict:
    """Planted duplicates in the cluster of the file they copy, by level; files merged wrongly.

    Dedup comes before the quality filter, so a byte or same-notes copy of a rejected piece is caught
    like any other; at the near level a group where every member fails joins the cluster it resembles
    most, as a leaf (spark/dedup.py). A planted file
    that is not with its original is `filtered` when the rejects table holds it or its original,
    else `missed` by dedup."""
    cluster = clusters_of(out)
    rejected = rejected_paths(out)
    caught, total, missed, filtered = Counter(), Counter(), [], []
    for path, info in manifest["planted"].items():
        total[info["level"]] += 1
        if path in cluster and cluster.get(path) == cluster.get(info["of"]):
            caught[info["level"]] += 1
        elif path in rejected or info["of"] in rejected:
            filtered.append(path)
        else:
            missed.append(path)
    # Distinct pieces (neither planted nor copied) should each be alone in their cluster.
    related = set(manifest["planted"]) | {i["of"] for i in manifest["planted"].values()}
    families: dict[str, set[str]] = {}
    for path, c in cluster.items():
        family = manifest["planted"][path]["of"] if path in manifest["planted"] else path
        families.setdefault(c, set()).add(family)
    wrongly_merged = sum(len(f) - 1 for f in families.values() if len(f) > 1)
    return {"caught": dict(caught), "planted": dict(total), "missed": missed[:20], "filtered": filtered[:20],
            "filtered_count": len(filtered), "missed_count": len(missed),
            "distinct_files_merged_wrongly": wrongly_merged, "related_files": len(related)}


def missed_similarity(folder: Path, manifest: dict, missed: list[str], params: Path) -> list[dict]:
    """For each planted near duplicate dedup missed: its shingle sets' true Jaccard similarity to its
    original and the signatures' estimate, which the near level compares with its threshold."""
    import numpy as np

    from symcorpus.config import load_settings
    from symcorpus.music.fingerprint import jaccard, packed_similarities, shingle_hashes
    from symcorpus.music.notes import note_table, quarter_notes
    from symcorpus.music.parse import Limits, parse_piece
    from symcorpus.steps.fingerprint import fingerprints

    dedup = load_settings(params).dedup

    def sketch(path: str) -> tuple[np.ndarray, bytes]:
        piece = parse_piece((folder / path).read_bytes(), "midi", Limits())
        table, tpq = note_table(piece.score), int(piece.score.ticks_per_quarter)
        return shingle_hashes(quarter_notes(table, tpq), dedup.shingle_size), fingerprints(table, tpq, dedup)["minhash"]

    pairs = []
    for path in missed:
        (a, sig_a), (b, sig_b) = sketch(path), sketch(manifest["planted"][path]["of"])
        pairs.append({"path": path, "kind": manifest["planted"][path]["kind"], "jaccard": round(jaccard(a, b), 3),
                      "estimate": round(float(packed_similarities([sig_a], [sig_b])[0]), 3),
                      "threshold": dedup.threshold})
    return pairs


# --------------------------------------------------------------------------------------------------


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares fixed seconds and seconds per file of the build (one point: no fixed cost)."""
    if len(points) == 1:
        n, s = points[0]
        return 0.0, s / n
    mean_n = statistics.fmean(n for n, _ in points)
    mean_s = statistics.fmean(s for _, s in points)
    slope = sum((n - mean_n) * (s - mean_s) for n, s in points) / sum((n - mean_n) ** 2 for n, _ in points)
    return max(mean_s - slope * mean_n, 0.0), slope


def recount(folder: Path, params: Path) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    built = json.loads((OUT / "scale_corpus" / "manifest.json").read_text())
    if built["counts"]["input"] != len(list(folder.rglob("*.mid"))):
        raise SystemExit(f"{OUT / 'scale_corpus'} was not built from {folder} (its input count differs)")
    counts = planted_caught(OUT / "scale_corpus", manifest)
    print(json.dumps({k: v for k, v in counts.items() if k != "missed"}, indent=1))
    for pair in missed_similarity(folder, manifest, counts["missed"], params):
        print(f"  missed {pair['path']} ({pair['kind']}): Jaccard {pair['jaccard']}, estimate {pair['estimate']}, "
              f"threshold {pair['threshold']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--folder", type=Path, default=None, help="run on this folder of MIDI files instead")
    parser.add_argument("--cores", type=int, default=2, help="Spark's local[CORES] (default 2)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--recount", type=Path, default=None, metavar="FOLDER",
                        help="no build: count the planted duplicates of the last build's output against "
                             "FOLDER's manifest, with the similarity of each pair dedup missed")
    args = parser.parse_args()
    if args.recount:
        recount(args.recount, args.params)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; build on local[{args.cores}]")
    folders = ([(args.folder, None)] if args.folder else
               [(OUT / f"lakh{n // 1000}k", n) for n in args.sizes])
    rows = []
    for folder, n in folders:
        manifest = make_corpus(n, folder, args.seed) if n else (
            json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).exists() else None)
        files = sum(1 for _ in folder.rglob("*.mid"))
        size_mb = sum(p.stat().st_size for p in folder.rglob("*.mid")) / 1e6
        bare_runs, build_runs = [], []
        for _ in range(args.repeats):
            read_through(folder)
            bare_runs.append(run_bare(folder))
            read_through(folder)
            build_runs.append(run_build(folder, OUT / "scale_corpus", args.cores, args.params))
        bare = sorted(bare_runs, key=lambda r: r["seconds"])[len(bare_runs) // 2]
        bare_s = bare["seconds"]
        build = sorted(build_runs, key=lambda r: r["seconds"])[len(build_runs) // 2]
        m = build["manifest"]
        ours_per_core = files / build["seconds"] / args.cores
        bare_per_core = files / bare_s
        row = {
            "files": files, "mb": round(size_mb, 1), "build_s": round(build["seconds"], 1), "bare_s": round(bare_s, 1),
            "build_per_core": round(ours_per_core, 1), "bare_per_core": round(bare_per_core, 1),
            "ratio": round(ours_per_core / bare_per_core, 3),
            # CPU time of every process each side ran: steadier than wall time on a shared machine.
            "build_cpu_ms_per_file": round(build["cpu_s"] / files * 1000, 2),
            "build_cpu_ms_per_file_by_process": {k: round(v / files * 1000, 2) for k, v in build["cpu_by_role"].items()},
            "bare_cpu_ms_per_file": round(bare["cpu_s"] / files * 1000, 2),
            "stage_seconds": m["stage_seconds"], "build_seconds_in_manifest": m.get("build_seconds"),
            "counts": m["counts"], "memory": build["memory"],
            "near_candidate_pairs": m["dedup"].get("near_candidate_pairs"),
        }
        if manifest is not None:
            row["planted"] = planted_caught(OUT / "scale_corpus", manifest)
        rows.append(row)
        print(f"\n{files:,} files ({size_mb:,.0f} MB)")
        print(f"  symcorpus build  {row['build_s']:8.1f} s  {ours_per_core:8.1f} pieces/s per core  "
              f"stages {m['stage_seconds']}")
        print(f"  bare symusic     {row['bare_s']:8.1f} s  {bare_per_core:8.1f} pieces/s per core")
        print(f"  ratio (per core) {row['ratio']:.3f}   counts {m['counts']}")
        print(f"  CPU per file     build {row['build_cpu_ms_per_file']} ms, bare {row['bare_cpu_ms_per_file']} ms "
              f"(ratio {row['bare_cpu_ms_per_file'] / row['build_cpu_ms_per_file']:.3f}); build by process "
              f"{row['build_cpu_ms_per_file_by_process']}")
        print(f"  peak memory      {build['memory']}")
        if "planted" in row:
            p = row["planted"]
            print("  planted caught   " + ", ".join(f"{p['caught'].get(k, 0):,} of {v:,} {k}"
                                                 for k, v in sorted(p["planted"].items()))
                  + f"; not with their original: {p['missed_count']} missed by dedup, {p['filtered_count']} "
                  f"missed with the copy or its original in rejects; distinct files merged wrongly: "
                  f"{p['distinct_files_merged_wrongly']}")
    fixed, per_file = fit([(r["files"], r["build_s"]) for r in rows])
    core_s = per_file * args.cores
    print(f"\nbuild time model: {fixed:.1f} s fixed + {core_s * 1000:.2f} core-ms per file")
    for cores in (2, 64):
        seconds = fixed + core_s * 1_000_000 / cores
        print(f"  1M files on {cores:2d} cores: {seconds / 3600:6.2f} h "
              f"(per-file work spread over the cores; fixed cost and shuffles assumed not to grow)")
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="minutes"), "load_average": load,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", "cores": args.cores, "rows": rows,
              "model": {"fixed_s": fixed, "core_ms_per_file": core_s * 1000}}
    (OUT / "scale.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
