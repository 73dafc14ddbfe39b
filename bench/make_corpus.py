"""A Lakh-size test corpus: N multi-track MIDI files (symcorpus/testing/synthetic.py), all distinct
but for a known share of planted duplicates of every kind the dedup must catch, and a manifest.

    python bench/make_corpus.py 10000 bench/out/lakh10k              # 10% planted duplicates
    python bench/make_corpus.py 100000 bench/out/lakh100k --seed 3 --planted 0.05

Files are OUT/NNN/piece_NNNNNN.mid (1,000 per folder); planted duplicates sit among them under the
same kind of name. OUT/manifest.json lists every planted file: its kind, the dedup level that must
catch it (exact, notes, near) and the file it copies. Same N, seed and share: same bytes. A folder
already holding that corpus is reused.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.testing.synthetic import PLANTED_KINDS, piece, planted  # noqa: E402

MANIFEST = "manifest.json"


def rel_path(i: int) -> str:
    return f"{i // 1000:03d}/piece_{i:06d}.mid"


def plan(count: int, seed: int, share: float) -> dict[int, tuple[str, int]]:
    """position -> (kind, position of the original) for every planted duplicate."""
    rng = np.random.default_rng([seed, 0])
    n_planted = int(round(count * share))
    positions = np.sort(rng.choice(count, size=n_planted, replace=False))
    originals = np.setdiff1d(np.arange(count), positions)
    groups = {level: [k for k, v in PLANTED_KINDS.items() if v == level] for level in ("exact", "notes", "near")}
    out = {}
    for i in positions.tolist():
        level = ("exact", "notes", "near")[int(rng.integers(0, 3))]
        kind = groups[level][int(rng.integers(0, len(groups[level])))]
        out[i] = (kind, int(originals[rng.integers(0, len(originals))]))
    return out


def _write(job: tuple[Path, int, int, tuple[str, int] | None]) -> int:
    out, seed, i, planting = job
    if planting is None:
        data = piece((seed, i))
    else:
        kind, original = planting
        data = planted(piece((seed, original)), kind, np.random.default_rng([seed, i, 1]))
    path = out / rel_path(i)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def make_corpus(count: int, out: Path, seed: int = 1, share: float = 0.1, jobs: int | None = None) -> dict:
    """Write the corpus (or find it already written); returns the manifest."""
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if (manifest["count"], manifest["seed"], manifest["planted_share"]) == (count, seed, share):
            return manifest
    planting = plan(count, seed, share)
    jobs_list = [(out, seed, i, planting.get(i)) for i in range(count)]
    with multiprocessing.Pool(jobs or os.cpu_count()) as pool:
        sizes = pool.map(_write, jobs_list, chunksize=64)
    manifest = {
        "count": count, "seed": seed, "planted_share": share, "bytes": int(sum(sizes)),
        "planted": {rel_path(i): {"kind": kind, "level": PLANTED_KINDS[kind], "of": rel_path(original)}
                    for i, (kind, original) in sorted(planting.items())},
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--planted", type=float, default=0.1, help="share of files that are planted duplicates")
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: every core)")
    args = parser.parse_args()
    manifest = make_corpus(args.count, args.out, args.seed, args.planted, args.jobs)
    by_level: dict[str, int] = {}
    for info in manifest["planted"].values():
        by_level[info["level"]] = by_level.get(info["level"], 0) + 1
    print(f"{manifest['count']:,} files, {manifest['bytes'] / 1e6:.1f} MB in {args.out}; planted duplicates: "
          + ", ".join(f"{n:,} {level}" for level, n in sorted(by_level.items())))


if __name__ == "__main__":
    main()
