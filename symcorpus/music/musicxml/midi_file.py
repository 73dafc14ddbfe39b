"""The Standard MIDI File music21's translator writes: a conductor track, then one track per part
or staff, with music21's channels, start events and event order."""

from __future__ import annotations

import functools
import math
import operator
import struct

from symcorpus.music.musicxml.errors import UnsupportedMusicXML
from symcorpus.music.musicxml.lookups import Instrument
from symcorpus.music.musicxml.measures import KEY, TEMPO, TICKS_PER_QUARTER, TIME

_first = operator.itemgetter(0)


@functools.lru_cache(maxsize=8192)
def _varlen(value: int) -> bytes:
    out = bytearray([value & 0x7F])
    value >>= 7
    while value:
        out.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out)


# Event order at one tick, as music21 sorts MIDI packets: note-offs, then pitch bends, then the rest;
# within each, the order they were made in. An event's sort key is tick * 4 + its rank.
_OFF, _BEND, _OTHER_EVENT = 0, 1, 2


# Delta times below 128 are one byte: most events (chord notes, a note-off and the next note-on)
# are 0-127 ticks apart, and a table lookup is cheaper than _varlen's cached call.
_SHORT_DELTA = [bytes((value,)) for value in range(128)]


# Note-off events by channel and pitch (velocity 0): made once, shared by every track.
_NOTE_OFF = [[bytes((0x80 | channel, pitch, 0)) for pitch in range(128)] for channel in range(16)]


def _track(events: list[tuple[int, bytes]], head: list[bytes]) -> bytes:
    """An MTrk chunk: `head` events at tick 0, then `events` (key, data) stably sorted by key."""
    events.sort(key=_first)
    out = bytearray()
    for data in head:
        out += b"\x00" + data
    last = 0
    short = _SHORT_DELTA
    for key, data in events:
        delta = (key >> 2) - last  # >= 0: the events are sorted
        out += short[delta] if delta < 128 else _varlen(delta)
        out += data
        last += delta
    out += _varlen(TICKS_PER_QUARTER) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(out)) + bytes(out)


def _meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + _varlen(len(data)) + data


def _channels(instruments: list[Instrument]) -> dict:
    """music21's channelInstrumentData: a channel per program, in order of first use."""
    acceptable = list(range(1, 10)) + list(range(11, 17))
    by_program: dict = {}
    unique = []
    for inst in instruments:
        if inst.channel is not None and inst.program not in by_program:
            channel = inst.channel + 1
            if channel in acceptable:
                acceptable.remove(channel)
            elif channel != 10:
                channel = 1
            by_program[inst.program] = channel
        if inst.program not in unique:
            unique.append(inst.program)
    for i, program in enumerate(p for p in unique if p not in by_program):
        by_program[program] = acceptable[i] if i < len(acceptable) - 1 else acceptable[0]
    return by_program


def write_midi(grid: int, streams) -> bytes:
    step = grid // TICKS_PER_QUARTER

    def ticks(q: int) -> int:
        whole, rest = divmod(q, step)
        if 2 * rest > step or (2 * rest == step and whole % 2):
            whole += 1
        return whole

    # Conductor track: per kind, a mark is kept when later than the last one seen (parts in order).
    conductor = []
    for rank, kind in ((1, TEMPO), (2, KEY), (4, TIME)):
        last = -1
        found = False
        for _, _, marks in streams:
            for mark in marks:
                if mark[0] != kind:
                    continue
                if mark[1] > last:
                    conductor.append((mark[1], rank, kind, mark[2]))
                    found = True
                last = mark[1]
        if not found and kind == TEMPO:
            conductor.append((0, rank, kind, 120.0))
        if not found and kind == TIME:
            conductor.append((0, rank, kind, (4, 4)))
    conductor.sort(key=lambda c: (c[0], c[1]))
    events = []
    for offset, _, kind, value in conductor:
        key = 4 * ticks(offset) + _OTHER_EVENT
        if kind == TEMPO:
            if value is not None:
                mspq = int(round(60_000_000 / value))
                if not 0 <= mspq < 2**24:
                    raise UnsupportedMusicXML("tempo", f"{value} quarter notes per minute")
                events.append((key, _meta(0x51, mspq.to_bytes(3, "big"))))
        elif kind == TIME:
            numerator, denominator = value
            if numerator <= 255:
                events.append((key, _meta(0x58, bytes([numerator, int(math.log2(denominator)), 24, 8]))))
        else:
            sharps, mode = value
            events.append((key, _meta(0x59, bytes([sharps & 0xFF, mode]))))
    tracks = [_track(events, [])]

    by_program = _channels([inst for inst, _, _ in streams])
    for inst, notes, _ in streams:
        channel = (10 if inst.percussion else by_program[inst.program]) - 1
        head = [_meta(0x03, inst.name.encode("utf-8", "ignore"))]
        if inst.program is not None:
            head.append(bytes([0xC0 | channel, inst.program]))
        on, note_off = 0x90 | channel, _NOTE_OFF[channel]
        # The part's instrument, once more at its offset (0) in the part, and music21's pitch-bend reset.
        events = [(_OTHER_EVENT, bytes([0xC0 | channel, inst.program or 0])), (_BEND, bytes([0xE0 | channel, 0, 64]))]
        append = events.append
        for at, duration, velocity, item in notes:
            if step == 1:
                start, stop = 4 * at + _OTHER_EVENT, 4 * (at + duration) + _OFF
            else:
                tick = ticks(at)
                start, stop = 4 * tick + _OTHER_EVENT, 4 * (tick + ticks(duration)) + _OFF
            if item.lyrics:
                lyric = "\n".join(item.lyrics)
                if lyric:
                    append((start, _meta(0x05, lyric.encode("utf-8", "ignore"))))
            # A note's on and off keys always differ (their ranks differ), so appending them in pairs
            # keeps the order the stable sort sees among equal keys: the note-ons of a chord in
            # order, and its note-offs in order.
            for k, pitch in enumerate(item.midis):  # 0-127, as music21's Pitch.midi
                # A velocity per note for a chord whose notes carry their own volumes (playback.py).
                append((start, bytes((on, pitch, velocity if type(velocity) is int else velocity[k]))))
                append((stop, note_off[pitch]))
        tracks.append(_track(events, head))
    return b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), TICKS_PER_QUARTER) + b"".join(tracks)
