"""Listening to MIDI: FluidSynth renders it with a General MIDI SoundFont to WAV (samples) or FLAC
(the dataset card's excerpts, ~4x smaller at 22 kHz). Both are the same bytes for the same MIDI
(Ogg Vorbis would not be: its stream serial number is random). `make` installs Debian's
`fluidsynth` and `timgm6mb-soundfont`; `SYMCORPUS_SOUNDFONT` or an explicit path chooses another
SoundFont."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# General MIDI SoundFonts where Debian puts them (default-GM.sf2 is the alternatives link).
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)


def find_soundfont(explicit: str | None = None) -> Path | None:
    for candidate in (explicit, os.environ.get("SYMCORPUS_SOUNDFONT"), *SOUNDFONTS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def why_no_audio(soundfont: str | None = None) -> str | None:
    """None when audio can be rendered, else a sentence saying what is missing."""
    if shutil.which("fluidsynth") is None:
        return "no audio: fluidsynth is not installed (make audio)"
    if find_soundfont(soundfont) is None:
        return "no audio: no General MIDI SoundFont found (make audio, or set SYMCORPUS_SOUNDFONT)"
    return None


def render_audio(midi_path: Path, out_path: Path, soundfont: Path, *, sample_rate: int = 44100,
                 timeout_s: float = 120.0) -> Path:
    """MIDI file to audio; the type follows `out_path`'s suffix (.wav, .flac)."""
    kind = "flac" if out_path.suffix.lower() == ".flac" else "wav"
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.8", "-r", str(sample_rate), "-T", kind, "-F", str(out_path),
                    str(soundfont), str(midi_path)], check=True, capture_output=True, timeout=timeout_s)
    return out_path


def render_wav(midi_path: Path, wav_path: Path, soundfont: Path, timeout_s: float = 120.0) -> None:
    render_audio(midi_path, wav_path, soundfont, timeout_s=timeout_s)


def excerpt_midi(midi: bytes, seconds: float) -> bytes:
    """The first `seconds` of a piece (notes that start by then, cut at that time) as MIDI."""
    import symusic

    score = symusic.Score.from_midi(midi)
    return score.to("second").clip(0.0, seconds, clip_end=True).to("tick").dumps_midi()


def render_excerpt(midi: bytes, out_path: Path, soundfont: Path, seconds: float = 30.0,
                   sample_rate: int = 22050) -> Path:
    """The first `seconds` of MIDI bytes as audio at `out_path` (FLAC for .flac)."""
    with tempfile.TemporaryDirectory(prefix="symcorpus-audio-") as tmp:
        path = Path(tmp) / "excerpt.mid"
        path.write_bytes(excerpt_midi(midi, seconds))
        return render_audio(path, out_path, soundfont, sample_rate=sample_rate)
