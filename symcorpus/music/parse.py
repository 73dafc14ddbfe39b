"""Parse one record's bytes into a symusic score, whatever its format.

MIDI goes straight to symusic. ABC is rendered to MIDI by the abc2midi that ships inside symusic (run
as a subprocess with a time limit), its header read by `abc_text`. MusicXML is rendered by
`musicxml.read_musicxml`, which writes the MIDI music21's translator writes, much faster; what it
declines, and Humdrum, are read by music21 and rendered to MIDI by music21's own translator. Every
path ends in the same kind of score, so everything downstream deals with one representation.

Failures raise `ParseError` with a short reason code; callers turn it into an errors-table row.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import struct
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import symusic

from symcorpus.errors import ReasonError
from symcorpus.music import abc_text, musicxml
from symcorpus.music.formats import ABC, HUMDRUM, MIDI, MUSICXML
from symcorpus.music.instruments import sets_programs

ABC2MIDI = os.path.join(os.path.dirname(symusic.__file__), "bin", "abc2midi")

# abc2midi writes one MIDI file per tune and music21 reads from a path: small files that live for
# milliseconds. Where the temporary directory is on disk, the kernel's work to create and remove
# them cost more than abc2midi's own (BENCHMARKS.md, "Parsing's temporary files"); in a memory
# filesystem it is next to nothing. TMPDIR, where set, is obeyed.
MEMORY_SCRATCH = "/dev/shm"
MIN_SCRATCH_FREE = 256 * 2**20  # below this, leave the memory to the rest of the machine


def scratch_dir() -> str | None:
    """The directory for parsing's temporary files: MEMORY_SCRATCH when TMPDIR is not set and it is
    a writable directory with MIN_SCRATCH_FREE bytes free, else None (tempfile's default)."""
    if os.environ.get("TMPDIR"):
        return None
    try:
        free = os.statvfs(MEMORY_SCRATCH)
    except OSError:
        return None
    if (free.f_bavail * free.f_frsize < MIN_SCRATCH_FREE or not os.path.isdir(MEMORY_SCRATCH)
            or not os.access(MEMORY_SCRATCH, os.W_OK | os.X_OK)):
        return None
    return MEMORY_SCRATCH


@dataclass(frozen=True)
class Limits:
    """Bounds on one record; a record past any of them is an error with that reason."""

    max_bytes: int = 32 * 2**20
    max_notes: int = 2_000_000
    subprocess_timeout_s: float = 20.0
    parse_timeout_s: float = 60.0
    strict_midi: bool = True


class ParseError(ReasonError):
    """A record we cannot read. `reason` is a stable short code; `detail` says why."""


@dataclass
class ParsedPiece:
    """A parsed record: its score in ticks, plus what only some formats carry."""

    format: str
    score: symusic.Score
    abc_header: dict[str, str] | None = None
    # The notes as a Standard MIDI File, for formats other than MIDI (and the SMF inside a RIFF .rmi),
    # so later stages need no re-render.
    rendered_midi: bytes | None = None
    # Title and composer where the format declares them (score metadata, ABC T:/C:).
    title: str | None = None
    composer: str | None = None
    # Whether the file itself sets a tempo and chooses instruments. A renderer fills both in anyway
    # (abc2midi and music21 write 120 bpm, MIDI players sound piano), and such a default is no fact
    # of the music: summaries leave it out (tempo_bpm and instruments null).
    tempo_declared: bool = True
    programs_declared: bool = True

    @property
    def part_names(self) -> list[str]:
        """Track names (MIDI track names, score part names): what the labels read instrumentation from."""
        return [t.name.strip() for t in self.score.tracks if t.note_num() and t.name and t.name.strip()]


# --------------------------------------------------------------------------------------------------
# Time limits


T = TypeVar("T")


class _Timeout(BaseException):
    """Raised by the alarm. A BaseException, like KeyboardInterrupt, so that the `except Exception`
    blocks inside parsers (music21 has many) cannot swallow it and parse on."""


def call_with_time_limit(seconds: float, fn: Callable[..., T], *args: Any) -> T:
    """fn(*args), or ParseError('timeout') if it runs longer than `seconds`.

    SIGALRM interrupts a long call on the main thread (where Spark's Python workers run tasks). A
    parser can still swallow the interrupt (a bare `except:`), and off the main thread no alarm can
    be set, so a call that returns past its budget is a timeout too.
    """
    if seconds <= 0:
        return fn(*args)
    alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    armed = True

    def on_alarm(signum, frame):  # noqa: ARG001 - signal handler signature
        if armed:
            raise _Timeout()

    # A short budget can run out before fn starts or just as it returns, so the timer is set and
    # cleared inside the try of this one frame (not a context manager's, whose __enter__ returns
    # outside it), and the handler stops raising once the call is over. The timer is one-shot.
    started = time.perf_counter()
    previous = None
    timed_out = False
    try:
        if alarm:
            previous = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, seconds)
        result = fn(*args)
    except _Timeout:
        timed_out = True
    finally:
        if alarm:
            try:
                armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
            except _Timeout:  # went off as the call returned
                timed_out = True
            if previous is not None:
                signal.signal(signal.SIGALRM, previous)
    if timed_out or time.perf_counter() - started > seconds:
        raise ParseError("timeout", f"parsing took longer than {seconds:g} s")
    return result


# --------------------------------------------------------------------------------------------------
# MIDI


def check_midi_structure(data: bytes) -> None:
    """Chunk-level checks symusic does not make: header values, track count, End of Track.

    Walks chunks only (not events), so it costs next to nothing. Truncations and corrupted
    lengths or headers are caught here or by symusic; a flip inside event data that still forms
    valid MIDI is, by nature, not detectable.
    """
    if len(data) < 14 or data[:4] != b"MThd":
        raise ParseError("bad_midi", "no MThd header")
    (header_len,) = struct.unpack(">I", data[4:8])
    if header_len < 6:
        raise ParseError("bad_midi", f"header chunk of {header_len} bytes (needs 6)")
    fmt, n_tracks, division = struct.unpack(">HHH", data[8:14])
    if fmt > 2:
        raise ParseError("bad_midi", f"MIDI format {fmt} (0, 1 or 2 expected)")
    if division == 0:
        raise ParseError("bad_midi", "zero ticks per quarter note")
    if n_tracks == 0 or (fmt == 0 and n_tracks != 1):
        raise ParseError("bad_midi", f"format {fmt} declares {n_tracks} tracks")
    pos, found = 8 + header_len, 0
    # Bytes after the last declared track (padding some writers add) are not read as chunks.
    while pos + 8 <= len(data) and found < n_tracks:
        kind = data[pos : pos + 4]
        (length,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        end = pos + 8 + length
        if end > len(data):
            raise ParseError("bad_midi", f"chunk at byte {pos} runs {end - len(data)} bytes past the end")
        if kind == b"MTrk":
            found += 1
            if length < 3 or data[end - 3 : end] != b"\xff\x2f\x00":
                raise ParseError("bad_midi", f"track {found} does not end with End of Track")
        pos = end
    if found != n_tracks:
        raise ParseError("bad_midi", f"header declares {n_tracks} tracks, file has {found}")


def is_whole_midi(data: bytes) -> bool:
    try:
        check_midi_structure(data)
    except ParseError:
        return False
    return True


def rendered_score(midi: bytes, fmt: str, unreadable: str, no_notes: str) -> symusic.Score:
    """The score of the MIDI that a `fmt` file was rendered to; a `bad_<fmt>` ParseError (with the
    renderer's words) when that MIDI is unreadable or holds no notes."""
    try:
        score = symusic.Score.from_midi(midi)
    except Exception as e:  # symusic raises RuntimeError with MiniMidi's message
        raise ParseError(f"bad_{fmt}", f"{unreadable}: {e}") from None
    if score.note_num() == 0:
        raise ParseError(f"bad_{fmt}", no_notes)
    return score


def unwrap_rmid(data: bytes) -> bytes:
    """The Standard MIDI File inside a RIFF `RMID` file (.rmi): the payload of its `data` chunk.

    Bytes that do not start with `RIFF` are returned as they are. The RIFF size and chunk sizes are
    little-endian; chunks are padded to even length. Other chunks (LIST/INFO, DISP) are skipped.
    """
    if data[:4] != b"RIFF":
        return data
    if len(data) < 12:
        raise ParseError("bad_midi", f"RIFF header truncated ({len(data)} bytes, needs 12)")
    if data[8:12] != b"RMID":
        raise ParseError("bad_midi", f"RIFF form {data[8:12]!r}, not RMID")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size
    if end > len(data):
        raise ParseError("bad_midi", f"RIFF declares {riff_size} bytes, file has {len(data) - 8}")
    pos = 12
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        over = pos + 8 + length - end
        if over > 0:
            raise ParseError("bad_midi", f"RIFF chunk {kind!r} at byte {pos} runs {over} bytes past the end")
        if kind == b"data":
            return data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
    raise ParseError("bad_midi", "RIFF RMID file without a data chunk")


def parse_midi(data: bytes, limits: Limits) -> ParsedPiece:
    smf = unwrap_rmid(data)
    if limits.strict_midi:
        check_midi_structure(smf)
    try:
        score = symusic.Score.from_midi(smf)
    except Exception as e:  # symusic raises RuntimeError with MiniMidi's message
        raise ParseError("bad_midi", str(e).replace(": iostream error", "")) from None
    # Unwrapped, the notes are plain MIDI for later stages (which read `rendered_midi` when present).
    return ParsedPiece(MIDI, score, rendered_midi=smf if smf is not data else None,
                       tempo_declared=len(score.tempos) > 0, programs_declared=sets_programs(smf))


# --------------------------------------------------------------------------------------------------
# ABC


def render_abc(data: bytes, timeout_s: float) -> bytes:
    """One ABC tune to Standard MIDI File bytes with the bundled abc2midi.

    The budget counts from before the process starts: a child that finishes while this process
    waits for the CPU has still taken longer than allowed, as `call_with_time_limit` rules for parsing.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="symcorpus-abc-", dir=scratch_dir()) as tmp:
        src, out = os.path.join(tmp, "tune.abc"), os.path.join(tmp, "tune.mid")
        with open(src, "wb") as f:
            f.write(data)
        try:
            proc = subprocess.run(
                [ABC2MIDI, src, "-o", out, "-silent"],
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ParseError("timeout", f"abc2midi took longer than {timeout_s:g} s") from None
        if time.monotonic() - started > timeout_s:
            raise ParseError("timeout", f"abc2midi took longer than {timeout_s:g} s")
        if not os.path.exists(out):
            said = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
            detail = said[-1] if said else f"exit code {proc.returncode}"
            raise ParseError("bad_abc", f"abc2midi wrote no MIDI ({detail})")
        with open(out, "rb") as f:
            return f.read()


_X_LINE = re.compile(rb"^X:[^\r\n]*", re.MULTILINE)
# What leaves abc2midi state that outlives its tune, so that the tune after it starts a new abc2midi
# run: directives (`%%MIDI transpose -12`, `I:MIDI ...`; seen in music21's josquin/petiteCamusette.abc)
# and the invisible bar line `[|]`, after which abc2midi renders the next tune of its run differently
# from that tune alone, and differently from one run to the next (ryansMammoth/CroppiesLieDownJig.abc
# then CrossRoad.abc).
_ENDS_RUN = re.compile(rb"^(%%|I:)|\[I:|\[\|\]", re.MULTILINE)


def render_abc_tunes(tunes: list[bytes], limits: Limits) -> list[bytes | None]:
    """Several ABC tunes to MIDI with one abc2midi run per run of tunes that share a file header:
    a process per tune costs far more than abc2midi's work on it.

    Each tune is a record of `sources` (its file's header, then the tune). A run is written back as
    the file it came from: the header once, then each tune with its `X:` renumbered 1..n so that
    abc2midi names its outputs (tune i -> b<i>.mid). A tune rendered so is the same MIDI, byte for
    byte, as that tune rendered alone (bench/abc_batch.py checks every tune of music21's corpus).
    A tune with a directive or an invisible bar line ends its run (see _ENDS_RUN).
    A tune without output comes back as None, and so does every tune of a run that failed or took
    longer than one tune's time limit: `parse_piece` renders those alone, so one bad tune costs only
    itself. Tunes that `parse_piece` rejects before rendering (empty, too large, no X: or K:) are
    left out of the runs.
    """
    out: list[bytes | None] = [None] * len(tunes)
    runs: list[tuple[bytes, list[int]]] = []  # (file header, positions)
    closed = True  # whether the next tune starts a new run whatever its header
    for i, tune in enumerate(tunes):
        try:
            check_size(tune, limits)
            abc_header(tune)
        except ParseError:
            continue
        found = _X_LINE.search(tune)
        if found is None:  # an X: only after a lone carriage return: rendered alone
            continue
        header = tune[: found.start()]
        if not closed and runs[-1][0] == header:
            runs[-1][1].append(i)
        else:
            runs.append((header, [i]))
        closed = _ENDS_RUN.search(tune, found.start()) is not None
    for header, positions in runs:
        parts = [header]
        for n, i in enumerate(positions, 1):
            body = _X_LINE.sub(b"X:%d" % n, tunes[i][len(header):], count=1)
            parts.append(body if body.endswith(b"\n") else body + b"\n")
            parts.append(b"\n")  # a blank line ends a tune, as the next X: did in the file
        rendered = _run_abc2midi(b"".join(parts), len(positions), limits.subprocess_timeout_s)
        for i, midi in zip(positions, rendered):
            out[i] = midi
    return out


def _run_abc2midi(text: bytes, n_tunes: int, timeout_s: float) -> list[bytes | None]:
    """abc2midi over a file of tunes numbered X:1..n: each tune's MIDI, or None for all on failure."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="symcorpus-abc-", dir=scratch_dir()) as tmp:
        with open(os.path.join(tmp, "b.abc"), "wb") as f:
            f.write(text)
        try:
            subprocess.run([ABC2MIDI, "b.abc", "-silent"], cwd=tmp, capture_output=True, timeout=timeout_s,
                           check=False)
        except (subprocess.TimeoutExpired, OSError):
            return [None] * n_tunes
        if time.monotonic() - started > timeout_s:
            return [None] * n_tunes
        out: list[bytes | None] = []
        for n in range(1, n_tunes + 1):
            path = os.path.join(tmp, f"b{n}.mid")
            if os.path.exists(path):
                with open(path, "rb") as f:
                    out.append(f.read())
            else:
                out.append(None)
        return out


def abc_header(data: bytes) -> dict[str, str]:
    """The header fields of one ABC tune; ParseError when it has no X: line or no K: field (no
    body), which abc2midi is then never asked to render."""
    return dict(_abc_header(data))  # a copy: the cached one is shared


# A tune's header is read when its run is rendered (render_abc_tunes) and again when it is parsed, up
# to a run later: the cache holds two of steps/parse.py's runs of 64 tunes.
@functools.lru_cache(maxsize=128)
def _abc_header(data: bytes) -> dict[str, str]:
    text = abc_text.decode_abc(data)
    header = abc_text.parse_header(text)
    if not any(line.startswith("X:") for line in text.splitlines()):
        raise ParseError("bad_abc", "no tune (X: line) found")
    if "key" not in header:
        raise ParseError("bad_abc", "tune has no K: field, so no body")
    return header


def parse_abc(data: bytes, limits: Limits, rendered: bytes | None = None) -> ParsedPiece:
    """One ABC tune; `rendered`: its MIDI from `render_abc_tunes`, else abc2midi runs for it alone."""
    header = abc_header(data)
    if rendered is not None and not is_whole_midi(rendered):
        rendered = None  # a batch run's cut of this tune (seen: a 0-13 byte file): rendered alone, as before
    midi = rendered if rendered is not None else render_abc(data, limits.subprocess_timeout_s)
    score = rendered_score(midi, ABC, "abc2midi output unreadable", "abc2midi rendered no notes")
    # abc2midi writes a program change only for a %%MIDI program directive.
    return ParsedPiece(ABC, score, abc_header=header, rendered_midi=midi,
                       title=header.get("title"), composer=header.get("composer"),
                       tempo_declared=bool(header.get("tempo")), programs_declared=sets_programs(midi))


# --------------------------------------------------------------------------------------------------
# MusicXML and Humdrum, through music21

_MUSIC21_SUFFIX = {MUSICXML: ".musicxml", HUMDRUM: ".krn"}


@dataclass(frozen=True)
class Music21Render:
    midi: bytes
    title: str | None
    composer: str | None
    tempo_declared: bool  # a metronome mark or tempo word in the score
    programs_declared: bool  # an instrument with a MIDI program (named, or given in the file)


def render_music21(data: bytes, fmt: str, name: str) -> Music21Render:
    """A MusicXML or Humdrum file to MIDI bytes with music21's parser and MIDI translator, with the
    score's title and composer and whether it declares a tempo and instruments (music21 writes a
    120 bpm tempo and program 0 where it does not)."""
    import music21  # imported here: music21 takes ~1 s to import and MIDI-only runs never need it

    suffix = os.path.splitext(name)[1].lower()
    if fmt == MUSICXML and data[:4] == b"PK\x03\x04":
        suffix = ".mxl"
    elif suffix not in (".xml", ".musicxml", ".mxl", ".krn"):
        suffix = _MUSIC21_SUFFIX[fmt]
    with tempfile.TemporaryDirectory(prefix="symcorpus-m21-", dir=scratch_dir()) as tmp:
        path = os.path.join(tmp, "piece" + suffix)
        with open(path, "wb") as f:
            f.write(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stream = music21.converter.parse(path, forceSource=True)
            if isinstance(stream, music21.stream.Opus):
                stream = stream.mergeScores()
            title, composer = _score_metadata(stream)
            tempo_declared = any(True for _ in stream.recurse().getElementsByClass(music21.tempo.TempoIndication))
            programs_declared = any(i.midiProgram is not None
                                    for i in stream.recurse().getElementsByClass(music21.instrument.Instrument))
            try:
                midi = music21.midi.translate.streamToMidiFile(stream).writestr()
            except music21.repeat.ExpanderException:
                # Repeat marks music21 cannot unfold: render the score as written, once through.
                _strip_repeats(stream)
                midi = music21.midi.translate.streamToMidiFile(stream).writestr()
            return Music21Render(midi, title, composer, tempo_declared, programs_declared)


def _score_metadata(stream) -> tuple[str | None, str | None]:
    meta = stream.metadata
    if meta is None:
        return None, None
    title = meta.title or meta.movementName or None
    if title and str(title).startswith("piece."):  # music21 falls back to our temporary file's name
        title = None
    composer = meta.composer or None
    return (str(title).strip() or None) if title else None, (str(composer).strip() or None) if composer else None


def _strip_repeats(stream) -> None:
    from music21 import bar, repeat, spanner

    for measure in stream.recurse().getElementsByClass("Measure"):
        if isinstance(measure.leftBarline, bar.Repeat):
            measure.leftBarline = bar.Barline()
        if isinstance(measure.rightBarline, bar.Repeat):
            measure.rightBarline = bar.Barline()
    for mark in list(stream.recurse().getElementsByClass(repeat.RepeatExpression)):
        mark.activeSite.remove(mark)
    for bracket in list(stream.recurse().getElementsByClass(spanner.RepeatBracket)):
        bracket.activeSite.remove(bracket)


def parse_musicxml(data: bytes, name: str, limits: Limits) -> ParsedPiece:
    """MusicXML through the fast reader; what it declines (or trips on) goes to music21."""
    try:
        read = call_with_time_limit(limits.parse_timeout_s, musicxml.read_musicxml, data)
    except ParseError:
        raise
    except musicxml.MalformedMusicXML as e:
        raise ParseError(f"bad_{MUSICXML}", str(e)) from None
    except Exception:  # noqa: BLE001 - UnsupportedMusicXML, or a reader bug: music21 is the reference
        return parse_music21(data, MUSICXML, name, limits)
    score = rendered_score(read.midi, MUSICXML, "rendered MIDI unreadable", "no notes found")
    return ParsedPiece(MUSICXML, score, rendered_midi=read.midi, title=read.title, composer=read.composer,
                       tempo_declared=read.tempo_declared, programs_declared=read.programs_declared)


def parse_music21(data: bytes, fmt: str, name: str, limits: Limits) -> ParsedPiece:
    try:
        rendered = call_with_time_limit(limits.parse_timeout_s, render_music21, data, fmt, name)
    except ParseError:
        raise
    except Exception as e:  # music21 raises many kinds; all mean "could not read this file"
        message = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise ParseError(f"bad_{fmt}", f"music21: {message}") from None
    score = rendered_score(rendered.midi, fmt, "music21's MIDI unreadable", "no notes found")
    return ParsedPiece(fmt, score, rendered_midi=rendered.midi, title=rendered.title, composer=rendered.composer,
                       tempo_declared=rendered.tempo_declared, programs_declared=rendered.programs_declared)


# --------------------------------------------------------------------------------------------------


def preload(fmt: str) -> None:
    """Import now what parsing `fmt` would import on its first record: music21 for MusicXML (the
    fast reader's lookups, the fallback) and Humdrum. A worker that forks a child per batch
    (steps/guard.py) calls this first, so its children inherit the import instead of each paying
    ~1 s of CPU for it."""
    if fmt in (MUSICXML, HUMDRUM):
        import encodings.cp437  # noqa: F401 - zipfile reads a compressed score's member names with it

        import music21  # noqa: F401


def check_size(content: bytes, limits: Limits) -> None:
    if len(content) == 0:
        raise ParseError("empty", "zero-length input")
    if len(content) > limits.max_bytes:
        raise ParseError("too_large", f"{len(content)} bytes, over max_bytes={limits.max_bytes}")


def parse_piece(content: bytes, fmt: str, limits: Limits, name: str = "", rendered: bytes | None = None
                ) -> ParsedPiece:
    """Parse a record's bytes as `fmt`; raises ParseError with a reason code when it can't.
    `rendered`: an ABC tune's MIDI already made by `render_abc_tunes`."""
    check_size(content, limits)
    if fmt == MIDI:
        piece = parse_midi(content, limits)
    elif fmt == ABC:
        piece = parse_abc(content, limits, rendered)
    elif fmt == MUSICXML:
        piece = parse_musicxml(content, name, limits)
    elif fmt == HUMDRUM:
        piece = parse_music21(content, fmt, name, limits)
    else:
        raise ParseError("unknown_format", f"no parser for format {fmt!r}")
    n_notes = piece.score.note_num()
    if n_notes > limits.max_notes:
        raise ParseError("too_many_notes", f"{n_notes} notes, over max_notes={limits.max_notes}")
    return piece
