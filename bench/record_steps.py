"""CPU per record of the build's per-record steps (parse, fingerprints, annotation, quality) in one
process, without Spark: the part of a build that grows with the records.

    python bench/record_steps.py bench/out/lakh1000               # a folder of files
    python bench/record_steps.py DIR --tree ../other-checkout     # the same steps of another checkout
    python bench/record_steps.py DIR --tree ../other-checkout --compare --repeats 3

Records are read first (not timed); then, after a warm-up on the first 20, the steps run over every
record, `--repeats` times, and the fastest pass is printed as CPU milliseconds per record (this
process and the abc2midi processes it ran). `--tree`: import symcorpus from that
checkout instead of this one, so two commits can be compared on the same files; `--compare` runs
this checkout and `--tree` alternately, each pass in a fresh process. OpenBLAS on one thread, as in
the build's workers.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for (abc2midi)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(folder: str, repeats: int) -> tuple[int, float]:
    """(records, fastest pass's CPU seconds) with the symcorpus already first on sys.path."""
    from symcorpus.config import load_settings
    from symcorpus.sources.listing import list_sources
    from symcorpus.steps import build_steps, chain
    from symcorpus.steps.read import Read

    settings = load_settings(None)
    settings.ingest.isolate_records = False
    listed = list_sources([folder], settings.ingest)
    read = Read(settings.ingest.max_bytes, listed.contexts)
    units = [vars(u) for u in listed.all_units()]
    steps = build_steps(settings)
    for _ in chain(iter(list(read.run(iter(units)))[:20]), steps):  # warm-up: imports, caches
        pass
    best, n = float("inf"), 0
    for _ in range(repeats):
        pieces = list(read.run(iter(units)))
        started = cpu_seconds()
        n = sum(1 for _ in chain(iter(pieces), steps))
        best = min(best, cpu_seconds() - started)
    return n, best


def one_process(tree: Path, folder: str, repeats: int) -> str:
    """One measurement in a fresh interpreter importing symcorpus from `tree`; its printed line."""
    code = (f"import sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(HERE / 'bench')!r}); "
            f"from record_steps import measure; n, s = measure({folder!r}, {repeats}); "
            f"print(f'{{n}} records, {{s:.2f}} CPU s, {{1000 * s / n:.3f}} ms per record')")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--tree", type=Path, default=HERE, help="the checkout whose symcorpus runs (default: this one)")
    parser.add_argument("--compare", action="store_true", help="alternate this checkout and --tree")
    parser.add_argument("--repeats", type=int, default=3, help="passes per measurement; the fastest is printed")
    parser.add_argument("--rounds", type=int, default=3, help="with --compare: alternations")
    args = parser.parse_args()
    trees = [HERE, args.tree.resolve()] if args.compare else [args.tree.resolve()]
    for _ in range(args.rounds if args.compare else 1):
        for tree in trees:
            print(f"{tree}: {one_process(tree, args.folder, args.repeats)}", flush=True)


if __name__ == "__main__":
    main()
