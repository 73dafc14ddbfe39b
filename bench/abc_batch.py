"""ABC tunes rendered by one abc2midi run per batch against one run per tune: the same MIDI bytes for
every tune of music21's ABC collections, and the time each way.

    python bench/abc_batch.py               # every tune (~13,000)
    python bench/abc_batch.py --files 10    # the first 10 ABC files

For each ABC file, its tunes (records as sources/ reads them: the file header, then the tune) go
through `render_abc_tunes` in runs of `steps.parse.ABC_BATCH`, as the Parse step sends them, and one
by one through `render_abc`. Any tune whose MIDI differs, or that one way renders and the other not,
is listed. Times are CPU seconds of this process and its abc2midi children (steadier than wall time
on a shared machine), and wall seconds.
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
    n = sum(len(t) for t in tunes.values())

    wall, cpu = time.perf_counter(), cpu_seconds()
    batched = {}
    for path, contents in tunes.items():
        batched[path] = []
        for start in range(0, len(contents), ABC_BATCH):
            batched[path] += render_abc_tunes(contents[start : start + ABC_BATCH], limits)
    batch_wall, batch_cpu = time.perf_counter() - wall, cpu_seconds() - cpu

    wall, cpu = time.perf_counter(), cpu_seconds()
    single = {path: [alone(t, limits) for t in contents] for path, contents in tunes.items()}
    alone_wall, alone_cpu = time.perf_counter() - wall, cpu_seconds() - cpu

    differ, only_alone, only_batch, neither = [], [], [], 0
    for path in files:
        for i, (a, b) in enumerate(zip(single[path], batched[path]), 1):
            where = f"{path.relative_to(root)}#{i}"
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
    for where in (differ + only_batch)[:20]:
        print("   ", where)
    if differ or only_batch:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
