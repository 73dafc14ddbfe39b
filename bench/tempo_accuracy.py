"""Tempo of performed music from its notes: accuracy and speed of symcorpus.music.tempo against
library peers, on the same performances in the same run.

    python bench/tempo_accuracy.py --count 200

Pieces: ABC tunes from music21's corpus whose Q: field names the beat (the Aird collection: jigs
in dotted quarters, reels in half notes, airs and marches in quarters), rendered by our converter
and re-timed like a human performance by symcorpus/testing/performance.py: a 120 bpm placeholder
tempo, 0.85-1.15x the notated tempo, 1-5% drift, 10-30 ms jitter, rubato on half. The truth is the
notated beat at the rate it was played.

Methods, each given what it takes as input:
  ours                 estimate_tempo on onsets, velocities and durations in seconds
  librosa              librosa.feature.tempo (autocorrelation tempogram, log-normal prior at
                       120 bpm, 1 octave) on our onset-strength signal, blurred as ours is, at
                       100 frames/s
  librosa+our prior    the same with our prior (100 bpm, 0.7 octave), to separate method from prior
  pretty_midi          PrettyMIDI.estimate_tempo (inter-onset-interval clustering)
  partitura            musicanalysis.estimate_time (Dixon's multiple beat-tracking agents)

Accuracy: within 4% of the truth; within 4% of it, its double or its half; within 4% or at the
octave nearer 100 bpm (the choice tempo.py documents). Speed: milliseconds per piece on one core
(threads pinned to 1), each method warmed up on the same 3 pieces, then one timed pass over all;
inputs (arrays, a PrettyMIDI object, a note array) are made before the timing, signals inside it.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import symusic  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symcorpus.music import tempo  # noqa: E402
from symcorpus.music.notes import note_table  # noqa: E402
from symcorpus.sources.music21 import corpus_root as music21_corpus_root  # noqa: E402
from symcorpus.testing.performance import performed_tunes  # noqa: E402

WARM_UP = 3


LIBROSA_FRAME_RATE = 100.0  # finer than librosa's default 43 frames/s (22050 Hz, hop 512): its lags are whole frames


def blurred_strength(onset_s: np.ndarray, velocity: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    """Our onset-strength signal, blurred by our Gaussian: the envelope the librosa peer reads."""
    weight = tempo.onset_weights(velocity, duration_s, len(onset_s))
    signal = tempo.onset_strength(onset_s, weight, LIBROSA_FRAME_RATE)
    sd = tempo.BLUR_S * LIBROSA_FRAME_RATE
    kernel = np.exp(-0.5 * (np.arange(-int(4 * sd), int(4 * sd) + 1) / sd) ** 2)
    return np.convolve(signal, kernel, mode="same")


def methods() -> dict[str, tuple[Callable, Callable]]:
    """name -> (make the input from a performance's MIDI bytes, estimate bpm from that input)."""
    import librosa
    import partitura
    import pretty_midi

    def arrays(midi: bytes):
        return tempo.score_onsets(symusic.Score.from_midi(midi))

    def ours(inputs):
        onset_s, duration_s, velocity = inputs
        estimate = tempo.estimate_tempo(onset_s, velocity, duration_s)
        return estimate.bpm if estimate else None

    def with_librosa(start_bpm: float, std_octaves: float):
        def run(inputs):
            onset_s, duration_s, velocity = inputs
            envelope = blurred_strength(onset_s, velocity, duration_s)
            return float(librosa.feature.tempo(onset_envelope=envelope, sr=LIBROSA_FRAME_RATE, hop_length=1,
                                               start_bpm=start_bpm, std_bpm=std_octaves, max_tempo=tempo.MAX_BPM)[0])
        return run

    def pretty(midi: bytes):
        return pretty_midi.PrettyMIDI(io.BytesIO(midi))

    def note_array(midi: bytes):
        score = symusic.Score.from_midi(midi)
        onset_s, duration_s, velocity = tempo.score_onsets(score)
        pitch = note_table(score)["pitch"]
        table = np.zeros(len(onset_s), dtype=[("onset_sec", "f4"), ("duration_sec", "f4"), ("pitch", "i4"),
                                              ("velocity", "i4"), ("id", "U8")])
        order = np.argsort(onset_s, kind="stable")
        table["onset_sec"], table["duration_sec"] = onset_s[order], duration_s[order]
        table["velocity"] = velocity[order]
        table["pitch"] = pitch[order]
        table["id"] = [f"n{i}" for i in range(len(order))]
        return table

    return {
        "ours": (arrays, ours),
        "librosa": (arrays, with_librosa(120.0, 1.0)),
        "librosa+our prior": (arrays, with_librosa(tempo.PREFERRED_BPM, tempo.PREFERENCE_OCTAVES)),
        "pretty_midi": (pretty, lambda pm: float(pm.estimate_tempo())),
        "partitura": (note_array, lambda notes: float(partitura.musicanalysis.estimate_time(notes)["tempo"])),
    }


def score(estimates: list[float | None], truths: np.ndarray) -> tuple[float, float, float, int]:
    """(within 4%, within 4% at x1/x2/x0.5, within 4% or the documented octave, no estimate)."""
    found = np.array([np.nan if e is None else e for e in estimates])
    near = [np.abs(found / (truths * f) - 1) <= tempo.AGREEMENT for f in (1.0, 2.0, 0.5)]
    documented = [e is not None and tempo.octave_nearer_preference(e, t) for e, t in zip(estimates, truths)]
    return (float(near[0].mean()), float((near[0] | near[1] | near[2]).mean()),
            float((near[0] | np.array(documented)).mean()), int(np.isnan(found).sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    books = sorted((music21_corpus_root() / "airdsAirs").glob("*.abc"))
    tunes = performed_tunes(books, args.count, seed=args.seed)
    truths = np.array([t.true_bpm for t in tunes])
    notes = [symusic.Score.from_midi(t.performance.midi).note_num() for t in tunes]
    print(f"{len(tunes)} performed tunes, {np.mean(notes):.0f} notes on average; true beat "
          f"{truths.min():.0f}-{truths.max():.0f} bpm (median {np.median(truths):.0f})")
    print(f"{'method':20s} {'within 4%':>10s} {'x1/x2/x0.5':>11s} {'documented':>11s} {'none':>5s} {'ms/piece':>9s}")
    for name, (prepare, estimate) in methods().items():
        inputs = [prepare(t.performance.midi) for t in tunes]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for item in inputs[:WARM_UP]:
                estimate(item)
            started = time.perf_counter()
            estimates = [estimate(item) for item in inputs]
            elapsed = time.perf_counter() - started
        strict, octaves, documented, none = score(estimates, truths)
        print(f"{name:20s} {strict:10.1%} {octaves:11.1%} {documented:11.1%} {none:5d} "
              f"{elapsed / len(inputs) * 1e3:9.2f}", flush=True)


if __name__ == "__main__":
    main()
