"""General MIDI program names and families (GM level 1)."""

from __future__ import annotations

import re

GM_PROGRAMS: tuple[str, ...] = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion",
    "Harmonica", "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings",
    "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs",
    "Voice Oohs", "Synth Choir", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon",
    "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter",
    "Applause", "Gunshot",
)
assert len(GM_PROGRAMS) == 128

# One family per block of eight programs.
GM_FAMILIES: tuple[str, ...] = (
    "Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
    "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive",
    "Sound Effects",
)

DRUMS = "Drums"


def program_name(program: int) -> str:
    return GM_PROGRAMS[program] if 0 <= program < 128 else f"Program {program}"


def program_family(program: int) -> str:
    return GM_FAMILIES[program // 8] if 0 <= program < 128 else "Unknown"


def sets_programs(smf: bytes) -> bool:
    """Whether a Standard MIDI File has any program change (a 0xCn event) in any track.

    A file without one never chose its instruments: a General MIDI player sounds every channel on
    the Acoustic Grand Piano (program 0), which is no fact of the music (abc2midi and many
    notation exports write none). Walks the events with running status; data bytes are below
    0x80, so a file with no byte 0xC0-0xCF anywhere has no program change and is not walked.
    """
    if not _PROGRAM_STATUS.search(smf):
        return False
    if len(smf) < 8 or smf[:4] != b"MThd":
        return False
    pos = 8 + int.from_bytes(smf[4:8], "big")
    while pos + 8 <= len(smf):
        length = int.from_bytes(smf[pos + 4 : pos + 8], "big")
        start, end = pos + 8, min(pos + 8 + length, len(smf))
        if smf[pos : pos + 4] == b"MTrk" and _track_sets_program(smf, start, end):
            return True
        pos = start + length
    return False


_PROGRAM_STATUS = re.compile(rb"[\xc0-\xcf]")


def _vlq(data: bytes, i: int, end: int) -> tuple[int, int]:
    """A variable-length quantity at `i`: (value, index after it)."""
    value = 0
    while i < end:
        byte = data[i]
        i += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return value, i


def _track_sets_program(data: bytes, i: int, end: int) -> bool:
    running = 0  # the channel status in force (running status)
    while i < end:
        _, i = _vlq(data, i, end)  # delta time
        if i >= end:
            return False
        byte = data[i]
        if byte >= 0xF0:  # meta (FF type length data) and sysex (F0/F7 length data): no running status
            i += 2 if byte == 0xFF else 1
            length, i = _vlq(data, i, end)
            i += length
            continue
        if byte & 0x80:
            running = byte
            i += 1
        elif not running:
            return False  # a data byte with no status before it: not MIDI we can walk further
        kind = running & 0xF0
        if kind == 0xC0:
            return True
        i += 1 if kind == 0xD0 else 2
    return False
