"""Feature benchmark: `piece_features` and bar chords alone on ~2,000 small MIDI files made from
music21's ABC tunes, beside music21's chordify (the peer for chords) on some of the same files.

The symusic parse and the note table are timed apart (the annotate stage has both from the parse), then
`piece_features` on its own and the bar chords on their own. music21's figure covers `chordify()` plus
one chord name per bar on a stream it already parsed (its MIDI parse is reported apart). CPU time
(process_time) is reported beside wall time, since the machine may be shared.

    python bench/features.py                 # 2,000 files, music21 on 40 of them
    python bench/features.py --count 500 --peer 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import date
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in the build's Spark workers (spark/session.py)
import numpy as np  # noqa: E402
import symusic  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # after the stdlib: bench/ holds a tokenize.py
from make_midi import make  # noqa: E402

from symcorpus.music.chords import chord_names, recognize, window_histograms, windows  # noqa: E402
from symcorpus.music.features import TimeSignatureMap, bar_starts, piece_features  # noqa: E402
from symcorpus.music.notes import note_table  # noqa: E402

OUT = Path("bench/out")


def midi_files(count: int) -> list[Path]:
    """The first `count` files of the shared 50k set when it is there, else `count` made for us."""
    shared = OUT / "midi50k"
    existing = sorted(shared.rglob("*.mid")) if shared.exists() else []
    if len(existing) >= count:
        return existing[:count]
    return make(count, OUT / f"midi{count}")


def timed(fn, items, repeats: int) -> tuple[float, float]:
    """Best of `repeats` passes over `items`: (wall, cpu) seconds per item."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for item in items:
            fn(*item)
        best_wall = min(best_wall, (time.perf_counter() - wall) / len(items))
        best_cpu = min(best_cpu, (time.process_time() - cpu) / len(items))
    return best_wall, best_cpu


def chords_only(score: symusic.Score, table: np.ndarray) -> list[str]:
    """What `piece_features` spends on chords: the bar grid, then one chord per bar."""
    end = float((table["onset"] + table["duration"]).max())
    pitched = table[~table["is_drum"]]
    onset = pitched["onset"]
    starts, ends = windows(bar_starts(TimeSignatureMap.of(score), end), end)
    return chord_names(recognize(*window_histograms(onset, onset + pitched["duration"], pitched["pitch"], starts, ends)))


def music21_bar_chords(stream) -> list[str]:
    """music21's way to one chord per bar: chordify, then each measure's longest chord, named."""
    names = []
    for measure in stream.chordify().getElementsByClass("Measure"):
        chords = list(measure.recurse().getElementsByClass("Chord"))
        if not chords:
            names.append("N")
            continue
        longest = max(chords, key=lambda c: c.quarterLength)
        names.append(f"{longest.root().name} {longest.commonName}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--peer", type=int, default=40, help="files for music21 (slow)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    files = midi_files(args.count)
    datas = [(f.read_bytes(),) for f in files]
    parse_wall, parse_cpu = timed(symusic.Score.from_midi, datas, args.repeats)
    scores = [symusic.Score.from_midi(d) for (d,) in datas]
    table_wall, table_cpu = timed(note_table, [(s,) for s in scores], args.repeats)
    tables = [note_table(s) for s in scores]
    items = list(zip(scores, tables))
    n_notes = np.array([len(tb) for tb in tables])

    features_wall, features_cpu = timed(piece_features, items, args.repeats)
    chords_wall, chords_cpu = timed(chords_only, items, args.repeats)
    # Pieces near 300 notes on their own, the size the budget was set for.
    near = [item for item, n in zip(items, n_notes) if 250 <= n <= 350]
    near_wall, near_cpu = timed(piece_features, near, args.repeats) if near else (float("nan"),) * 2

    # The peer: music21 on the first files with at least 4 bars of chords to find.
    import music21

    peer_items = [i for i, n in enumerate(n_notes) if n >= 60][: args.peer]
    parse_m21 = chordify_m21 = 0.0
    for i in peer_items:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            stream = music21.converter.parse(str(files[i]), format="midi", forceSource=True)
            parse_m21 += time.perf_counter() - t
            t = time.perf_counter()
            music21_bar_chords(stream)
            chordify_m21 += time.perf_counter() - t
    k = max(len(peer_items), 1)
    ours_peer = timed(chords_only, [items[i] for i in peer_items], args.repeats)[0] * k if peer_items else 0.0

    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "files": len(files),
        "notes_per_file": round(float(n_notes.mean()), 1),
        "symusic_parse_us": {"wall": round(parse_wall * 1e6, 1), "cpu": round(parse_cpu * 1e6, 1)},
        "note_table_us": {"wall": round(table_wall * 1e6, 1), "cpu": round(table_cpu * 1e6, 1)},
        "piece_features_us": {"wall": round(features_wall * 1e6, 1), "cpu": round(features_cpu * 1e6, 1)},
        "piece_features_250_350_notes_us": {"files": len(near), "wall": round(near_wall * 1e6, 1),
                                            "cpu": round(near_cpu * 1e6, 1)},
        "chords_only_us": {"wall": round(chords_wall * 1e6, 1), "cpu": round(chords_cpu * 1e6, 1)},
        "parse_table_features_pieces_per_s": {"wall": round(1 / (parse_wall + table_wall + features_wall)),
                                              "cpu": round(1 / (parse_cpu + table_cpu + features_cpu))},
        "music21_peer": {
            "files": len(peer_items),
            "midi_parse_ms": round(parse_m21 / k * 1e3, 1),
            "chordify_bar_chords_ms": round(chordify_m21 / k * 1e3, 2),
            "ours_bar_chords_us": round(ours_peer / k * 1e6, 1),
            "chords_speedup": round(chordify_m21 / ours_peer, 1) if ours_peer else None,
        },
    }  # fmt: skip
    print(f"{report['files']} MIDI files from music21's ABC tunes, {report['notes_per_file']} notes each "
          f"({report['machine']})")
    print(f"  symusic parse {parse_wall * 1e6:.0f} us wall / {parse_cpu * 1e6:.0f} us CPU, "
          f"note table {table_wall * 1e6:.0f} / {table_cpu * 1e6:.0f} us per file")
    print(f"  piece_features {features_wall * 1e6:.0f} us wall / {features_cpu * 1e6:.0f} us CPU per file; "
          f"{len(near)} files of 250-350 notes: {near_wall * 1e6:.0f} us wall / {near_cpu * 1e6:.0f} us CPU")
    print(f"  bar chords alone {chords_wall * 1e6:.0f} us wall / {chords_cpu * 1e6:.0f} us CPU per file")
    rate = report["parse_table_features_pieces_per_s"]
    print(f"  parse + table + features on one core: {rate['wall']:,} pieces/s by wall time, {rate['cpu']:,} by CPU time")
    peer = report["music21_peer"]
    print(f"  music21 on {peer['files']} of the files: chordify + bar chords {peer['chordify_bar_chords_ms']} ms "
          f"(its MIDI parse {peer['midi_parse_ms']} ms) against ours {peer['ours_bar_chords_us']} us: "
          f"{peer['chords_speedup']}x")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "features.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
