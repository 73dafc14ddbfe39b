"""MusicXML parse speed: music21's path against symcorpus' reader, on the same files, one core each.

Each contender runs in its own process, one after the other (never at the same time), over the same
files held in memory: a warm-up pass over the first `--warmup` files (imports, caches), then
`--repeats` timed passes over all of them; the best pass counts. Times are CPU seconds of that
process (process_time: on a shared machine, wall time would count other people's work), so the
figures are files and notes per second per core.

  music21     parse.parse_music21: music21's parser and MIDI translator, then symusic (the old path)
  symcorpus   parse.parse_piece for MusicXML: the reader (musicxml.read_musicxml), falling back to
              music21 for the files it declines (what the build runs now)
  reader      musicxml.read_musicxml (and symusic) alone: the time counts every file, the files and
              notes only those it does not decline
  partitura   partitura.load_musicxml and each part's note_array (only if partitura is importable;
              it is not a dependency: install it anywhere on PYTHONPATH to include it)
  lxml-walk   the XML layer alone: parse each file with lxml (as the reader does) and read every
              element's tag and text once
  etree-walk  the same with the standard library's xml.etree.ElementTree

"same notes" counts files whose notes (onset on a 1/840-quarter grid, and pitch, as a multiset)
equal music21's: the reader's MIDI is music21's, partitura does not expand repeats or play grace
notes as music21 does. The files that differ are named after the table; a file music21 itself
could not read (over the build's parse limit, as the longest scores can be on a slow machine) is
named and left out of every comparison.

Files: an even spread of `--count` of the MusicXML files of music21's corpus (all with --count 0).

    PYTHONPATH=$PWD .venv/bin/python bench/musicxml_speed.py [--count 200] [--repeats 2] [--warmup 5]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from musicxml_check import corpus_files, corpus_name  # noqa: E402

CONTENDERS = ("reader", "symcorpus", "lxml-walk", "etree-walk", "partitura", "music21")
# A file a contender could not read has this in place of its notes fingerprint, then the reason.
UNREAD = "error: "


def _fingerprint(onsets_pitches) -> str:
    """A digest of a multiset of (onset in 1/840 quarters, pitch)."""
    counts = collections.Counter(onsets_pitches)
    return hashlib.sha1(repr(sorted(counts.items())).encode()).hexdigest()


def _run(contender: str, files: list[tuple[str, bytes]], warmup: int, repeats: int, out) -> None:
    """In a child process: warm up, then time `repeats` passes; send the best pass and fingerprints."""
    import warnings

    warnings.simplefilter("ignore")

    def score_notes(score) -> tuple[int, str]:
        pairs = [(n.time // 12, n.pitch) for t in score.tracks for n in t.notes]  # 10080 / 12 = 840
        return len(pairs), _fingerprint(pairs)

    if contender.endswith("-walk"):
        from xml.etree import ElementTree

        from lxml import etree

        from symcorpus.music.musicxml.document import archived_xml

        parse = etree.fromstring if contender == "lxml-walk" else ElementTree.fromstring

        def one(name: str, data: bytes):
            root = parse(archived_xml(data) if data[:2] == b"PK" else data)
            return sum(1 for el in root.iter() if el.tag and el.text is not None), ""
    elif contender == "partitura":
        import tempfile

        import partitura

        folder = tempfile.mkdtemp(prefix="symcorpus-partitura-")

        def one(name: str, data: bytes):
            path = os.path.join(folder, "piece" + (".mxl" if data[:2] == b"PK" else ".musicxml"))
            with open(path, "wb") as f:
                f.write(data)
            try:
                arrays = [part.note_array() for part in partitura.load_musicxml(path).parts]
            except Exception:  # noqa: BLE001 - a file partitura cannot read counts as none read
                return 0, ""
            pairs = [(int(round(float(x["onset_quarter"]) * 840)), int(x["pitch"])) for a in arrays for x in a]
            return len(pairs), _fingerprint(pairs)
    else:
        import symusic

        from symcorpus.music import musicxml
        from symcorpus.music.formats import MUSICXML
        from symcorpus.music.parse import Limits, ParseError, parse_music21, parse_piece

        limits = Limits()

        def one(name: str, data: bytes):
            """(notes, fingerprint) of one file; None when the contender does not take it."""
            try:
                if contender == "music21":
                    return score_notes(parse_music21(data, MUSICXML, name, limits).score)
                if contender == "symcorpus":
                    return score_notes(parse_piece(data, MUSICXML, limits, name=name).score)
                return score_notes(symusic.Score.from_midi(musicxml.read_musicxml(data).midi))
            except ParseError as e:  # music21 over the parse limit, or a file no contender reads
                return 0, UNREAD + e.reason
            except (musicxml.UnsupportedMusicXML, musicxml.MalformedMusicXML):
                return None

    for name, data in files[:warmup]:
        one(name, data)
    best, results = float("inf"), {}
    for _ in range(repeats):
        started = time.process_time()
        results = {n: one(n, d) for n, d in files}
        best = min(best, time.process_time() - started)
    declined = [n for n, r in results.items() if r is None]
    out.send((best, {n: r for n, r in results.items() if r is not None}, len(declined)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="files, an even spread (0: all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    args = parser.parse_args()
    paths = corpus_files()
    if args.count and args.count < len(paths):
        step = len(paths) / args.count
        paths = [paths[int(i * step)] for i in range(args.count)]
    files = [(corpus_name(p), open(p, "rb").read()) for p in paths]
    size = sum(len(d) for _, d in files)
    print(f"{len(files)} MusicXML files of music21's corpus ({size / 2**20:.1f} MiB as stored), "
          f"warm-up {args.warmup}, best of {args.repeats}, one process each, CPU time")
    context = multiprocessing.get_context("spawn")
    results = {}
    for contender in args.contenders.split(","):
        if contender == "partitura" and importlib.util.find_spec("partitura") is None:
            print("partitura  not installed: skipped")
            continue
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_run, args=(contender, files, args.warmup, args.repeats, send))
        process.start()
        results[contender] = receive.recv()
        process.join()
    reference = results.get("music21", (None, {}, 0))[1]
    # A file music21 could not read (over the parse limit on a slow machine) is no reference.
    unread = sorted(n for n, r in reference.items() if r[1].startswith(UNREAD))
    different: dict[str, list[str]] = {}
    for contender, (seconds, per_file, declined) in results.items():
        notes = sum(r[0] for r in per_file.values() if r)
        unit = "elements" if contender.endswith("-walk") else "notes"
        line = (f"{contender:10s} {len(per_file):4d} files in {seconds:8.2f} s: {len(per_file) / seconds:8.1f} files/s,"
                f" {notes / seconds:10.0f} {unit}/s per core")
        if contender == "reader":
            line += f" ({declined} declined)"
        if reference and contender != "music21" and not contender.endswith("-walk"):
            compared = [n for n in per_file if n in reference and n not in unread]
            different[contender] = [n for n in compared if per_file[n][1] != reference[n][1]]
            line += f"; same notes as music21: {len(compared) - len(different[contender])}/{len(compared)}"
        print(line)
    for name in unread:
        print(f"music21 could not read {name} ({reference[name][1].removeprefix(UNREAD)}): left out of the comparisons")
    for contender in ("reader", "symcorpus"):
        for name in different.get(contender, []):
            print(f"{contender} differs from music21 on {name}")
    if "music21" in results and "symcorpus" in results:
        print(f"symcorpus / music21: {results['music21'][0] / results['symcorpus'][0]:.1f}x files/s")


if __name__ == "__main__":
    main()
