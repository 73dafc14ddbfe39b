"""Key accuracy: our estimator (notes only) against the ABC `K:` header, beside music21's
`analyze('key')` on the same tunes. Major and minor tunes only (modal headers are skipped).

    python bench/key_accuracy.py              # 1,000 tunes
    python bench/key_accuracy.py --tunes 300
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import symusic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.music.abc_text import decode_abc, parse_header, split_tunes  # noqa: E402
from symcorpus.music.convert import to_midi  # noqa: E402
from symcorpus.music.keys import PITCH_NAMES, Key, abc_key, estimate_key, mirex_score, pitch_class_histogram  # noqa: E402
from symcorpus.music.notes import canonical_notes  # noqa: E402
from symcorpus.music.parse import ParseError  # noqa: E402
from symcorpus.pipeline.sources import music21_corpus_root  # noqa: E402

OUT = Path("bench/out")


def sample_tunes(n: int, seed: int = 3) -> list[tuple[Key, bytes]]:
    tunes = []
    for path in sorted(music21_corpus_root().rglob("*.abc")):
        for tune in split_tunes(path.read_bytes()):
            declared = abc_key(parse_header(decode_abc(tune.content)).get("key", ""))
            if declared is not None:
                tunes.append((declared, tune.content))
    random.Random(seed).shuffle(tunes)
    return tunes[:n]


def music21_key(abc: bytes) -> Key | None:
    import music21

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = music21.converter.parseData(decode_abc(abc), format="abc").analyze("key")
    return Key(key.tonic.pitchClass, key.mode == "minor", float(key.correlationCoefficient))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tunes", type=int, default=1000)
    args = parser.parse_args()
    tunes = sample_tunes(args.tunes)
    ours, theirs, truths = [], [], []
    ours_s = theirs_s = 0.0
    for truth, abc in tunes:
        try:
            midi = to_midi(abc, "abc")
        except ParseError:
            continue
        t = time.perf_counter()
        notes = canonical_notes(symusic.Score.from_midi(midi))  # from rendered MIDI, as the pipeline has it
        mine = estimate_key(pitch_class_histogram(notes["pitch"], notes["duration_q"]))
        ours_s += time.perf_counter() - t
        t = time.perf_counter()
        try:
            other = music21_key(abc)  # music21 parses the ABC itself: that is its per-file cost
        except Exception:
            other = None
        theirs_s += time.perf_counter() - t
        if mine is None or other is None:
            continue
        ours.append(mine)
        theirs.append(other)
        truths.append(truth)
    n = len(truths)

    def exact(estimates):
        return float(np.mean([(e.tonic, e.minor) == (k.tonic, k.minor) for e, k in zip(estimates, truths)]))

    def mirex(estimates):
        return float(np.mean([mirex_score(e, k) for e, k in zip(estimates, truths)]))

    report = {
        "tunes": n, "minor_share": round(float(np.mean([k.minor for k in truths])), 3),
        "ours": {"exact": round(exact(ours), 4), "mirex": round(mirex(ours), 4), "tunes_per_s": round(n / ours_s)},
        "music21": {"exact": round(exact(theirs), 4), "mirex": round(mirex(theirs), 4),
                    "tunes_per_s": round(n / theirs_s, 1)},
    }
    print(f"{n} major/minor tunes from music21's ABC collections ({report['minor_share']:.1%} minor)")
    for name in ("ours", "music21"):
        r = report[name]
        print(f"  {name:8s} exact {r['exact']:.3f}  MIREX {r['mirex']:.3f}  {r['tunes_per_s']:,} tunes/s")
    print("  e.g.", [(PITCH_NAMES[k.tonic], k.minor, PITCH_NAMES[e.tonic], e.minor) for e, k in zip(ours[:3], truths[:3])])
    (OUT / "key_accuracy.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
