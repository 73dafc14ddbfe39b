"""ABC tunes rendered by one abc2midi run per batch against one run per tune: the same MIDI bytes for
every tune of music21's ABC collections, and the time each way.

    python bench/abc_batch.py               # every tune (~13,000)
    python bench/abc_batch.py --files 10    # the first 10 ABC files

The tunes (records as sources/ reads them: the file header, then the tune), file after file in
path order, go through `render_abc_tunes` in runs of `steps.parse.ABC_BATCH` consecutive tunes, as
the Parse step sends a partition's pending tunes (a batch crosses files: abc2midi then runs tunes of
one file after another's in one process), twice, and one by one through `render_abc`. Any tune whose
MIDI differs between the two batched passes or from its own rendering alone, or that one way renders
and the other not, is listed. Times are CPU seconds of this process and its abc2midi children
(steadier than wall time on a shared machine), and wall seconds.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.music.abc_text import split_tunes  # noqa: E402
from symcorpus.music.parse import Limits, ParseError, render_abc, render_abc_tunes  # noqa: E402
from symcorpus.sources.music21 import corpus_root  # noqa: E402
from symcorpus.steps.parse import ABC_BATCH  # noqa: E402


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def alone(tune: bytes, limits: Limits) -> bytes | None:
    try:
        return render_abc(tune, limits.subprocess_timeout_s)
    except ParseError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=None, help="only the first N ABC files")
    args = parser.parse_args()
    limits = Limits()
    root = corpus_root()
    files = sorted(root.rglob("*.abc"))[: args.files]
    tunes = {path: [t.content for t in split_tunes(path.read_bytes())] for path in files}
    every = [t for contents in tunes.values() for t in contents]
    where_of = [f"{path.relative_to(root)}#{i}" for path, contents in tunes.items() for i in range(1, len(contents) + 1)]
    n = len(every)

    def batched_pass() -> list[bytes | None]:
        out: list[bytes | None] = []
        for start in range(0, len(every), ABC_BATCH):
            out += render_abc_tunes(every[start : start + ABC_BATCH], limits)
        return out

    wall, cpu = time.perf_counter(), cpu_seconds()
    batched = batched_pass()
    batch_wall, batch_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    again = batched_pass()
    unstable = [where for where, a, b in zip(where_of, batched, again) if a != b]

    wall, cpu = time.perf_counter(), cpu_seconds()
    single = [alone(t, limits) for t in every]
    alone_wall, alone_cpu = time.perf_counter() - wall, cpu_seconds() - cpu

    differ, only_alone, only_batch, neither = [], [], [], 0
    for where, a, b in zip(where_of, single, batched):
        if a is None and b is None:
            neither += 1
        elif b is None:
            only_alone.append(where)  # the step renders these alone: same result, slower
        elif a is None:
            only_batch.append(where)
        elif a != b:
            differ.append(where)
    print(f"{n:,} tunes in {len(files)} files; batches of up to {ABC_BATCH}")
    print(f"  one abc2midi per batch: {batch_cpu:7.2f} CPU s ({n / batch_cpu:8,.0f} tunes per CPU s), {batch_wall:7.2f} s wall")
    print(f"  one abc2midi per tune:  {alone_cpu:7.2f} CPU s ({n / alone_cpu:8,.0f} tunes per CPU s), {alone_wall:7.2f} s wall")
    print(f"  same MIDI bytes: {n - len(differ) - len(only_alone) - len(only_batch) - neither:,}; no MIDI either way: "
          f"{neither}; rendered alone only (the step falls back): {len(only_alone)}; in a batch only: "
          f"{len(only_batch)}; different bytes: {len(differ)}")
    print(f"  different bytes between the two batched passes: {len(unstable)}")
    for where in (differ + only_batch + unstable)[:20]:
        print("   ", where)
    if differ or only_batch or unstable:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
