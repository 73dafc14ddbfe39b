"""Cost of crash isolation per record: the build's steps over the same small MIDI files, in process
and in forked children (steps/guard.py), alternating. Per core: each measurement is a fresh process
(so no run reuses what an earlier run cached for the same records), warmed up on the first `--warm`
records, timed on the rest in batches of `--batch` (the default spark.arrow_batch_size), all in one
call as in one Spark task.

    python bench/guard_overhead.py --files 300 --repeats 5          # small MIDI files of make_midi.py
    python bench/guard_overhead.py --folder bench/out/lakh1000      # files already there (make_corpus.py)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(Path(__file__).resolve().parent))  # appended: bench/ holds a tokenize.py

MODES = ("in process", "isolated")


def measure(folder: Path, mode: str, warm: int, batch: int) -> dict:
    """Read the files once (reading is not what is measured), warm up, time the steps."""
    from symcorpus.config import Settings
    from symcorpus.sources import list_units, resolve_source
    from symcorpus.steps import Piece, Read, build_steps
    from symcorpus.steps.batches import Running, run_pieces
    from symcorpus.steps.guard import Bounds

    settings = Settings()
    units = [vars(u) for u in list_units(resolve_source(str(folder), set()), settings.ingest)]
    rows = [piece.row for piece in Read(settings.ingest.max_bytes).run(units)]
    running = Running(batch, Bounds() if mode == "isolated" else None)

    from record_steps import cpu_seconds  # this process and the children it waited for

    def run(part: list[dict]) -> tuple[float, float]:
        started, cpu = time.perf_counter(), cpu_seconds()
        n = sum(b.num_rows for b in run_pieces([Piece(dict(r)) for r in part], build_steps(settings), running))
        assert n == len(part)
        return time.perf_counter() - started, cpu_seconds() - cpu

    run(rows[:warm])
    seconds, cpu = run(rows[warm:])
    return {"records": len(rows) - warm, "seconds": seconds, "cpu_seconds": cpu}



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warm", type=int, default=44)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "midi300")
    parser.add_argument("--folder", type=Path, help="time these files instead of making --files MIDI files in --out")
    parser.add_argument("--measure", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.out, args.measure, args.warm, args.batch)))
        return
    if args.folder is not None:
        args.out = args.folder
    else:
        from make_midi import make

        make(args.files, args.out)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            run = subprocess.run([sys.executable, __file__, "--measure", mode, "--out", str(args.out), "--warm",
                                  str(args.warm), "--batch", str(args.batch)], capture_output=True, text=True, check=True)
            result = json.loads(run.stdout.strip().splitlines()[-1])
            times[mode].append(result["seconds"] / result["records"] * 1000)
            cpu[mode].append(result["cpu_seconds"] / result["records"] * 1000)
    batches = -(-result["records"] // args.batch)
    print(f"{args.out}: {result['records']:,} records timed after {args.warm} to warm up, {batches} batches of "
          f"{args.batch}, {args.repeats} repeats (ms/record)")
    for label, values in (("wall", times), ("CPU", cpu)):  # CPU: this process and its children
        for stat in (statistics.median, min):
            base, isolated = stat(values["in process"]), stat(values["isolated"])
            print(f"  {label:4s} {stat.__name__:6s} in process {base:7.3f}  isolated {isolated:7.3f}  "
                  f"difference {isolated - base:+.3f} ({100 * (isolated / base - 1):+.1f}%)")


if __name__ == "__main__":
    main()
