"""Pieces that parse fine but fail a quality rule, made by the tests: rule code -> file bytes.

Built with symusic from a real tune (so everything else about them is ordinary), each breaking
exactly one rule.
"""

from __future__ import annotations

import symusic

TPQ = 480


def _score(tracks: list[tuple[int, bool, list[tuple[int, int, int]]]], qpm: float = 120.0, tpq: int = TPQ) -> bytes:
    """tracks: (program, is_drum, [(onset_ticks, duration_ticks, pitch)])"""
    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(0, qpm))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    for program, is_drum, notes in tracks:
        track = symusic.Track(program=program, is_drum=is_drum)
        for onset, duration, pitch in notes:
            track.notes.append(symusic.Note(onset, duration, pitch, 80))
        score.tracks.append(track)
    return score.dumps_midi()


def _melody(n: int, step: int = TPQ, start: int = 0, low: int = 60, walk: int = 5) -> list[tuple[int, int, int]]:
    """n notes up and down a scale, `walk` degrees at a time: made pieces with different walks are not
    near duplicates of one another (dedup sees rejected pieces too)."""
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2]
    return [(start + i * step, step, low + scale[(i * walk + i // 3) % len(scale)]) for i in range(n)]


def musical_rejects() -> dict[str, bytes]:
    loop_bar = [(0, 240, 60), (240, 240, 64), (480, 240, 67), (720, 240, 72),
                (960, 480, 67), (1440, 480, 64)]
    looped = [(bar * 4 * TPQ + t, d, p) for bar in range(24) for t, d, p in loop_bar]
    return {
        "drums_only": _score([(0, True, [(i * 240, 120, 36 + i % 12) for i in range(64)])]),
        "tpq_below_grid": _score([(0, False, _melody(40, step=2))], tpq=2),  # 2 ticks per quarter
        "too_few_notes": _score([(0, False, _melody(6))]),
        "too_short": _score([(0, False, _melody(24, step=60, walk=3))]),  # 24 notes in 1.5 s
        "too_many_tracks": _score([(i % 8, False, _melody(16, start=i, walk=13)) for i in range(70)]),
        "pitch_out_of_range": _score([(0, False, _melody(40, low=2, walk=9))]),
        "absurd_density": _score([(0, False, [(i * 10, 10, 40 + i % 40) for i in range(4000)])]),
        "long_silence": _score([(0, False, _melody(20, walk=11) + _melody(20, start=120 * TPQ, walk=11))]),
        "looped_bar": _score([(0, False, looped)]),
    }


# An ABC tune whose two voices disagree on their number of bars (NotaGen rejects these).
UNEQUAL_VOICES_ABC = b"""X:1
T:Unequal voices
M:4/4
L:1/4
K:C
V:1
C D E F | G A B c | c B A G | F E D C | C D E F | G A B c | c B A G | F E D C |]
V:2
C,2 E,2 | G,2 C2 | E,2 G,2 | C,4 | C,2 E,2 | G,2 C2 |]
"""
