"""Make N Lakh-size MIDI files: multi-track (one drum track and 3-8 pitched instruments), about
3,500 notes and 3-4 minutes each, the size of a typical Lakh MIDI file. Deterministic (file i is
drawn from seed i). Used where a benchmark needs the load of a real-world MIDI corpus, not music.

    python bench/lakh_like.py --count 2000 --out bench/out/lakh2k
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import symusic

TPQ = 480
NOTES = 3500
DRUMS = np.array([36, 38, 42, 42, 46, 49], dtype=np.int8)


def _track(rng: np.random.Generator, n: int, length: int, drum: bool) -> symusic.Track:
    program = 0 if drum else int(rng.integers(0, 112))
    track = symusic.Track(f"{'drums' if drum else 'part'}", program, drum)
    step = TPQ // 4
    times = np.sort(rng.integers(0, length // step, n)).astype(np.int32) * step
    if drum:
        pitches = rng.choice(DRUMS, n)
        durations = np.full(n, step // 2, dtype=np.int32)
    else:
        centre = int(rng.integers(40, 80))
        walk = np.cumsum(rng.integers(-3, 4, n))
        pitches = np.clip(centre + walk % 24 - 12, 21, 108).astype(np.int8)
        durations = (rng.integers(1, 8, n) * step).astype(np.int32)
    velocities = rng.integers(50, 120, n).astype(np.int8)
    track.notes = symusic.Note.from_numpy(times, durations, pitches, velocities)
    return track


def lakh_like(seed: int) -> bytes:
    """One multi-track Standard MIDI File of about NOTES notes."""
    rng = np.random.default_rng(seed)
    score = symusic.Score(TPQ)
    bpm = float(rng.integers(80, 160))
    score.tempos.append(symusic.Tempo(0, bpm))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    length = int(rng.integers(180, 240) * bpm / 60 * TPQ)  # 3-4 minutes, in ticks
    total = int(NOTES * rng.uniform(0.7, 1.3))
    n_pitched = int(rng.integers(3, 9))
    shares = rng.dirichlet(np.ones(n_pitched + 1)) * total
    for k, share in enumerate(shares):
        score.tracks.append(_track(rng, max(16, int(share)), length, drum=k == 0))
    return score.dumps_midi()


def make(count: int, out: Path) -> list[Path]:
    """`count` files under `out` (1,000 per folder); reuses them if already there."""
    existing = sorted(out.rglob("*.mid")) if out.exists() else []
    if len(existing) == count:
        return existing
    paths = []
    for i in range(count):
        path = out / f"{i // 1000:03d}" / f"lakh_{i:06d}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(lakh_like(i))
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("bench/out/lakh2k"))
    args = parser.parse_args()
    files = make(args.count, args.out)
    sizes = [f.stat().st_size for f in files]
    print(f"{len(files)} MIDI files in {args.out}: {sum(sizes) / 1e6:.1f} MB, median {sorted(sizes)[len(sizes) // 2]:,} bytes")
