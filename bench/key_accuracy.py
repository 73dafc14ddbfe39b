"""Key accuracy: our estimator (notes only) against the ABC `K:` header, beside music21's
`analyze('key')` and our previous estimator on the same tunes. Major and minor tunes only (modal
headers are skipped).

Every tune falls in a tuning half or a held-out half by a hash of its file and position. `--fit`
fits the cue weights of `key_of_notes` on the tuning half only and prints them (they are pasted into
symcorpus/music/keys.py as KEY_WEIGHTS); the benchmark reports both halves, and the held-out one is
the figure that counts.

What the headers declare: O'Neill's, Ryan's, Aird's, miscFolk and Nottingham write `K:` with its
mode (Em, Gm, A Dorian...). The Essen collection (EsAC) gives only the tonic, always with a major
signature, and writes a minor tune's flats as accidentals, so its "major" header is a tonic and its
mode says nothing; in its Chinese songs (O: China) the letter is the gong of the pentatonic scale,
not the final. The fit therefore uses Essen's European tunes for the tonic only and leaves the Chinese
ones out; the benchmark scores every tune against the literal header and also shows Essen's tonic
accuracy.

    python bench/key_accuracy.py                      # up to 300 tunes per collection
    python bench/key_accuracy.py --per-collection 100
    python bench/key_accuracy.py --fit                # weights from the tuning half
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in the build's Spark workers (spark/session.py)
import numpy as np  # noqa: E402
import symusic  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.music.abc_text import decode_abc, parse_header, split_tunes  # noqa: E402
from symcorpus.music.convert import to_midi  # noqa: E402
from symcorpus.music.keys import KEY_CUES, Key, abc_key, key_cues, key_of_notes, mirex_score  # noqa: E402
from symcorpus.music.notes import canonical_notes  # noqa: E402
from symcorpus.music.parse import ParseError  # noqa: E402
from symcorpus.sources.music21 import corpus_root as music21_corpus_root  # noqa: E402
from symcorpus.testing.profile_key import estimate_key, pitch_class_histogram  # noqa: E402

OUT = Path("bench/out")
TUNING, HELD_OUT = 0, 1


@dataclass(frozen=True)
class Tune:
    collection: str  # music21 corpus folder
    path: str  # file inside the corpus
    index: int  # tune position in the file
    declared: Key  # the K: header as a major or minor key
    chinese: bool  # Essen's Chinese songs: K: names the pentatonic gong, not the tonic
    content: bytes

    @property
    def half(self) -> int:
        return hashlib.sha256(f"{self.path}#{self.index}".encode()).digest()[0] & 1

    @property
    def group(self) -> str:
        if self.collection != "essenFolksong":
            return self.collection
        return "essen (China)" if self.chinese else "essen (Europe)"


def all_tunes() -> list[Tune]:
    """Every tune of music21's ABC collections whose `K:` is major or minor."""
    root = music21_corpus_root()
    tunes = []
    for path in sorted(root.rglob("*.abc")):
        relative = path.relative_to(root).as_posix()
        for tune in split_tunes(path.read_bytes()):
            header = parse_header(decode_abc(tune.content))
            declared = abc_key(header.get("key", ""))
            if declared is None:
                continue
            collection = relative.split("/")[0]
            chinese = collection == "essenFolksong" and (
                header.get("origin", "").startswith("China") or path.name.startswith("han"))
            tunes.append(Tune(collection, relative, tune.index, declared, chinese, tune.content))
    return tunes


def sample(tunes: list[Tune], per_collection: int, seed: int = 3) -> list[Tune]:
    """Up to `per_collection` tunes of each collection, drawn at random (fixed seed)."""
    by_collection: dict[str, list[Tune]] = {}
    for tune in tunes:
        by_collection.setdefault(tune.collection, []).append(tune)
    picked = []
    for name in sorted(by_collection):
        group = by_collection[name][:]
        random.Random(f"{seed}:{name}").shuffle(group)
        picked += group[:per_collection]
    return picked


def pitched_notes(midi: bytes) -> np.ndarray:
    notes = canonical_notes(symusic.Score.from_midi(midi))  # from rendered MIDI, as the pipeline has it
    return notes[~notes["is_drum"]]


def music21_key(abc: bytes) -> Key | None:
    import music21

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = music21.converter.parseData(decode_abc(abc), format="abc").analyze("key")
    return Key(key.tonic.pitchClass, key.mode == "minor", float(key.correlationCoefficient))


# --------------------------------------------------------------------------------------------------
# --fit: conditional-logit weights from the tuning half


def fit_weights(cues: np.ndarray, target: np.ndarray, tonic_only: np.ndarray, l2: float = 1e-3,
                steps: int = 3000, rate: float = 0.05) -> np.ndarray:
    """Weights w maximising the mean log-probability of each tune's declared key, p(key) =
    softmax over the 24 keys of cues @ w, minus l2 * |w|^2. For `tonic_only` tunes the target is the
    tonic in either mode. Full-batch Adam from zero: deterministic."""
    n, n_keys, n_cues = cues.shape
    allowed = np.zeros((n, n_keys), dtype=bool)
    allowed[np.arange(n), target] = True
    allowed[tonic_only, target[tonic_only] % 12] = True
    allowed[tonic_only, target[tonic_only] % 12 + 12] = True
    w = np.zeros(n_cues)
    m = np.zeros(n_cues)
    v = np.zeros(n_cues)
    for step in range(1, steps + 1):
        scores = cues @ w
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        q = np.where(allowed, p, 0.0)
        q /= q.sum(axis=1, keepdims=True)  # the model's belief within the declared set
        gradient = -np.einsum("nk,nkc->c", q - p, cues) / n + 2 * l2 * w
        m = 0.9 * m + 0.1 * gradient
        v = 0.999 * v + 0.001 * gradient**2
        w -= rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return w


def fit(tunes: list[Tune]) -> None:
    tuning = [t for t in tunes if t.half == TUNING and not t.chinese]
    cues, target, tonic_only = [], [], []
    for tune in tuning:
        try:
            notes = pitched_notes(to_midi(tune.content, "abc"))
        except ParseError:
            continue
        c = key_cues(notes["pitch"], notes["onset_q"], notes["duration_q"])
        if c is None:
            continue
        cues.append(c)
        target.append(tune.declared.tonic + 12 * tune.declared.minor)
        tonic_only.append(tune.collection == "essenFolksong")
    cues_a, target_a, tonic_a = np.stack(cues), np.array(target), np.array(tonic_only)
    w = fit_weights(cues_a, target_a, tonic_a)
    predicted = (cues_a @ w).argmax(axis=1)
    exact = predicted == target_a
    tonic = predicted % 12 == target_a % 12
    print(f"fitted on {len(target_a)} tuning-half tunes ({tonic_a.sum()} Essen, tonic only)")
    print(f"  tuning half: exact {exact[~tonic_a].mean():.3f} (declared modes)  tonic {tonic[tonic_a].mean():.3f} (Essen)")
    print("KEY_WEIGHTS = np.array([" + ", ".join(f"{x:.3f}" for x in w) + "])")
    print("  cues:", ", ".join(f"{name}={x:.3f}" for name, x in zip(KEY_CUES, w)))


# --------------------------------------------------------------------------------------------------
# benchmark


def scores(rows: list[dict], name: str) -> dict:
    keys = [(r[name], r["declared"]) for r in rows]
    return {
        "tunes": len(keys),
        "exact": round(float(np.mean([(e.tonic, e.minor) == (k.tonic, k.minor) for e, k in keys])), 4),
        "mirex": round(float(np.mean([mirex_score(e, k) for e, k in keys])), 4),
        "tonic": round(float(np.mean([e.tonic == k.tonic for e, k in keys])), 4),
    }


def benchmark(tunes: list[Tune], per_collection: int) -> None:
    picked = sample(tunes, per_collection)
    rows = []
    seconds = {"ours": 0.0, "ours_notes_only": 0.0, "previous": 0.0, "music21": 0.0}
    for tune in picked:
        try:
            midi = to_midi(tune.content, "abc")
        except ParseError:
            continue
        t0 = time.perf_counter()
        notes = pitched_notes(midi)
        t1 = time.perf_counter()
        ours = key_of_notes(notes["pitch"], notes["onset_q"], notes["duration_q"])
        t2 = time.perf_counter()
        previous = estimate_key(pitch_class_histogram(notes["pitch"], notes["duration_q"]))
        t3 = time.perf_counter()
        try:
            theirs = music21_key(tune.content)  # music21 parses the ABC itself: that is its per-file cost
        except Exception:
            theirs = None
        t4 = time.perf_counter()
        if ours is None or previous is None or theirs is None:
            continue
        seconds["ours"] += t2 - t0
        seconds["ours_notes_only"] += t2 - t1
        seconds["previous"] += (t1 - t0) + (t3 - t2)
        seconds["music21"] += t4 - t3
        rows.append({"tune": tune, "declared": tune.declared, "ours": ours, "previous": previous, "music21": theirs})

    estimators = ("ours", "previous", "music21")
    n = len(rows)
    report: dict = {
        "tunes": n,
        "minor_share": round(float(np.mean([r["declared"].minor for r in rows])), 3),
        "tunes_per_s": {name: round(n / s, 1) for name, s in seconds.items()},
        "halves": {}, "groups": {},
    }
    halves = {"tuning": TUNING, "held_out": HELD_OUT}
    for half_name, half in halves.items():
        part = [r for r in rows if r["tune"].half == half]
        report["halves"][half_name] = {name: scores(part, name) for name in estimators}
    for group in sorted({r["tune"].group for r in rows}):
        report["groups"][group] = {}
        for half_name, half in halves.items():
            part = [r for r in rows if r["tune"].group == group and r["tune"].half == half]
            if part:
                report["groups"][group][half_name] = {name: scores(part, name) for name in estimators}
    # What a uniform draw from all the tunes (the previous version of this benchmark, two thirds Essen)
    # would show: each group's held-out score weighted by the group's share of all tunes.
    held = {g: by_half["held_out"] for g, by_half in report["groups"].items() if "held_out" in by_half}
    pool = {g: sum(t.group == g for t in tunes) for g in held}
    report["pool_weighted_held_out"] = {
        name: {"tunes": report["halves"]["held_out"][name]["tunes"]} | {
            metric: round(sum(pool[g] * held[g][name][metric] for g in held) / sum(pool.values()), 4)
            for metric in ("exact", "mirex", "tonic")}
        for name in estimators}
    mode_declared = [r for r in rows if r["tune"].collection != "essenFolksong"]
    report["declared_modes_held_out"] = {
        name: scores([r for r in mode_declared if r["tune"].half == HELD_OUT], name) for name in estimators}

    speed = report["tunes_per_s"]
    print(f"{n} major/minor tunes from music21's ABC collections, up to {per_collection} per collection "
          f"({report['minor_share']:.1%} minor by header)")
    print(f"  tunes/s: ours {speed['ours']:,.0f} (MIDI -> notes -> key; key alone {speed['ours_notes_only']:,.0f}), "
          f"previous {speed['previous']:,.0f}, music21 {speed['music21']:,.1f} (parses the ABC)")
    print(f"  {'':22s} {'half':9s} {'n':>5s}  " + "  ".join(f"{name:>22s}" for name in estimators))
    print(f"  {'':22s} {'':9s} {'':>5s}  " + "  ".join(f"{'exact  MIREX  tonic':>22s}" for _ in estimators))

    def line(label: str, half_name: str, result: dict) -> None:
        cells = "  ".join(f"{result[e]['exact']:>8.3f} {result[e]['mirex']:6.3f} {result[e]['tonic']:6.3f}" for e in estimators)
        print(f"  {label:22s} {half_name:9s} {result['ours']['tunes']:5d}  {cells}")

    for half_name in halves:
        line("ALL", half_name, report["halves"][half_name])
    line("ALL, pool-weighted", "held_out", report["pool_weighted_held_out"])
    line("declared modes only", "held_out", report["declared_modes_held_out"])
    for group, by_half in report["groups"].items():
        for half_name, result in by_half.items():
            line(group, half_name, result)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "key_accuracy.json").write_text(json.dumps(report, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-collection", type=int, default=300)
    parser.add_argument("--fit", action="store_true", help="fit KEY_WEIGHTS on the tuning half and print them")
    args = parser.parse_args()
    tunes = all_tunes()
    if args.fit:
        fit(tunes)
    else:
        benchmark(tunes, args.per_collection)


if __name__ == "__main__":
    main()
