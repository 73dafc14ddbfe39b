"""Compare two symusic scores event for event: the first difference, in words, or None.

Used to check a renderer against a reference (the MusicXML reader against music21's rendering):
ticks per quarter, tempo map, time and key signatures, and per track its name, program, drum flag,
notes (onset, duration, pitch, velocity, as a sorted multiset), pitch bends, controllers and lyrics.
"""

from __future__ import annotations

import symusic


def _notes(track) -> list[tuple[int, int, int, int]]:
    return sorted((n.time, n.pitch, n.duration, n.velocity) for n in track.notes)


def _first_mismatch(name: str, a: list, b: list) -> str | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"{name} {i}: {x} vs {y}"
    if len(a) != len(b):
        extra = a[len(b)] if len(a) > len(b) else b[len(a)]
        return f"{name}: {len(a)} vs {len(b)} (first extra {extra})"
    return None


def first_difference(a: symusic.Score, b: symusic.Score) -> str | None:
    """Where `a` and `b` first differ (in `a` vs `b` order), or None when they agree."""
    if a.ticks_per_quarter != b.ticks_per_quarter:
        return f"ticks per quarter {a.ticks_per_quarter} vs {b.ticks_per_quarter}"
    checks = [
        ("tempo", [(t.time, t.mspq) for t in a.tempos], [(t.time, t.mspq) for t in b.tempos]),
        ("time signature", [(t.time, t.numerator, t.denominator) for t in a.time_signatures],
         [(t.time, t.numerator, t.denominator) for t in b.time_signatures]),
        ("key signature", [(k.time, k.key, k.tonality) for k in a.key_signatures],
         [(k.time, k.key, k.tonality) for k in b.key_signatures]),
        ("track", [(t.name, t.program, t.is_drum) for t in a.tracks], [(t.name, t.program, t.is_drum) for t in b.tracks]),
    ]
    for name, x, y in checks:
        found = _first_mismatch(name, x, y)
        if found:
            return found
    for i, (ta, tb) in enumerate(zip(a.tracks, b.tracks)):
        label = f"track {i} ({ta.name})"
        for name, x, y in (
            ("note (time, pitch, duration, velocity)", _notes(ta), _notes(tb)),
            ("pitch bend", [(p.time, p.value) for p in ta.pitch_bends], [(p.time, p.value) for p in tb.pitch_bends]),
            ("control", [(c.time, c.number, c.value) for c in ta.controls], [(c.time, c.number, c.value) for c in tb.controls]),
            ("lyric", [(x.time, x.text) for x in ta.lyrics], [(x.time, x.text) for x in tb.lyrics]),
        ):
            found = _first_mismatch(f"{label} {name}", x, y)
            if found:
                return found
    return None
