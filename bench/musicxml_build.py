"""MusicXML at corpus scale: `symcorpus build` of all of music21's MusicXML files against the fast
reader alone over the same files, in the same run; then where the build's per-file time goes.

    python bench/musicxml_build.py              # build on local[2]
    python bench/musicxml_build.py --cores 1
    python bench/musicxml_build.py --copies 5   # 5 copies of each file: Spark's fixed costs amortised

Ours: `symcorpus build music21` with `ingest.music21: {formats: [musicxml]}` (every file: no
`max_files`), parse cache off, in a fresh process (Spark start-up, every step, dedup, publishing).
The peer: one process that reads each file with `musicxml.read_musicxml` alone (no annotation, no
fingerprints, no music21 for the files it declines), the bare loop the build is measured against.
Files/s per core: ours over CORES, the peer's over 1. music21's ~650 files take the build about as
long as starting Spark, deduplicating and writing; `--copies N` builds a folder of N links to each
file under distinct names (the copies are exact duplicates, parsed like any file) to show the rate a
larger collection would see; the reader alone then reads each file N times.

Then, in one process, the build's steps one file at a time (CPU seconds): how much of the total the
files the reader declines take (parse_piece gives them to music21, under ingest.parse_timeout_s),
and the slowest files with the reader's reason for declining them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in the build's Spark workers (spark/session.py)

import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path("bench/out")
SUFFIXES = (".xml", ".mxl", ".musicxml")


def corpus_files() -> list[Path]:
    from symcorpus.sources.music21 import corpus_root

    return sorted(p for p in corpus_root().rglob("*") if p.suffix.lower() in SUFFIXES)


def reader_loop(files: list[Path]) -> tuple[float, dict[str, str]]:
    """CPU seconds of the reader alone over the files, and the reason of each file it declines."""
    from symcorpus.music import musicxml

    declined = {}
    start = time.process_time()
    for path in files:
        try:
            musicxml.read_musicxml(path.read_bytes())
        except musicxml.UnsupportedMusicXML as e:
            declined[str(path)] = str(e)
    return time.process_time() - start, declined


def linked_copies(files: list[Path], copies: int) -> Path:
    """A folder of `copies` symbolic links to each file, named copyK__<path with / as __>."""
    from symcorpus.sources.music21 import corpus_root

    folder = OUT / f"musicxml_copies{copies}"
    root = corpus_root()
    for k in range(copies):
        for path in files:
            link = folder / f"copy{k}__{str(path.relative_to(root)).replace('/', '__')}"
            if not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(path)
    return folder


def run_build(cores: int, params: dict, source: str) -> dict:
    params = json.loads(json.dumps(params))
    params["ingest"]["music21"] = {"formats": ["musicxml"], "max_files": {}}
    params_path = OUT / "musicxml_build_params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    out = OUT / "musicxml_build_corpus"
    cmd = [sys.executable, "-m", "symcorpus.cli", "build", source, "--out", str(out), "--no-cache", "--overwrite",
           "--spark-master", f"local[{cores}]", "--params", str(params_path)]
    start = time.time()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.time() - start
    if done.returncode:
        raise SystemExit(f"build failed:\n{done.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": seconds, "stages": manifest.get("stage_seconds"), "counts": manifest.get("counts")}


def steps_per_file(files: list[Path], params_path: Path) -> list[tuple[float, str, str]]:
    """(CPU seconds, path, status or error) of each file through the build's steps, one at a time."""
    from symcorpus.config import load_settings
    from symcorpus.steps import Piece, build_steps
    from symcorpus.steps.base import PENDING, chain
    from symcorpus.music.parse import preload

    steps = build_steps(load_settings(params_path))
    preload("musicxml")  # music21 imported once, outside the timings
    out = []
    for path in files:
        content = path.read_bytes()
        piece = Piece({"status": PENDING, "id": str(path), "source": "music21", "path": str(path),
                       "format": "musicxml", "size_bytes": len(content), "content": content})
        start = time.process_time()
        for _ in chain([piece], steps):
            pass
        out.append((time.process_time() - start, str(path), piece.row.get("error") or piece.row["status"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--copies", type=int, default=1, help="build N copies of each file (default 1: the corpus)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load(args.params.read_text())
    files = corpus_files()
    source = "music21" if args.copies == 1 else str(linked_copies(files, args.copies))
    n = len(files) * args.copies
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {len(files)} MusicXML files of music21's corpus"
          f"{f', {args.copies} copies of each ({n} files)' if args.copies > 1 else ''}; build on local[{args.cores}]")

    build = run_build(args.cores, params, source)
    stage = build["stages"]["ingest_parse_annotate"]
    print(f"symcorpus build  {build['seconds']:7.1f} s  {n / build['seconds'] / args.cores:7.1f} files/s per core"
          f" (its ingest stage alone {n / stage / args.cores:.1f})  stages {build['stages']}  counts {build['counts']}")
    reader_s, declined = 0.0, {}
    for _ in range(args.copies):
        seconds, declined = reader_loop(files)
        reader_s += seconds
    print(f"reader alone     {reader_s:7.1f} s  {n / reader_s:7.1f} files/s per core (CPU)"
          f"  declined {len(declined) * args.copies}")

    timed = steps_per_file(files, args.params)
    total = sum(t for t, _, _ in timed)
    fallback = sum(t for t, path, _ in timed if path in declined)
    print(f"build steps, one process  {total:7.1f} s CPU  {len(files) / total:7.1f} files/s; "
          f"the {len(declined)} files the reader declines (music21 reads them): {fallback:.1f} s; "
          f"the other {len(files) - len(declined)}: {total - fallback:.1f} s, "
          f"{(len(files) - len(declined)) / max(total - fallback, 1e-9):.1f} files/s")
    from symcorpus.sources.music21 import corpus_root

    root = str(corpus_root()) + "/"
    for seconds, path, status in sorted(timed, reverse=True)[:8]:
        why = declined.get(path, "read by the reader")
        print(f"  {seconds:6.2f} s  {path.removeprefix(root)}  {status[:60]}  ({why[:60]})")


if __name__ == "__main__":
    main()
