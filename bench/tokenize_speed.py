"""REMI encode speed: symcorpus' REMI+ against MidiTok's REMI on the same files in the same run, and
the note content each gives back after decoding.

Both tokenizers get the same symusic scores and comparable settings: 12 positions per quarter,
MidiTok's beat_res = our duration rows, 32 velocities, 66 geometric tempos 30-382.5 BPM, programs in
one stream, tempos and time signatures. "ratio" times encoding a parsed score; "bytes ratio" includes
symusic's parse of the file, for both. Times are the best of `--repeats` passes each (the same number
for both) in CPU seconds of one process (one core), so the figures are notes per second per core.

Note content after decoding is compared file by file, ours against MidiTok's: onsets (in quarters),
pitches and programs, then also durations and velocities. They differ only where the grids differ:
MidiTok counts positions per beat of the time signature's denominator (12 per eighth in 6/8, 12 per
half in 2/2), ours per quarter, so off-grid onsets (abc2midi's grace notes) round apart.

Files (all real music):
  package   MIDI files that packages ship: music21's testPrimitive and omr, miditoolkit's example
  scores    music21's MusicXML and Humdrum scores rendered to MIDI by the project's converter
            (several parts each; cached under bench/out/tokenize_scores/)
  abc       MIDI made from music21's ABC tunes (bench/make_midi.py; single melodies)

    python bench/tokenize_speed.py [--scores 80] [--abc 400] [--repeats 5]
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's `tokenize` (the issue names it): keep its folder off
# the front of the import path, or `inspect` would import this script instead.
_BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _BENCH]

import argparse
import json
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import symusic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(_BENCH)  # after the standard library: for make_midi
from symcorpus.music.convert import to_midi  # noqa: E402
from symcorpus.music.parse import ParseError  # noqa: E402
from symcorpus.sources.music21 import corpus_root as music21_corpus_root  # noqa: E402
from symcorpus.tokenizers import remi  # noqa: E402
from symcorpus.config import TokenizeSettings  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
SITE = Path(symusic.__file__).resolve().parents[1]


def package_midi() -> list[tuple[str, bytes]]:
    paths = sorted((SITE / "music21" / "midi" / "testPrimitive").glob("*.mid"))
    paths += sorted((SITE / "music21" / "omr").glob("*.mid"))
    paths += sorted((SITE / "miditoolkit" / "midi" / "examples_data").glob("*.mid"))
    return [(p.name, p.read_bytes()) for p in paths]


def score_midi(count: int) -> list[tuple[str, bytes]]:
    """`count` MusicXML/Humdrum scores of music21's corpus as MIDI, an even spread, cached."""
    cache = OUT / "tokenize_scores"
    cache.mkdir(parents=True, exist_ok=True)
    root = music21_corpus_root()
    candidates = sorted(p for p in root.rglob("*") if p.suffix in (".mxl", ".xml", ".musicxml", ".krn"))
    step = max(1, len(candidates) // max(count, 1))
    files = []
    for path in candidates[::step][:count]:
        name = str(path.relative_to(root)).replace("/", "__") + ".mid"
        target = cache / name
        if not target.exists():
            fmt = "humdrum" if path.suffix == ".krn" else "musicxml"
            try:
                target.write_bytes(to_midi(path.read_bytes(), fmt, path.name))
            except ParseError:
                target.write_bytes(b"")
        if target.stat().st_size:
            files.append((name, target.read_bytes()))
    return files


def abc_midi(count: int) -> list[tuple[str, bytes]]:
    from make_midi import make

    paths = make(max(count, 1000), OUT / "midi50k")[:count] if (OUT / "midi50k").exists() else \
        make(count, OUT / f"midi{count}")
    return [(p.name, p.read_bytes()) for p in paths]


def miditok_tokenizer(settings: TokenizeSettings):
    import miditok

    tempos = settings.tempo_values()
    signatures: dict[int, list[int]] = {}
    for n, d in settings.time_signatures():
        signatures.setdefault(d, []).append(n)
    config = miditok.TokenizerConfig(
        pitch_range=(0, 127),
        beat_res={(a, b): r for a, b, r in settings.durations},
        num_velocities=settings.velocities,
        use_programs=True,
        one_token_stream_for_programs=True,
        use_tempos=True,
        num_tempos=len(tempos),
        tempo_range=(tempos[0], tempos[-1]),
        log_tempos=True,
        use_time_signatures=True,
        time_signature_range=signatures,
        use_pitchdrum_tokens=False,
    )
    return miditok.REMI(config)


def best_time(fn, items, repeats: int) -> float:
    """Best of `repeats` passes (the first warms up), in CPU seconds of this process: both sides run
    single-threaded here, and CPU time holds steady on a shared machine where wall time does not."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for item in items:
            fn(item)
        best = min(best, time.process_time() - started)
    return best


def note_set(score: symusic.Score, with_duration: bool = True) -> Counter:
    """Notes as (onset in quarters, pitch, program, [duration in quarters, velocity]); drums = 128."""
    tpq = score.ticks_per_quarter
    out: Counter = Counter()
    for track in score.tracks:
        program = 128 if track.is_drum else track.program
        for n in track.notes:
            key = (Fraction(n.time, tpq), n.pitch, program)
            if with_duration:
                key += (Fraction(n.duration, tpq), n.velocity)
            out[key] += 1
    return out


def run(args: argparse.Namespace) -> dict:
    settings = TokenizeSettings()
    vocab = remi.RemiVocab(settings)
    tok = miditok_tokenizer(settings)
    sets = {"package": package_midi(), "scores": score_midi(args.scores), "abc": abc_midi(args.abc)}
    report: dict = {"date": time.strftime("%Y-%m-%d"), "settings": {"grid": settings.grid,
                    "durations": settings.durations, "velocities": settings.velocities}, "sets": {}}
    all_scores: list[symusic.Score] = []
    all_bytes: list[bytes] = []
    for name, files in sets.items():
        data = [d for _, d in files]
        scores = [symusic.Score.from_midi(d) for d in data]
        all_scores += scores
        all_bytes += data
        report["sets"][name] = measure(scores, data, vocab, tok, args.repeats)
    report["all"] = measure(all_scores, all_bytes, vocab, tok, args.repeats)
    return report


def measure(scores: list[symusic.Score], data: list[bytes], vocab, tok, repeats: int) -> dict:
    notes = sum(s.note_num() for s in scores)
    ours_s = best_time(lambda s: remi.encode_score(s, vocab), scores, repeats)
    theirs_s = best_time(tok.encode, scores, repeats)
    ours_b = best_time(lambda d: remi.encode_score(symusic.Score.from_midi(d), vocab), data, repeats)
    theirs_b = best_time(lambda d: tok.encode(symusic.Score.from_midi(d)), data, repeats)
    n_ours = sum(len(remi.encode_score(s, vocab).tokens) for s in scores)
    n_theirs = sum(len(tok.encode(s).ids) for s in scores)

    # Note content after decoding: ours against MidiTok's, file by file.
    same_onsets = same_full = 0
    notes_theirs = 0
    for score in scores:
        ours = symusic.Score.from_midi(remi.decode_to_midi(remi.encode_score(score, vocab).tokens, vocab))
        theirs = tok.decode(tok.encode(score))
        notes_theirs += theirs.note_num()
        same_onsets += note_set(ours, False) == note_set(theirs, False)
        same_full += note_set(ours) == note_set(theirs)
    return {
        "files": len(scores),
        "notes": notes,
        "ours_notes_per_s": round(notes / ours_s),
        "miditok_notes_per_s": round(notes / theirs_s),
        "ratio": round(theirs_s / ours_s, 1),
        "ours_from_bytes_notes_per_s": round(notes / ours_b),
        "miditok_from_bytes_notes_per_s": round(notes / theirs_b),
        "ratio_from_bytes": round(theirs_b / ours_b, 1),
        "ours_files_per_s": round(len(scores) / ours_s, 1),
        "miditok_files_per_s": round(len(scores) / theirs_s, 1),
        "tokens": {"ours": n_ours, "miditok": n_theirs},
        "decoded_notes": {"original": notes, "miditok": notes_theirs},
        "files_same_onsets_pitches_programs": same_onsets,
        "files_same_notes_with_durations_velocities": same_full,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", type=int, default=80)
    parser.add_argument("--abc", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=OUT / "tokenize.json")
    args = parser.parse_args()
    report = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'set':8} {'files':>6} {'notes':>8} {'ours n/s':>10} {'MidiTok n/s':>11} {'ratio':>6} "
          f"{'bytes ratio':>11} {'same onsets':>11} {'same notes':>10}")
    for name, r in [*report["sets"].items(), ("all", report["all"])]:
        print(f"{name:8} {r['files']:6d} {r['notes']:8d} {r['ours_notes_per_s']:10,d} "
              f"{r['miditok_notes_per_s']:11,d} {r['ratio']:5.1f}x {r['ratio_from_bytes']:10.1f}x "
              f"{r['files_same_onsets_pitches_programs']:7d}/{r['files']} "
              f"{r['files_same_notes_with_durations_velocities']:6d}/{r['files']}")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
