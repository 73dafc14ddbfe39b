"""Instrumentation: NotaGen's six classes plus Solo melody, Band and Folk ensemble, from part names
(voice, keyboard and instrument words), General MIDI programs and the number of tracks.

A part's role comes from its name (words checked in the order of `_ROLE_WORDS`, so "Bass Clarinet"
is a wind and "Bass" alone a voice), or from its General MIDI program.
"""

from __future__ import annotations

import re
from collections import Counter

from symcorpus.music.instruments import GM_PROGRAMS
from symcorpus.music.labels.folding import fold
from symcorpus.music.labels.inputs import LabelInput


INSTRUMENTATIONS: tuple[str, ...] = (
    "Keyboard", "Chamber", "Orchestral", "Art Song", "Choral", "Vocal-Orchestral",
    "Solo melody", "Band", "Folk ensemble",
)

_ROLE_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("band", frozenset({"electric guitar", "bass guitar", "electric bass", "synth", "synthesizer",
                        "drum kit", "drum set", "lead guitar", "rhythm guitar"})),
    ("percussion", frozenset({"timpani", "timp", "pauken", "drum", "drums", "percussion", "cymbal",
                              "cymbals", "triangle", "glockenspiel", "xylophone", "marimba", "vibraphone",
                              "snare", "tambourine", "cowbell", "woodblock", "bells"})),
    ("keyboard", frozenset({"piano", "pianoforte", "fortepiano", "klavier", "clavier", "keyboard",
                            "keyboards", "organ", "orgel", "organo", "harpsichord", "cembalo", "clavecin",
                            "clavichord", "harmonium", "celesta", "pno", "pf", "continuo"})),
    ("folk", frozenset({"fiddle", "banjo", "bagpipe", "bagpipes", "pipes", "accordion", "akkordeon",
                        "concertina", "melodeon", "tin whistle", "whistle", "bodhran", "bouzouki",
                        "dulcimer", "hurdy gurdy", "harmonica", "sitar", "koto", "shamisen", "erhu",
                        "pipa", "guzheng", "kalimba", "shanai", "balalaika"})),
    ("strings", frozenset({"violin", "violins", "violino", "violini", "violine", "geige", "violon",
                           "viola", "violas", "bratsche", "cello", "cellos", "violoncello", "violoncelli",
                           "contrabass", "contrabasso", "double bass", "kontrabass", "violone", "viol",
                           "viols", "gamba", "strings", "string", "vln", "vla", "vc", "vlc", "vn", "cb"})),
    ("winds", frozenset({"flute", "flutes", "flauto", "flauti", "flote", "piccolo", "ottavino", "oboe",
                         "oboes", "hautbois", "oboi", "english horn", "cor anglais", "clarinet", "clarinets",
                         "clarinetto", "klarinette", "bassoon", "bassoons", "fagotto", "fagott",
                         "contrabassoon", "recorder", "blockflote", "saxophone", "sax", "horn", "horns",
                         "corno", "corni", "trumpet", "trumpets", "tromba", "trombe", "trompete",
                         "trombone", "trombones", "posaune", "tuba", "cornet", "cornett", "cornetto",
                         "euphonium", "flugelhorn", "bugle", "fife", "brass", "winds", "woodwinds",
                         "ocarina", "shakuhachi"})),
    ("plucked", frozenset({"guitar", "guitars", "gitarre", "chitarra", "lute", "laute", "liuto", "harp",
                           "harfe", "arpa", "mandolin", "mandoline", "theorbo", "tiorba"})),
    ("vocal", frozenset({"soprano", "sopran", "soprani", "mezzo", "mezzosoprano", "alto", "altus",
                         "contralto", "tenor", "tenore", "baritone", "bariton", "baritono", "bass", "basso",
                         "bassus", "voice", "voices", "voce", "voci", "vox", "voix", "vocal", "vocals",
                         "gesang", "singstimme", "chorus", "choir", "chor", "coro", "choeur", "canto",
                         "cantus", "superius", "discantus", "quintus", "quinto", "sextus", "sesto",
                         "triplum", "motetus", "duplum", "contratenor", "contra", "vocalist", "singer",
                         "treble"})),
)
_GENERIC_PART = re.compile(r"^(musicxml )?(part|staff|instrument|track|p)?\s*\d*$")


def part_role(name: str | None) -> str | None:
    """Role of a named part (vocal, keyboard, strings, winds, plucked, percussion, folk, band), or
    None when the name says nothing ("MusicXML Part", "P1", "")."""
    if not name or _GENERIC_PART.match(fold(name).strip()):
        return None
    words = re.findall(r"[a-z]+", fold(name))
    grams = set(words) | {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    for role, vocabulary in _ROLE_WORDS:
        if grams & vocabulary:
            return role
    return None


def _gm_role(program: int) -> str:
    if program <= 7 or program == 8 or 16 <= program <= 20:
        return "keyboard"
    if program <= 14 or program == 47 or 112 <= program <= 119:
        return "percussion"
    if program == 15 or 21 <= program <= 23 or 104 <= program <= 111:
        return "folk"
    if program in (24, 25, 46):
        return "plucked"
    if 26 <= program <= 31 or 33 <= program <= 39 or program in (54, 55, 62, 63) or 80 <= program <= 103:
        return "band"
    if program == 32 or 40 <= program <= 51:
        return "strings"
    if program in (52, 53):
        return "vocal"
    if 56 <= program <= 79:
        return "winds"
    return "effects"


_GM_ROLE = {name: _gm_role(i) for i, name in enumerate(GM_PROGRAMS)}
_CLASSICAL_ROLES = frozenset({"keyboard", "strings", "winds", "plucked", "percussion"})


def _part_roles(info: LabelInput) -> list[str]:
    """One role per part: from the part names of a score when every name says something, else from
    the GM programs, with tracks beyond the distinct programs counted as keyboard staves when there
    is a keyboard (a piano's two staves) and as the most common role otherwise. MIDI track names
    are not read: "Bass" there is a bass guitar far more often than a singer."""
    named = [part_role(n) for n in info.part_names or []] if info.format != "midi" else []
    if named and all(named):
        return named
    roles = [_GM_ROLE.get(name, "effects") for name in info.instruments or []]
    roles = [r for r in roles if r != "effects"]
    pitched_tracks = max((info.n_tracks or 0) - (1 if info.has_drums else 0), 0)
    if roles and pitched_tracks > len(roles):
        extra = "keyboard" if "keyboard" in roles else Counter(roles).most_common(1)[0][0]
        roles += [extra] * (pitched_tracks - len(roles))
    return roles


def instrumentation_of(info: LabelInput, folk: bool = False) -> str | None:
    """One of INSTRUMENTATIONS, or None. `folk`: the piece is traditional material."""
    if info.format == "abc":
        # abc2midi renders every voice on a default piano, so only the voice count means anything.
        if info.n_tracks == 1:
            return "Solo melody"
        return "Folk ensemble" if folk and (info.n_tracks or 0) > 1 else None
    roles = _part_roles(info)
    if not roles:
        return None
    kinds = set(roles)
    count = Counter(roles)
    total = len(roles)
    voices, keyboards = count["vocal"], count["keyboard"]
    others = total - voices - keyboards
    if info.has_drums and "band" in kinds:
        return "Band"  # drum kit with electric guitar, bass or synths
    if voices:
        if others >= 4 or {"strings", "winds"} <= kinds:
            return "Vocal-Orchestral"
        if voices == 1:
            return "Art Song" if total > 1 else "Solo melody"
        return "Choral"
    if kinds == {"keyboard"}:
        return "Keyboard"
    if kinds == {"percussion"}:
        return None
    if {"strings", "winds"} <= kinds and total >= 8:
        return "Orchestral"
    if info.has_drums or "band" in kinds:
        return "Band"
    if kinds <= {"winds", "percussion"} and count["winds"] >= 3:
        return "Band"  # wind or brass band
    if "folk" in kinds:
        return "Folk ensemble" if total > 1 else "Solo melody"
    if total == 1:
        return "Solo melody"
    if kinds <= _CLASSICAL_ROLES:
        if total <= 7:
            return "Chamber"
        if "strings" in kinds:
            return "Orchestral"  # string orchestra
    return None
