"""Make N real MIDI files from music21's ABC tunes: our abc2midi converter, then transposed and
tempo-scaled copies. Shared by the benchmarks; files are cached under bench/out/.

    python bench/make_midi.py --count 50000 --out bench/out/midi50k
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symcorpus.music.abc_text import split_tunes  # noqa: E402
from symcorpus.music.convert import to_midi  # noqa: E402
from symcorpus.testing.variants import scale_tempo, transpose  # noqa: E402
from symcorpus.music.parse import ParseError  # noqa: E402
from symcorpus.sources.music21 import corpus_root as music21_corpus_root  # noqa: E402

# (semitones, tempo factor) of each copy after the original.
VARIANTS = [(0, 1.0), (2, 1.0), (-3, 1.1), (5, 0.9), (-5, 1.25), (1, 0.8), (7, 1.05), (-1, 0.95)]


def _convert(tune: bytes) -> bytes | None:
    try:
        return to_midi(tune, "abc")
    except ParseError:
        return None


def base_midi() -> list[bytes]:
    """Every ABC tune of music21's corpus that renders, as MIDI, in a deterministic order."""
    tunes = []
    for path in sorted(music21_corpus_root().rglob("*.abc")):
        tunes += [t.content for t in split_tunes(path.read_bytes())]
    with multiprocessing.Pool(os.cpu_count()) as pool:
        return [m for m in pool.map(_convert, tunes, chunksize=64) if m is not None]


def make(count: int, out: Path) -> list[Path]:
    """`count` MIDI files under `out` (1,000 per folder); reuses them if already there."""
    existing = sorted(out.rglob("*.mid")) if out.exists() else []
    if len(existing) == count:
        return existing
    bases = base_midi()
    paths = []
    for i in range(count):
        semitones, factor = VARIANTS[(i // len(bases)) % len(VARIANTS)]
        data = bases[i % len(bases)]
        if semitones:
            data = transpose(data, semitones)
        if factor != 1.0:
            data = scale_tempo(data, factor)
        path = out / f"{i // 1000:03d}" / f"piece_{i:06d}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=Path("bench/out/midi50k"))
    args = parser.parse_args()
    files = make(args.count, args.out)
    print(f"{len(files)} MIDI files in {args.out} ({sum(f.stat().st_size for f in files) / 1e6:.1f} MB)")
