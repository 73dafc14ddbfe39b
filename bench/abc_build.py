"""ABC collections at corpus scale: `symcorpus build` of music21's ~13,000 ABC tunes against a plain
one-process loop over the same tunes, in the same run.

    python bench/abc_build.py                 # build on local[2]
    python bench/abc_build.py --cores 1

Ours: `symcorpus build music21` with `ingest.music21.formats: [abc]`, parse cache off, in a fresh
process (Spark start-up, every step, dedup, publishing). The peer: one Python process that splits
each file into tunes (the same records), and for each tune takes its sha256, reads it with symusic's
`Score.from_abc` (abc2midi, once per tune), makes a summary and writes everything to one zstd
Parquet file. Tunes/s per core: ours over CORES, the peer's over 1; CPU seconds of every process
each side ran (abc2midi included) beside the wall times, and the Python workers' CPU by tier: their
daemon, the workers, and the isolated children that run the steps (scale.TreeMemory).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scale import TreeMemory  # noqa: E402

OUT = Path("bench/out")


def plain_loop(out: Path) -> int:
    """What a one-process script does with the ABC files: one abc2midi run per tune (symusic)."""
    import symusic

    from symcorpus.music.abc_text import decode_abc, split_tunes
    from symcorpus.sources.music21 import corpus_root

    root = corpus_root()
    rows = []
    for path in sorted(root.rglob("*.abc")):
        for tune in split_tunes(path.read_bytes()):
            row = {"id": hashlib.sha256(tune.content).hexdigest(), "path": f"{path.relative_to(root)}#{tune.index}",
                   "content": tune.content}
            try:
                score = symusic.Score.from_abc(decode_abc(tune.content))
            except Exception as e:  # noqa: BLE001 - a tune abc2midi cannot render is a row with its error
                rows.append({**row, "error": str(e)[:200]})
                continue
            ts = score.time_signatures.numpy()
            tempos = score.tempos.numpy()
            rows.append({**row, "n_notes": score.note_num(), "n_tracks": sum(1 for t in score.tracks if t.note_num()),
                         "duration_quarters": score.end() / max(score.ticks_per_quarter, 1),
                         "tempo_bpm": float(6e7 / tempos["mspq"][0]) if len(tempos["time"]) else 120.0,
                         "time_signature": f"{ts['numerator'][0]}/{ts['denominator'][0]}" if len(ts["time"]) else None})
    pq.write_table(pa.Table.from_pylist(rows), out, compression="zstd")
    return len(rows)


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_plain() -> dict:
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            f"from pathlib import Path; from abc_build import plain_loop; "
            f"print(plain_loop(Path({str(OUT / 'abc_plain.parquet')!r})))")
    cpu, started = cpu_of_children(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seconds, cpu = time.perf_counter() - started, cpu_of_children() - cpu
    if proc.returncode != 0:
        raise SystemExit("plain loop failed")
    return {"seconds": seconds, "cpu_s": cpu, "tunes": int(proc.stdout.strip().splitlines()[-1])}


def run_build(cores: int, env: dict[str, str] | None = None) -> dict:
    """`symcorpus build music21` of the ABC tunes in a fresh process (`env`: its environment)."""
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["ingest"]["music21"] = {"formats": ["abc"]}
    params_path = OUT / "abc_build_params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    out = OUT / "abc_build_corpus"
    cmd = [sys.executable, "-m", "symcorpus.cli", "build", "music21", "--out", str(out), "--no-cache", "--overwrite",
           "--spark-master", f"local[{cores}]", "--params", str(params_path)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    tree = TreeMemory(proc.pid)
    _, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    memory, cpu = tree.stop()
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": seconds, "cpu_s": sum(cpu.values()), "cpu_by_process": cpu, "memory": memory,
            "manifest": manifest, "python_workers_by_tier": tree.python_split}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; build on local[{args.cores}]")
    plain = run_plain()
    ours = run_build(args.cores)
    m = ours["manifest"]
    tunes = m["counts"]["input"]
    ours_per_core = tunes / ours["seconds"] / args.cores
    plain_per_core = plain["tunes"] / plain["seconds"]
    print(f"symcorpus build  {tunes:,} tunes {ours['seconds']:8.1f} s  {ours_per_core:8.1f} tunes/s per core  "
          f"stages {m['stage_seconds']}  counts {m['counts']}")
    print(f"plain loop       {plain['tunes']:,} tunes {plain['seconds']:8.1f} s  {plain_per_core:8.1f} tunes/s per core "
          f"({plain['tunes'] / plain['cpu_s']:.1f} per CPU second, abc2midi included)")
    print(f"ratio (per core) {ours_per_core / plain_per_core:.2f}; build CPU by process (s) {ours['cpu_by_process']}")
    print(f"the Python workers' CPU by tier (s) {ours['python_workers_by_tier']}")
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="minutes"), "load_average": load,
              "cores": args.cores, "tunes": tunes, "build_s": ours["seconds"], "build_per_core": ours_per_core,
              "plain_s": plain["seconds"], "plain_cpu_s": plain["cpu_s"], "plain_per_core": plain_per_core,
              "stage_seconds": m["stage_seconds"], "counts": m["counts"], "build_cpu_by_process": ours["cpu_by_process"],
              "python_workers_by_tier": ours["python_workers_by_tier"],
              "memory": ours["memory"]}
    (OUT / "abc_build.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
