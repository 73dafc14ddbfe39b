"""Filter + annotate throughput on MIDI, per core, against a MidiCaps-style per-file extractor.

Ours, in one process (= one core): symusic parse, summary, features (chords, timing, repetition...),
key from the notes, labels, tags, caption and the quality verdict — everything the build's
filter/annotate step computes per piece.
Peer, on the same files: what MidiCaps' feature script does per file: mido for the first tempo and
time signature and the programs, music21 `analyze('key')` for the key. music21 is slow, so it runs on
the first `--peer-files` files; both figures are pieces/s on one core.

    python bench/annotate.py --files 5000 --peer-files 100
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in the build's Spark workers (spark/session.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # appended: bench/ must not shadow stdlib modules

from make_midi import make  # noqa: E402

from symcorpus.music.annotate import annotate  # noqa: E402
from symcorpus.music.notes import note_table, summarize  # noqa: E402
from symcorpus.music.parse import Limits, parse_piece  # noqa: E402
from symcorpus.music.quality import evaluate, rules_for  # noqa: E402


def ours(blobs: list[bytes]) -> tuple[float, dict]:
    active = rules_for({})
    limits = Limits()
    reasons: dict[str, int] = {}
    started = time.perf_counter()
    for i, data in enumerate(blobs):
        piece = parse_piece(data, "midi", limits)
        table = note_table(piece.score)
        row = summarize(piece, table)
        row.update(annotate(piece.score, table, row, piece_id=str(i), source="bench", path=f"{i}.mid", fmt="midi"))
        verdict = evaluate(row, active)
        reasons[verdict.reason or "kept"] = reasons.get(verdict.reason or "kept", 0) + 1
    return time.perf_counter() - started, reasons


def midicaps_style(paths: list[Path]) -> float:
    import mido
    import music21

    started = time.perf_counter()
    for path in paths:
        midi = mido.MidiFile(str(path))
        tempo = time_signature = None
        programs = set()
        for track in midi.tracks:
            for message in track:
                if message.type == "set_tempo" and tempo is None:
                    tempo = mido.tempo2bpm(message.tempo)
                elif message.type == "time_signature" and time_signature is None:
                    time_signature = f"{message.numerator}/{message.denominator}"
                elif message.type == "program_change":
                    programs.add(message.program)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            music21.converter.parse(str(path), forceSource=True).analyze("key")  # no pickle cache: caches off
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--peer-files", type=int, default=100)
    parser.add_argument("--data", type=Path, default=Path("bench/out/midi_annotate"))
    args = parser.parse_args()

    paths = make(args.files, args.data)
    blobs = [p.read_bytes() for p in paths]
    notes = sum(summarize(parse_piece(b, "midi", Limits()))["n_notes"] for b in blobs[:500]) / min(500, len(blobs))
    # The same warm-up for both (imports, first-call caches) on files outside the timed ones' start.
    ours(blobs[-5:])
    midicaps_style(paths[-5:])
    seconds, reasons = ours(blobs)
    peer_seconds = midicaps_style(paths[: args.peer_files])
    ours_rate = len(blobs) / seconds
    peer_rate = args.peer_files / peer_seconds
    result = {
        "files": len(blobs), "mean_notes": round(notes, 1), "ours_seconds": round(seconds, 2),
        "ours_pieces_per_s_per_core": round(ours_rate, 1), "outcomes": reasons,
        "peer_files": args.peer_files, "peer_seconds": round(peer_seconds, 2),
        "peer_pieces_per_s_per_core": round(peer_rate, 2), "ratio": round(ours_rate / peer_rate, 1),
    }
    print(json.dumps(result, indent=2))
    print(f"ours {ours_rate:,.0f} pieces/s/core vs MidiCaps-style (mido + music21 key) {peer_rate:,.2f}: "
          f"{ours_rate / peer_rate:,.0f}x; target >= 500 pieces/s/core")


if __name__ == "__main__":
    main()
