"""Ingest benchmark: `symcorpus build` (Spark, local[*]) against a single-process miditoolkit loop.

Both read the same MIDI files (made from music21's ABC tunes by bench/make_midi.py), hash them, parse
them, compute the same summary columns and write Parquet. Our figure includes Spark's start-up: the
build runs as a user runs it, `symcorpus build` in a fresh process, parse cache off, on local[CORES]
(every core); its ratio is per core, ours over the one-process peer's. It runs twice: as an ingest build
(dedup levels: exact only, the work the peer does) and as the full default build (plus same-notes
and near-duplicate fingerprints and dedup, which the peer does not do).

    python bench/ingest.py                   # 50,000 files
    python bench/ingest.py --count 5000      # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import miditoolkit
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_midi import make  # noqa: E402

from symcorpus.music.instruments import program_name  # noqa: E402

OUT = Path("bench/out")


def miditoolkit_loop(files: list[Path], out: Path) -> int:
    """What a one-process script does: read, sha256, parse, summarize, write one Parquet file."""
    rows = []
    for path in files:
        data = path.read_bytes()
        midi = miditoolkit.MidiFile(file=io.BytesIO(data))
        notes = [n for inst in midi.instruments for n in inst.notes]
        end_tick = max((n.end for n in notes), default=0)
        tick_to_time = midi.get_tick_to_time_mapping()
        ts = midi.time_signature_changes
        rows.append({
            "id": hashlib.sha256(data).hexdigest(),
            "path": str(path),
            "content": data,
            "n_tracks": sum(1 for inst in midi.instruments if inst.notes),
            "n_notes": len(notes),
            "duration_seconds": float(tick_to_time[min(end_tick, len(tick_to_time) - 1)]),
            "tempo_bpm": midi.tempo_changes[0].tempo if midi.tempo_changes else 120.0,
            "time_signature": f"{ts[0].numerator}/{ts[0].denominator}" if ts else "4/4",
            "instruments": [program_name(p) for p in sorted({i.program for i in midi.instruments if not i.is_drum and i.notes})],
            "has_drums": any(i.is_drum for i in midi.instruments),
            "ticks_per_beat": midi.ticks_per_beat,
        })
    pq.write_table(pa.Table.from_pylist(rows), out, compression="zstd")
    return len(rows)


def symcorpus_build(source: Path, out: Path, levels: list[str], cores: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    params = OUT / f"ingest_params_{len(levels)}.yaml"
    settings = yaml.safe_load(Path("params.yaml").read_text())
    settings["dedup"]["levels"] = levels
    params.write_text(yaml.safe_dump(settings))
    cmd = [sys.executable, "-m", "symcorpus.cli", "build", str(source), "--out", str(out), "--params", str(params),
           "--no-cache", "--spark-master", f"local[{cores}]"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{proc.stderr}")
    return json.loads((out / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    source = OUT / f"midi{args.count // 1000}k"
    files = make(args.count, source)
    print(f"{len(files):,} MIDI files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB, {cores} cores")

    runs = {}
    for name, levels in [("ingest build (dedup: exact)", ["exact"]),
                         ("full build (dedup: exact, notes, near)", ["exact", "notes", "near"])]:
        started = time.perf_counter()
        manifest = symcorpus_build(source, OUT / "ingest_corpus", levels, cores)
        seconds = time.perf_counter() - started
        assert manifest["counts"]["input"] == len(files), manifest["counts"]
        runs[name] = {"seconds": round(seconds, 2), "pieces_per_s": round(len(files) / seconds),
                      "pieces_per_s_per_core": round(len(files) / seconds / cores),
                      "kept": manifest["counts"]["kept"], "stage_seconds": manifest["stage_seconds"]}

    started = time.perf_counter()
    n = miditoolkit_loop(files, OUT / "ingest_miditoolkit.parquet")
    peer_s = time.perf_counter() - started
    peer = n / peer_s

    for name, run in runs.items():
        print(f"symcorpus {name:40s} {run['seconds']:7.1f} s {run['pieces_per_s']:8,} pieces/s "
              f"{run['pieces_per_s_per_core']:6,} per core   ratio per core {run['pieces_per_s_per_core'] / peer:.2f}")
    print(f"miditoolkit, one process {'':31s} {peer_s:7.1f} s {peer:8,.0f} pieces/s {peer:6,.0f} per core")
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {cores} cores, {platform.python_version()}",
        "files": len(files),
        "symcorpus": runs,
        "miditoolkit_loop": {"seconds": round(peer_s, 2), "pieces_per_s": round(peer)},
    }
    (OUT / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
