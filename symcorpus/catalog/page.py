"""The dataset card as a web page to browse: index.html beside the card's README.md and plots.

It holds the card's counts and plots, a table of sample pieces with their captions (the best piece
of each format by quality score, then the next best), a player for the first seconds of each of them
rendered by FluidSynth, and the generated samples of a run (player, piano roll, prompt) when given.
One self-contained folder: plots and audio sit beside the page, no network, no script library.
A few lines of script show each player's length once its audio loads and mark loaded images and
players `data-ready`, which the test reads in headless Chromium.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from symcorpus.audio import find_soundfont, render_audio, render_excerpt, why_no_audio

PIECES_PER_FORMAT = 2
AUDIO_PIECES = 6  # pieces of the table rendered to audio (the first ones)
EXCERPT_SECONDS = 30.0

_STYLE = """
body { font-family: "Liberation Sans", Arial, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.35rem 0.5rem; vertical-align: top; text-align: left; }
th { background: #f3f5f8; } td.num { text-align: right; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1rem; }
figure { margin: 0; } figure img { width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
audio { width: 260px; } .duration { font-size: 0.8rem; color: #777; margin-left: 0.3rem; }
.note { color: #777; font-style: italic; } code { background: #f3f3f3; padding: 0 0.2rem; }
"""

_SCRIPT = """
function fmt(s) { s = Math.round(s); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
function ready(el) { el.setAttribute("data-ready", "1"); }
document.querySelectorAll("img").forEach(function (img) {
  if (img.complete && img.naturalWidth > 0) { ready(img); }
  else { img.addEventListener("load", function () { ready(img); }); }
});
document.querySelectorAll("audio").forEach(function (a) {
  function shown() {
    if (!isFinite(a.duration)) { return; }
    ready(a);
    var label = a.parentNode.querySelector(".duration");
    if (label) { label.textContent = fmt(a.duration); }
  }
  if (a.readyState >= 1) { shown(); } else { a.addEventListener("loadedmetadata", shown); }
});
"""


@dataclass
class Page:
    path: Path
    pieces: list[dict[str, Any]] = field(default_factory=list)  # id, path, format, caption, audio
    samples: list[dict[str, Any]] = field(default_factory=list)  # file, audio, png, prompt
    audio_note: str | None = None  # why there is no audio


def sample_pieces(con: duckdb.DuckDBPyConnection, corpus_view: str, per_format: int = PIECES_PER_FORMAT
                  ) -> list[dict[str, Any]]:
    """The best `per_format` captioned pieces of each format by quality score (ties by id), best
    first across formats, with the MIDI their notes are stored as."""
    columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {corpus_view}").fetchall()}
    if "caption" not in columns:
        return []
    quality = "quality_score" if "quality_score" in columns else "NULL"
    midi = "score_midi" if "score_midi" in columns else "NULL"
    rows = con.execute(f"""
        SELECT id, path, format, caption, {quality} AS quality, duration_seconds, content, {midi} AS score_midi,
               row_number() OVER (PARTITION BY format ORDER BY {quality} DESC NULLS LAST, id) AS rank
        FROM {corpus_view} WHERE caption IS NOT NULL
        QUALIFY rank <= {int(per_format)}
        ORDER BY rank, quality DESC NULLS LAST, format, id""").fetchall()
    names = ("id", "path", "format", "caption", "quality", "duration_seconds", "content", "score_midi", "rank")
    return [dict(zip(names, row)) for row in rows]


def _stored_midi(piece: dict[str, Any]) -> bytes:
    # as steps.parse.stored_midi: other formats (and wrapped MIDI) keep their notes in score_midi
    return piece["score_midi"] if piece["format"] != "midi" or piece["score_midi"] else piece["content"]


def _rows(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _player(src: str) -> str:
    return f'<audio controls preload="metadata" src="{html.escape(src)}"></audio><span class="duration"></span>'


def _samples(samples_dir: Path, out_dir: Path, font: Path | None) -> list[dict[str, Any]]:
    """The generated samples listed in samples_dir/samples.json, copied beside the page (PNG) and
    rendered to FLAC (lossless and, unlike Ogg, the same bytes every time) from their MIDI."""
    listing = samples_dir / "samples.json"
    if not listing.is_file():
        return []
    summary = json.loads(listing.read_text())
    target = out_dir / "samples"
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for info in summary.get("samples", []):
        name = info.get("file")
        if not name:
            continue
        stem = Path(name).stem
        entry = {"file": name, "prompt": summary.get("prompt") or "unconditioned",
                 "n_notes": info.get("n_notes"), "error": info.get("error")}
        png = samples_dir / f"{stem}.png"
        if png.is_file():
            shutil.copyfile(png, target / png.name)
            entry["png"] = f"samples/{png.name}"
        midi = samples_dir / f"{stem}.mid"
        if font is not None and midi.is_file():
            try:
                render_audio(midi, target / f"{stem}.flac", font, sample_rate=22050)
                entry["audio"] = f"samples/{stem}.flac"
            except Exception as e:  # an unplayable sample keeps its row and says why
                entry["error"] = f"{type(e).__name__}: {e}"
        out.append(entry)
    return out


def write_page(con: duckdb.DuckDBPyConnection, version, card, out_dir: Path, samples_dir: Path | None = None,
               audio_pieces: int = AUDIO_PIECES) -> Page:
    """index.html in `out_dir` for the card `card` (its plots) of registered `version`."""
    page = Page(out_dir / "index.html")
    page.audio_note = why_no_audio()
    font = find_soundfont() if page.audio_note is None else None
    audio_dir = out_dir / "audio"
    shutil.rmtree(audio_dir, ignore_errors=True)
    pieces = sample_pieces(con, version.view("corpus"))
    for i, piece in enumerate(pieces):
        entry = {k: piece[k] for k in ("id", "path", "format", "caption", "quality", "duration_seconds")}
        if font is not None and i < audio_pieces:
            audio_dir.mkdir(parents=True, exist_ok=True)
            try:
                render_excerpt(_stored_midi(piece), audio_dir / f"piece_{i:02d}.flac", font, EXCERPT_SECONDS)
                entry["audio"] = f"audio/piece_{i:02d}.flac"
            except Exception as e:  # a piece FluidSynth cannot play keeps its row
                entry["error"] = f"{type(e).__name__}: {e}"
        page.pieces.append(entry)
    if samples_dir is not None:
        page.samples = _samples(Path(samples_dir), out_dir, font)
    page.path.write_text(_html(version, card, page), encoding="utf-8")
    return page


def _html(version, card, page: Page) -> str:
    c = version.counts
    esc = html.escape
    parts = [f"<h1>Dataset card: {esc(version.name)}</h1>",
             f"<p>Corpus version <code>{esc(version.name)}</code>, published {esc(str(version.created))} from "
             f"<code>{esc(str(version.path))}</code> by symcorpus {esc(str(version.code_version))} "
             f"(schema {esc(str(version.schema_version))}). Sources: "
             + (", ".join(f"<code>{esc(s)}</code>" for s in version.sources) or "none recorded") + ".</p>",
             "<h2>Counts</h2>",
             _rows(["input", "kept", "duplicates", "rejected", "errors"],
                   [[f"{c.get(k) or 0:,}" for k in ("input", "kept", "duplicates", "rejected", "errors")]],
                   numeric={0, 1, 2, 3, 4}),
             "<p>Every input record is in exactly one of the kept, duplicates, rejects and errors tables. "
             f'The full card with every table: <a href="{esc(card.path.name)}">{esc(card.path.name)}</a>.</p>',
             "<h2>Pieces and their captions</h2>"]
    if page.audio_note:
        parts.append(f'<p class="note">{esc(page.audio_note)}.</p>')
    if page.pieces:
        rows = []
        for p in page.pieces:
            listen = _player(p["audio"]) if p.get("audio") else esc(p.get("error") or "")
            quality = f"{p['quality']:.2f}" if isinstance(p.get("quality"), float) else ""
            rows.append([f"<code>{esc(p['path'])}</code>", esc(p["format"] or ""), quality, esc(p["caption"]),
                         listen])
        parts.append(_rows(["piece", "format", "quality", "caption", f"first {EXCERPT_SECONDS:.0f} s"], rows,
                           numeric={2}))
    else:
        parts.append('<p class="note">This version has no captions.</p>')
    if page.samples:
        parts.append("<h2>Generated samples</h2>")
        rows = []
        for s in page.samples:
            roll = f'<img alt="piano roll of {esc(s["file"])}" src="{esc(s["png"])}">' if s.get("png") else ""
            listen = _player(s["audio"]) if s.get("audio") else esc(s.get("error") or "")
            rows.append([f"<code>{esc(s['file'])}</code><br>{esc(str(s['prompt']))}<br>{s.get('n_notes') or 0} notes",
                         listen, roll])
        parts.append(_rows(["sample", "listen", "piano roll"], rows))
    parts.append("<h2>Plots</h2>")
    figures = [f'<figure><img alt="{esc(p.stem)}" src="{esc(p.name)}"><figcaption>{esc(p.stem.replace("_", " "))}'
               "</figcaption></figure>" for p in card.plots]
    parts.append(f'<div class="plots">{"".join(figures)}</div>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Dataset card: {esc(version.name)}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(parts) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")
