"""What music21's MIDI translator does to a part's flat notes: velocities (volume.realizeVolume)
and tied notes merged (stripTies)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction

from symcorpus.music.musicxml.errors import UnsupportedMusicXML
from symcorpus.music.musicxml.measures import CHORD, NOTE, REST, Item


def _music21_number(q: int, grid: int):
    """How music21 holds q/grid quarters (common.opFrac): a float when exact in binary, else a Fraction."""
    value = Fraction(q, grid)
    denominator = value.denominator
    return value.numerator / denominator if denominator & (denominator - 1) == 0 else value


@dataclass(frozen=True)
class PartContext:
    """The dynamics of a multi-staff part as read (all staves, unexpanded), and each item's place
    there: where music21's context search goes on before a staff's first dynamic."""

    origins: list[int]  # per item of the staff, its offset in the part as read
    offsets: list[int]  # the part's dynamics, in order
    values: list[float]


def realize_velocities(items: list[Item], starts: list[int], dynamics: list[tuple], highest: int,
                        grid: int, part: PartContext | None = None) -> list[int | tuple[int, ...]]:
    """music21's volume.realizeVolume, then int(round(realized * 127)), per item (0 for rests; a
    tuple, one per note, for a chord whose notes carry their own volumes).

    Each dynamic lasts until the next one; music21 computes its end as offset + length without
    normalizing, so a float offset plus a fractional length rounds to a float, and a note starting
    right at the next dynamic can still fall under this one. The ends here are those numbers.
    """
    bounds = {}
    for index, mark in enumerate(dynamics):
        next_at = dynamics[index + 1][1] if index + 1 < len(dynamics) else highest
        end = _music21_number(mark[1], grid) + _music21_number(next_at - mark[1], grid)
        bounds[(mark[1], Fraction(end) * grid)] = mark[2]  # (start, end) in grid units, exact
    # For integer offsets, end > offset exactly when ceil(end) > offset.
    spans = [(start, math.ceil(end), bounds[(start, end)]) for start, end in sorted(bounds)]
    dynamic_offsets = [mark[1] for mark in dynamics]
    last_key = 0
    velocities = []
    for index, (item, at) in enumerate(zip(items, starts)):
        if item.kind == REST:
            velocities.append(0)
            continue
        scalar = None
        if spans:
            for k in range(last_key, len(spans)):
                start, end, found = spans[k]
                if end > at >= start:
                    last_key = k
                    scalar = found
                    break
        if item.note_vels is not None:
            # A chord whose notes all carry a volume: music21's translator realizes each note's own
            # volume, not the chord's, with the note's client being the chord: under the dynamic
            # a context search from the chord finds (the staff's last one at or before it, not the
            # span realizeVolume uses) and shifted by the chord's articulations. Before the staff's
            # first dynamic, in a staff of a multi-staff part, that search goes on in the part as
            # read (`part`); a one-staff part there is declined (not met in music21's corpus).
            mark = bisect.bisect_right(dynamic_offsets, at) - 1
            if mark >= 0:
                context = dynamics[mark][2]
            elif part is not None and (found := bisect.bisect_right(part.offsets, part.origins[index]) - 1) >= 0:
                context = part.values[found]
            else:
                raise UnsupportedMusicXML("chord_dynamics", "a chord whose notes carry volumes before any dynamic")
            velocities.append(tuple(_velocity(vel, context, item.arts) for vel in item.note_vels))
        else:
            velocities.append(_velocity(item.vel, scalar, item.arts))
    return velocities


def _velocity(vel: float | None, scalar: float | None, arts) -> int:
    """music21's Volume.getRealized (base level 0.5, clipped to 0-1) as a MIDI velocity."""
    value = 0.5
    if vel is not None:
        value = value * (vel * 2.0)
    else:
        value += 0.20866
    if scalar is not None:
        value = value * (scalar * 2.0)
    for _, shift in arts:
        value += shift
    if value > 1:
        value = 1.0
    elif value < 0:
        value = 0.0
    return int(round(value * 127))


def strip_ties(items: list[Item], durations: list[int]) -> set[int]:
    """music21's stripTies(matchByPitch=True) over a part's flattened notes, chords and rests: a
    tied chain becomes its first note, as long as all of them. Updates `durations`; returns the
    indices of the notes merged away."""
    chain = [i for i, item in enumerate(items) if item.dur > 0]
    connected: list[int] = []  # positions in `chain`
    removed: set[int] = set()

    def pitch_ids(item):
        return item.ids if item.kind != REST else ()

    def ends_chain(i: int) -> bool:
        item = items[chain[i]]
        if item.kind != CHORD and item.tie == "stop":
            return True
        if i == 0 or (i - 1) not in connected:
            return False
        last = items[chain[i - 1]]
        if last.kind == NOTE and item.kind == NOTE:
            return last.ids[0][:3] == item.ids[0][:3]
        if item.kind != NOTE:
            last_ids, ids = pitch_ids(last), pitch_ids(item)
            if len(last_ids) != len(ids):
                return False
            return all(a[0] == b[0] and a[3] == b[3] for a, b in zip(last_ids, ids))
        return False

    for i, index in enumerate(chain):
        tie = items[index].tie
        if tie is None and not connected:
            continue  # no tie and no chain open: nothing can end here
        end = None
        if tie == "start":
            if i == 0 or (i - 1) not in connected:
                connected = [i]
            else:
                connected.append(i)
            end = False
        elif tie == "continue":
            if not connected:
                connected.append(i)
            elif ends_chain(i):
                connected.append(i)
            else:
                connected = [i]
            end = False
        if end is None:
            end = ends_chain(i)
        if end:
            connected.append(i)
            if len(connected) < 2:
                connected = []
                continue
            first = chain[connected[0]]
            durations[first] += sum(durations[chain[j]] for j in connected[1:])
            removed.update(chain[j] for j in connected[1:])
            connected = []
    return removed
