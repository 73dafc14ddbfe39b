"""Cost of crash isolation per record: the build's steps over the same small MIDI files, in process
and in forked children (steps/guard.py), alternating in one run. Per core: one process, batches of
`--batch` records (the default spark.arrow_batch_size), warm-up first, median of the repeats.

    python bench/guard_overhead.py --files 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # appended: bench/ holds a tokenize.py

from make_midi import make  # noqa: E402
from symcorpus.config import Settings  # noqa: E402
from symcorpus.sources import list_units, resolve_source  # noqa: E402
from symcorpus.steps import Piece, Read, build_steps  # noqa: E402
from symcorpus.steps.batches import Running, run_pieces  # noqa: E402
from symcorpus.steps.guard import Bounds  # noqa: E402


def records(folder: Path, settings: Settings) -> list[dict]:
    """The files read once (reading is not what is measured): one row per record."""
    units = [vars(u) for u in list_units(resolve_source(str(folder), set()), settings.ingest)]
    return [piece.row for piece in Read(settings.ingest.max_bytes).run(units)]


def seconds(rows: list[dict], settings: Settings, running: Running) -> float:
    pieces = [Piece(dict(row)) for row in rows]
    started = time.perf_counter()
    n = sum(batch.num_rows for batch in run_pieces(pieces, build_steps(settings), running))
    assert n == len(rows)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("bench/out/midi2k"))
    args = parser.parse_args()
    settings = Settings()
    make(args.files, args.out)
    rows = records(args.out, settings)
    modes = {"in process": Running(args.batch), "isolated": Running(args.batch, Bounds())}
    for running in modes.values():  # warm-up: imports, caches
        seconds(rows[: args.batch], settings, running)
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, running in modes.items():
            times[name].append(seconds(rows, settings, running))
    print(f"{len(rows):,} records, batches of {args.batch}, {args.repeats} repeats (median; fastest)")
    for stat in (statistics.median, min):
        base = stat(times["in process"])
        for name, values in times.items():
            value = stat(values)
            print(f"  {stat.__name__:6s} {name:10s} {value / len(rows) * 1000:7.3f} ms/record"
                  f"  {len(rows) / value:8.1f} records/s  {100 * (value / base - 1):+6.1f}%")
        print(f"  {stat.__name__:6s} isolation costs {(stat(times['isolated']) - base) / len(rows) * 1000:+.3f} ms/record")


if __name__ == "__main__":
    main()
