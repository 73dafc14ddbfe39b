"""Labelled duplicate families made from real music: the generator behind the dedup benchmarks.

Bases are music21's ABC tunes rendered to MIDI by our converter. Real collections repeat tunes (the
same reel in O'Neill's and in Ryan's), so bases are first thinned until no two of them share 30% of
their shingles (exact Jaccard, well below the 0.45 dedup threshold and far above the 0.07 that
unrelated tunes reach at the 99.9th percentile); otherwise "unrelated" pairs would really be copies.

Every variant kind in symcorpus.testing.variants.MUST_MATCH must be found as a duplicate of its base:
transposed, tempo-scaled, re-encoded at another resolution, instruments changed, tracks split or
merged, 5% of notes dropped or added, velocities humanized, 10% trimmed, an intro added.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import symusic

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_midi import base_midi  # noqa: E402

from symcorpus.music.fingerprint import jaccard, shingles  # noqa: E402
from symcorpus.music.notes import canonical_notes  # noqa: E402
from symcorpus.testing.variants import MUST_MATCH  # noqa: E402

DISTINCT_BELOW = 0.30


def distinct_bases(limit: int, min_notes: int = 24) -> list[bytes]:
    """Up to `limit` base tunes, no two sharing DISTINCT_BELOW of their shingles."""
    chosen: list[bytes] = []
    chosen_sets: list[np.ndarray] = []
    index: dict[int, list[int]] = {}  # shingle -> chosen bases holding it: only those are compared
    for midi in base_midi():
        notes = canonical_notes(symusic.Score.from_midi(midi))
        if len(notes) < min_notes:
            continue
        s = shingles(notes)
        rivals = {j for h in s[:: max(1, len(s) // 16)] for j in index.get(int(h), [])}
        if any(jaccard(s, chosen_sets[j]) >= DISTINCT_BELOW for j in rivals):
            continue
        for h in s:
            index.setdefault(int(h), []).append(len(chosen))
        chosen.append(midi)
        chosen_sets.append(s)
        if len(chosen) >= limit:
            break
    return chosen


def make_families(out: Path, n_families: int, n_unrelated: int, seed: int = 7,
                  kinds_per_family: int | None = None) -> dict:
    """Write families (base + variants) and unrelated singletons under `out`; returns the labels.

    `kinds_per_family`: None = every variant kind for every family; k = k kinds drawn per family.
    """
    labels_path = out / "labels.json"
    if labels_path.exists():
        labels = json.loads(labels_path.read_text())
        if labels["n_families"] == n_families and labels["n_unrelated"] == n_unrelated:
            return labels
    rng = np.random.default_rng(seed)
    bases = distinct_bases(n_families + n_unrelated)
    if len(bases) < n_families + n_unrelated:
        raise SystemExit(f"only {len(bases)} distinct bases available")
    kinds = list(MUST_MATCH)
    files: dict[str, dict] = {}
    for f in range(n_families):
        folder = out / f"family_{f:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "original.mid").write_bytes(bases[f])
        files[f"family_{f:05d}/original.mid"] = {"family": f, "kind": "original"}
        chosen = kinds if kinds_per_family is None else list(rng.choice(kinds, kinds_per_family, replace=False))
        for kind in chosen:
            (folder / f"{kind}.mid").write_bytes(MUST_MATCH[kind](bases[f], rng))
            files[f"family_{f:05d}/{kind}.mid"] = {"family": f, "kind": kind}
    for u in range(n_unrelated):
        rel = f"unrelated/{u:05d}.mid"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(bases[n_families + u])
        files[rel] = {"family": n_families + u, "kind": "unrelated"}
    labels = {"n_families": n_families, "n_unrelated": n_unrelated, "files": files}
    labels_path.write_text(json.dumps(labels))
    return labels
