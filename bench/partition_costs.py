"""Where the partition cost model's numbers come from (symcorpus/sources/partitions.py): each file's
CPU time through the build's steps (read, parse, fingerprints, annotation, quality), one file at a
time in one process after a few of the format's files ran untimed, fitted per format as a fixed cost
plus a cost per stored kilobyte, beside what the model now estimates for the same files.

    python bench/partition_costs.py                # 400 Lakh-size MIDI, music21's ABC and MusicXML, 80 Humdrum
    python bench/partition_costs.py --humdrum 200

Only the ratios between formats matter to the packing: they decide how many MIDI files share a
partition with a MusicXML or Humdrum file.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in the build's Spark workers (spark/session.py)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from make_corpus import make_corpus  # noqa: E402

from symcorpus.config import Music21Settings, Settings  # noqa: E402
from symcorpus.music.parse import preload  # noqa: E402
from symcorpus.sources import Unit, estimated_cost, list_units, resolve_source  # noqa: E402
from symcorpus.steps import Read, build_steps  # noqa: E402
from symcorpus.steps.base import chain  # noqa: E402


def music21_units(settings: Settings, fmt: str, limit: int | None) -> list[Unit]:
    ingest = dataclasses.replace(settings.ingest, music21=Music21Settings(formats=[fmt], max_files={fmt: limit}))
    return list_units(resolve_source("music21", set()), ingest)


WARM_UP = 3  # units of each group run once, untimed, before the timed pass


def timed(units: list[Unit], settings: Settings) -> list[float]:
    """CPU milliseconds of each unit (every record it holds) through Read and the steps."""
    read, steps = Read(settings.ingest.max_bytes), build_steps(settings)
    for unit in units[:WARM_UP]:  # imports and first-call loading (music/loops.py), not the file's cost
        for _ in chain(read.run([vars(unit)]), steps):
            pass
    out = []
    for unit in units:
        start = time.process_time()
        for _ in chain(read.run([vars(unit)]), steps):
            pass
        out.append((time.process_time() - start) * 1000)
    return out


def report(name: str, units: list[Unit], ms: list[float]) -> None:
    kb = np.array([u.size / 1024 for u in units])
    (base, per_kb), *_ = np.linalg.lstsq(np.vstack([np.ones(len(kb)), kb]).T, np.array(ms), rcond=None)
    model = np.array([estimated_cost(u) for u in units])
    print(f"{name:9s} {len(units):5d} files  mean {np.mean(kb):7.1f} KB  measured {np.mean(ms):7.1f} ms/file"
          f"  fit {base:7.2f} ms + {per_kb:6.3f} ms/KB (r {np.corrcoef(kb, ms)[0, 1]:.2f})"
          f"  model {np.mean(model):7.1f} ms/file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--midi", type=int, default=400, help="Lakh-size MIDI files (bench/make_corpus.py)")
    parser.add_argument("--humdrum", type=int, default=80, help="an even spread of music21's Humdrum files")
    args = parser.parse_args()
    settings = Settings()
    for fmt in ("abc", "musicxml", "humdrum"):
        preload(fmt)  # imports outside the timings
    midi_folder = ROOT / "bench" / "out" / f"lakh{args.midi}"
    make_corpus(args.midi, midi_folder)
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; CPU per file through the build's steps, one process")

    midi = list_units(resolve_source(str(midi_folder), set()), settings.ingest)
    random.Random(0).shuffle(midi)
    musicxml = music21_units(settings, "musicxml", None)
    groups = {
        "midi": midi[:args.midi],
        "abc": music21_units(settings, "abc", None),
        "xml": [u for u in musicxml if not u.member.endswith(".mxl")],
        "mxl": [u for u in musicxml if u.member.endswith(".mxl")],
        "humdrum": music21_units(settings, "humdrum", args.humdrum),
    }
    for name, units in groups.items():
        report(name, units, timed(units, settings))


if __name__ == "__main__":
    main()
