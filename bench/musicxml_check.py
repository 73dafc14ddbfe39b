"""Check the MusicXML reader against music21, note for note, on every MusicXML file of music21's corpus.

For each file both paths run: `parse.render_music21` (music21's parser and MIDI translator, what
symcorpus used alone before) and `musicxml.read_musicxml` (the fast reader). Both MIDI renderings
are read with symusic and compared with `score_compare.first_difference` (tempo map, time and key
signatures, tracks with names, programs and drum flags, every note's onset, duration, pitch and
velocity in ticks, pitch bends); titles and composers are compared too. Prints files the reader
declined (with reason counts: those fall back to music21 in `parse.parse_piece`), files that
match, and files that differ with their first difference. Exit status 1 when any file differs.

    PYTHONPATH=$PWD .venv/bin/python bench/musicxml_check.py [--jobs 2] [--only bach/bwv66] [--cache DIR]
                                                             [--cached-only]
"""

from __future__ import annotations

import argparse
import collections
import functools
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.sources.music21 import corpus_root as music21_corpus_root  # noqa: E402


def corpus_files() -> list[str]:
    """Every .mxl/.xml/.musicxml file under music21's corpus, sorted."""
    root = music21_corpus_root()
    return sorted(str(p) for p in root.rglob("*") if p.suffix in (".mxl", ".xml", ".musicxml"))


def corpus_name(path: str) -> str:
    return os.path.relpath(path, music21_corpus_root())


def _digest(path: str) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def music21_rendering(path: str, data: bytes, cache: str) -> tuple[bytes, str | None, str | None]:
    """render_music21 on the file, or its earlier result from `cache` (a folder) when given."""
    import hashlib
    import json
    import warnings

    from symcorpus.music.parse import render_music21

    stored = None
    if cache:
        key = hashlib.sha256(data).hexdigest()
        stored = os.path.join(cache, key)
        if os.path.exists(stored + ".json"):
            with open(stored + ".json") as f:
                meta = json.load(f)
            if meta.get("error"):
                raise RuntimeError(meta["error"])
            with open(stored + ".mid", "rb") as f:
                return f.read(), meta["title"], meta["composer"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            render = render_music21(data, "musicxml", os.path.basename(path))
            midi, title, composer = render.midi, render.title, render.composer
    except Exception as e:  # noqa: BLE001
        if stored:
            with open(stored + ".json", "w") as f:
                json.dump({"error": f"{type(e).__name__}: {e}"}, f)
        raise
    if stored:
        with open(stored + ".mid", "wb") as f:
            f.write(midi)
        with open(stored + ".json", "w") as f:
            json.dump({"title": title, "composer": composer}, f)
    return midi, title, composer


def check_file(path: str, cache: str = "") -> tuple[str, str, str, float, float]:
    """(name, outcome, detail, music21 seconds, reader seconds); outcome is match/differ/declined/both_fail."""

    import symusic

    from symcorpus.music.musicxml import MalformedMusicXML, UnsupportedMusicXML, read_musicxml
    from symcorpus.music.score_compare import first_difference

    name = corpus_name(path)
    with open(path, "rb") as f:
        data = f.read()
    started = time.perf_counter()
    try:
        fast = read_musicxml(data)
        fast_error = None
    except UnsupportedMusicXML as e:
        fast, fast_error = None, ("declined", e.reason, str(e))
    except MalformedMusicXML as e:
        fast, fast_error = None, ("malformed", "malformed", str(e))
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    try:
        reference, title, composer = music21_rendering(path, data, cache)
        reference_error = None
    except Exception as e:  # noqa: BLE001 - music21 fails on some files; that is an outcome too
        reference, reference_error = None, f"{type(e).__name__}: {e}"
    music21_s = time.perf_counter() - started
    if fast_error is not None and fast_error[0] == "declined":
        return name, "declined", fast_error[1], music21_s, fast_s
    if reference_error is not None:
        if fast_error is not None:
            return name, "both_fail", reference_error[:200], music21_s, fast_s
        return name, "differ", f"music21 fails ({reference_error[:200]}), the reader does not", music21_s, fast_s
    if fast_error is not None:
        return name, "differ", f"the reader fails ({fast_error[2]}), music21 does not", music21_s, fast_s
    difference = first_difference(symusic.Score.from_midi(fast.midi), symusic.Score.from_midi(reference))
    if difference is None and (fast.title, fast.composer) != (title, composer):
        difference = f"metadata {(fast.title, fast.composer)} vs {(title, composer)}"
    if difference is not None:
        return name, "differ", difference, music21_s, fast_s
    return name, "match", "", music21_s, fast_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--only", default="", help="check only files whose corpus path contains this")
    parser.add_argument("--quiet", action="store_true", help="do not list matching files")
    parser.add_argument("--cache", default="", help="folder keeping music21's renderings between runs")
    parser.add_argument("--cached-only", action="store_true",
                        help="check only files whose music21 rendering is already in --cache")
    args = parser.parse_args()
    files = [p for p in corpus_files() if args.only in corpus_name(p)]
    if args.cache:
        os.makedirs(args.cache, exist_ok=True)
    if args.cached_only:
        files = [p for p in files if os.path.exists(os.path.join(args.cache, _digest(p) + ".json"))]
    started = time.perf_counter()
    check = functools.partial(check_file, cache=args.cache)
    if args.jobs > 1:
        with multiprocessing.Pool(args.jobs, maxtasksperchild=20) as pool:
            results = list(pool.imap_unordered(check, files, chunksize=1))
    else:
        results = [check(p) for p in files]
    results.sort()
    by_outcome = collections.defaultdict(list)
    for name, outcome, detail, _, _ in results:
        by_outcome[outcome].append((name, detail))
    reasons = collections.Counter(detail for _, detail in by_outcome["declined"])
    print(f"{len(files)} MusicXML files of music21's corpus"
          + (" (those with a cached music21 rendering)" if args.cached_only else "")
          + f", {time.perf_counter() - started:.0f} s")
    print(f"declined (fall back to music21): {len(by_outcome['declined'])}"
          + "".join(f"\n  {reason}: {count}" for reason, count in reasons.most_common()))
    for name, detail in by_outcome["declined"]:
        print(f"  declined {name}: {detail}")
    print(f"music21 and the reader both fail: {len(by_outcome['both_fail'])}")
    for name, detail in by_outcome["both_fail"]:
        print(f"  both fail {name}: {detail}")
    print(f"match exactly: {len(by_outcome['match'])}")
    if not args.quiet:
        for name, _ in by_outcome["match"]:
            print(f"  match {name}")
    print(f"differ: {len(by_outcome['differ'])}")
    for name, detail in by_outcome["differ"]:
        print(f"  differ {name}: {detail}")
    return 1 if by_outcome["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())
