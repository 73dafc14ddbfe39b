"""The loops over notes compiled by numba (music/loops.py). Each has one compiled version, the one
the warm-up makes: a caller passing another dtype or layout would compile again, in every Spark
worker. Checked in a fresh process, after the steps that call them ran on a multi-track song with
drums and on a real tune."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import json, sys
import numba, numpy as np, symusic
from symcorpus.config import load_settings
from symcorpus.music import compiled_loops
from symcorpus.music.chords import window_chord_indices, windows
from symcorpus.music.features import piece_features
from symcorpus.music.notes import note_table
from symcorpus.steps.fingerprint import fingerprints
from symcorpus.testing.synthetic import piece

loops = compiled_loops()
compiled = {name: f for name, f in vars(loops).items()
            if isinstance(f, numba.core.registry.CPUDispatcher) and not name.startswith("_")}
loops.warm_up()
after_warm_up = {name: len(f.signatures) for name, f in compiled.items()}
dedup = load_settings(None).dedup
for midi in (piece(7), bytes.fromhex(sys.argv[1])):
    score = symusic.Score.from_midi(midi)
    table = note_table(score)
    fingerprints(table, int(score.ticks_per_quarter), dedup)
    piece_features(score, table)
    end = float((table["onset"] + table["duration"]).max())
    window_chord_indices(table, *windows(np.arange(0, end, score.ticks_per_quarter, dtype=np.float64), end))
print(json.dumps({"after_warm_up": after_warm_up, "after_steps": {n: len(f.signatures) for n, f in compiled.items()}}))
"""


def test_each_loop_has_the_one_compiled_version_the_warm_up_makes(midi_from_abc):
    out = subprocess.run([sys.executable, "-c", _SCRIPT, midi_from_abc[0][1].hex()], capture_output=True, text=True,
                         check=True)
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(counts["after_warm_up"]) >= 13  # every loop of the module
    assert set(counts["after_warm_up"].values()) == {1}, counts
    assert counts["after_steps"] == counts["after_warm_up"], counts
