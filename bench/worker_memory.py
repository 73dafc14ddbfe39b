"""Peak memory of one Spark Python worker running the build's steps, isolated (steps/guard.py: each
batch in a forked child under the per-record budget) and in process, on two corpora:

    hostile   malformed inputs of every format (the generators of tests/unit/steps/test_malformed.py,
              several seeds) plus pathological valid ones: MIDI files of 1.9M notes (just under
              max_notes) and of 3M notes (over it), a MIDI file of 1.2M notes in one chord
    lakh      N Lakh-size multi-track MIDI files (bench/lakh_like.py, ~3,500 notes each)

Each measurement runs in a fresh process that does what one Spark task does (read, then the build
steps in batches of 256) and reports its own peak RSS (getrusage RUSAGE_SELF: the worker) and the
largest of its children (RUSAGE_CHILDREN: an isolated child or an abc2midi run). The corpora are
made in processes of their own and the launcher stays small: Linux counts in a process's ru_maxrss
the memory it had between fork and exec, i.e. its parent's at the time.

    python bench/worker_memory.py --lakh 2000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(Path(__file__).resolve().parent))  # appended: bench/ holds a tokenize.py


def pathological_midi(notes: int, seed: int, chord: bool = False) -> bytes:
    import numpy as np
    import symusic

    rng = np.random.default_rng(seed)
    score = symusic.Score(480)
    track = symusic.Track("many", 0, False)
    times = np.zeros(notes, np.int32) if chord else np.sort(rng.integers(0, notes * 4, notes)).astype(np.int32)
    track.notes = symusic.Note.from_numpy(times, np.full(notes, 240, np.int32),
                                          rng.integers(21, 109, notes).astype(np.int8), np.full(notes, 80, np.int8))
    score.tracks.append(track)
    return score.dumps_midi()


def make_hostile(out: Path, seeds: int) -> None:
    """Malformed inputs from the tests' generators (one set per seed) and pathological valid ones."""
    from symcorpus.music.abc_text import split_tunes
    from symcorpus.music.convert import to_midi
    from tests.conftest import M21
    from tests.unit.steps.test_malformed import malformed_abc, malformed_midi, malformed_scores

    if out.exists():
        return
    tunes = split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[:12]
    midi = [to_midi(t.content, "abc") for t in tunes]
    for seed in range(seeds):
        rng = random.Random(seed)
        for group, files in [("midi", malformed_midi(midi, rng)), ("abc", malformed_abc(rng)),
                             ("scores", malformed_scores(rng))]:
            for name, data in files.items():
                path = out / f"seed{seed:02d}" / group / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    for name, data in [("notes_1900k.mid", pathological_midi(1_900_000, 1)), ("notes_3m.mid", pathological_midi(3_000_000, 2)),
                       ("chord_1200k.mid", pathological_midi(1_200_000, 3, chord=True))]:
        (out / "pathological").mkdir(parents=True, exist_ok=True)
        (out / "pathological" / name).write_bytes(data)


def measure(folder: Path, isolate: bool) -> dict:
    """One worker's run over `folder` (in this process): records, outcomes, seconds, peak RSS."""
    from symcorpus.config import Settings
    from symcorpus.sources import list_units, resolve_source
    from symcorpus.steps import Read, build_steps
    from symcorpus.steps.batches import Running, run_pieces

    settings = Settings()
    settings.ingest.isolate_records = isolate
    units = [vars(u) for u in list_units(resolve_source(str(folder), set()), settings.ingest)]
    started = time.perf_counter()
    outcomes: Counter = Counter()
    for batch in run_pieces(Read(settings.ingest.max_bytes).run(units), build_steps(settings),
                            Running.from_settings(settings)):
        for status, error in zip(batch.column("status").to_pylist(), batch.column("error").to_pylist()):
            outcomes[status if status != "error" else f"error:{error.split(':')[0]}"] += 1
    return {"records": sum(outcomes.values()), "seconds": round(time.perf_counter() - started, 1),
            "outcomes": dict(sorted(outcomes.items())),
            "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "largest_child_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lakh", type=int, default=2000, help="Lakh-size files (100K is the target; see BENCHMARKS.md)")
    parser.add_argument("--hostile-seeds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make-hostile", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--isolate", choices=["yes", "no"], default="yes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.isolate == "yes")))
        return
    if args.make_hostile:
        make_hostile(args.make_hostile, args.hostile_seeds)
        return
    hostile, lakh = args.out / f"hostile{args.hostile_seeds}", args.out / f"lakh{args.lakh}"
    subprocess.run([sys.executable, __file__, "--make-hostile", str(hostile), "--hostile-seeds",
                    str(args.hostile_seeds)], check=True)
    subprocess.run([sys.executable, str(Path(__file__).with_name("lakh_like.py")), "--count", str(args.lakh),
                    "--out", str(lakh)], check=True, capture_output=True)
    corpora = {name: (folder, sum(1 for p in folder.rglob("*") if p.is_file()))
               for name, folder in [("hostile", hostile), ("lakh", lakh)]}
    for name, (folder, files) in corpora.items():
        for isolate in ("yes", "no"):
            run = subprocess.run([sys.executable, __file__, "--measure", str(folder), "--isolate", isolate],
                                 capture_output=True, text=True, check=True)
            print(json.dumps({"corpus": name, "files": files, "isolated": isolate == "yes",
                              **json.loads(run.stdout.strip().splitlines()[-1])}))


if __name__ == "__main__":
    main()
