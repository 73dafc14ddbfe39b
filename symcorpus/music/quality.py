"""Quality filters: a rule set with a reason code per rule, and a quality score for kept pieces.

Rules read a piece's summary and feature columns (a mapping: the corpus row, or the dict the parse
stage is building), so the same check runs inside `symcorpus build` and alone on a published version.
Thresholds live in params.yaml (`filter.rules`), overridable per source (`filter.sources`). A rule
returns a short detail when the piece fails it; the first failing rule, in the order below, names the
rejection. Rules in OFF_BY_DEFAULT (a corpus recipe's preprocessing, not a general judgement) run only
when params name them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Fields = Mapping[str, Any]
Check = Callable[[Fields, Mapping[str, Any]], str | None]


def _get(fields: Fields, name: str, default: float = 0.0) -> float:
    value = fields.get(name)
    if value is None:
        features = fields.get("features") or {}
        value = features.get(name)
    return default if value is None else value


def _tpq_below_grid(f: Fields, p: Mapping[str, Any]) -> str | None:
    # Amadeus rejects a file whose ticks per beat cannot hold its grid (`ticks_per_beat <
    # in_beat_resolution`: 4 steps per quarter, 12 for its classical set) rather than quantize it.
    tpq = f.get("ticks_per_beat")
    if tpq is not None and tpq < p["min_tpq"]:
        return f"{int(tpq)} ticks per quarter, fewer than the grid's {p['min_tpq']} steps"
    return None


def _too_few_notes(f: Fields, p: Mapping[str, Any]) -> str | None:
    n = _get(f, "n_notes")
    return f"{int(n)} notes, fewer than {p['min_notes']}" if n < p["min_notes"] else None


def _too_short(f: Fields, p: Mapping[str, Any]) -> str | None:
    s = _get(f, "duration_seconds")
    return f"{s:.1f} s, shorter than {p['min_seconds']} s" if s < p["min_seconds"] else None


def _too_long(f: Fields, p: Mapping[str, Any]) -> str | None:
    s = _get(f, "duration_seconds")
    return f"{s:.0f} s, longer than {p['max_seconds']} s" if s > p["max_seconds"] else None


def _too_few_bars(f: Fields, p: Mapping[str, Any]) -> str | None:
    bars = _get(f, "duration_bars")
    return f"{bars:.1f} bars, fewer than {p['min_bars']}" if bars < p["min_bars"] else None


def _too_many_tracks(f: Fields, p: Mapping[str, Any]) -> str | None:
    n = _get(f, "n_tracks")
    return f"{int(n)} tracks, more than {p['max_tracks']}" if n > p["max_tracks"] else None


def _too_many_instruments(f: Fields, p: Mapping[str, Any]) -> str | None:
    n = _get(f, "n_programs")
    return f"{int(n)} instruments, more than {p['max_instruments']}" if n > p["max_instruments"] else None


def _drums_only(f: Fields, p: Mapping[str, Any]) -> str | None:  # noqa: ARG001 - rules share a signature
    if _get(f, "n_drum_notes") > 0 and _get(f, "n_pitched_notes") == 0:
        return f"{int(_get(f, 'n_drum_notes'))} drum notes and no pitched notes"
    return None


def _no_pitched_notes(f: Fields, p: Mapping[str, Any]) -> str | None:  # noqa: ARG001
    return "no pitched notes" if _get(f, "n_pitched_notes") == 0 else None


def _long_silence(f: Fields, p: Mapping[str, Any]) -> str | None:
    s = _get(f, "longest_silence_seconds")
    return f"{s:.1f} s of silence, longer than {p['max_seconds']} s" if s > p["max_seconds"] else None


def _pitch_out_of_range(f: Fields, p: Mapping[str, Any]) -> str | None:
    share = _get(f, "pitch_out_of_range_share")
    if share > p["max_share"]:
        return f"{share:.0%} of pitches outside MIDI 12-119, more than {p['max_share']:.0%}"
    return None


def _absurd_density(f: Fields, p: Mapping[str, Any]) -> str | None:
    d = _get(f, "note_density")
    return f"{d:.0f} notes/s, more than {p['max_notes_per_second']}" if d > p["max_notes_per_second"] else None


def _zero_durations(f: Fields, p: Mapping[str, Any]) -> str | None:
    share = _get(f, "zero_duration_share")
    return f"{share:.0%} of notes have no duration" if share > p["max_share"] else None


def _looped_bar(f: Fields, p: Mapping[str, Any]) -> str | None:
    bars, share = _get(f, "n_bars"), _get(f, "top_bar_share")
    if bars >= p["min_bars"] and share > p["max_share"]:
        return f"one bar makes {share:.0%} of {int(bars)} bars"
    return None


def _abc_unequal_voices(f: Fields, p: Mapping[str, Any]) -> str | None:  # noqa: ARG001
    counts = f.get("abc_voice_bars")
    if counts and len(set(counts.values())) > 1:
        listed = ", ".join(f"{voice}={n}" for voice, n in sorted(counts.items()))
        return f"voices have unequal bar counts ({listed})"
    return None


@dataclass(frozen=True)
class Rule:
    code: str  # the `reason` a rejected piece gets
    check: Check
    doc: str


RULES: tuple[Rule, ...] = (
    Rule("drums_only", _drums_only, "only drum notes (GigaMIDI and Amadeus keep these apart)"),
    Rule("no_pitched_notes", _no_pitched_notes, "no pitched (non-drum) notes at all"),
    Rule("tpq_below_grid", _tpq_below_grid, "ticks per quarter below min_tpq: the grid does not fit (Amadeus)"),
    Rule("too_few_notes", _too_few_notes, "fewer notes than min_notes"),
    Rule("too_short", _too_short, "shorter than min_seconds (MidiCaps keeps files from 3 s)"),
    Rule("too_long", _too_long, "longer than max_seconds"),
    Rule("too_few_bars", _too_few_bars, "fewer bars than min_bars (NotaGen drops pieces under 8 bars)"),
    Rule("too_many_tracks", _too_many_tracks, "more tracks than max_tracks"),
    Rule("too_many_instruments", _too_many_instruments, "more distinct programs than max_instruments"),
    Rule("pitch_out_of_range", _pitch_out_of_range, "most pitches outside MIDI 12-119"),
    Rule("zero_durations", _zero_durations, "notes of zero or negative length dominate"),
    Rule("absurd_density", _absurd_density, "more notes per second than anyone plays"),
    Rule("long_silence", _long_silence, "a silence longer than max_seconds inside the piece"),
    Rule("looped_bar", _looped_bar, "one bar repeated over and over"),
    Rule("abc_unequal_voices", _abc_unequal_voices, "ABC voices with unequal bar counts (NotaGen)"),
)
RULE_CODES = tuple(rule.code for rule in RULES)

# Defaults, informed by ANCHORS.md: >= 50 notes seen in Aria/LA MIDI style filters is too strict
# for 8-bar folk tunes, so 16; 3 s - 60 min; <= 20 instruments; drums-only set apart.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "drums_only": {},
    "no_pitched_notes": {},
    "tpq_below_grid": {"min_tpq": 4},  # Amadeus's grid: 4 steps per quarter
    "too_few_notes": {"min_notes": 16},
    "too_short": {"min_seconds": 3.0},
    "too_long": {"max_seconds": 3600.0},
    "too_few_bars": {"min_bars": 4},
    "too_many_tracks": {"max_tracks": 64},
    "too_many_instruments": {"max_instruments": 20},
    "pitch_out_of_range": {"max_share": 0.5},
    "zero_durations": {"max_share": 0.5},
    "absurd_density": {"max_notes_per_second": 80.0},
    "long_silence": {"max_seconds": 30.0},
    "looped_bar": {"max_share": 0.9, "min_bars": 8},
    "abc_unequal_voices": {},
}
OFF_BY_DEFAULT = frozenset({"tpq_below_grid"})


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # rule code, None when kept
    detail: str | None
    quality_score: float | None  # in [0, 1] for kept pieces


def rules_for(rules: Mapping[str, Mapping[str, Any] | bool | None],
              overrides: Mapping[str, Mapping[str, Any] | bool | None] | None = None) -> dict[str, dict[str, Any]]:
    """The active rules with their thresholds: defaults, then params, then a source's overrides.
    A rule set to `false` is off; one of OFF_BY_DEFAULT is on once set to `true` or thresholds."""
    active: dict[str, dict[str, Any]] = {code: dict(p) for code, p in DEFAULT_RULES.items()
                                         if code not in OFF_BY_DEFAULT}
    for layer in (rules, overrides or {}):
        for code, params in layer.items():
            if code not in DEFAULT_RULES:
                raise ValueError(f"unknown filter rule {code!r}; known: {', '.join(RULE_CODES)}")
            if params is False:
                active.pop(code, None)
            elif isinstance(params, Mapping):
                unknown = set(params) - set(DEFAULT_RULES[code])
                if unknown:
                    raise ValueError(f"filter rule {code}: unknown threshold(s) {', '.join(sorted(unknown))}")
                active.setdefault(code, dict(DEFAULT_RULES[code])).update(params)
            elif params in (None, True):
                active.setdefault(code, dict(DEFAULT_RULES[code]))
            else:
                raise ValueError(f"filter rule {code}: expected a mapping of thresholds, true or false")
    return active


def quality_score(fields: Fields) -> float:
    """How good a kept piece looks as training data, in [0, 1]: the mean of five sub-scores, each 1
    for a comfortably long, varied, continuous piece with metadata.

    - notes: log-scaled, full at 256 notes (the stricter peer threshold)
    - length: full from 30 s on
    - variety: 1 - the share of the most common bar (loops score low)
    - continuity: 1 - the longest silence as a share of the duration
    - metadata: title or composer known
    """
    n_notes = max(_get(fields, "n_notes"), 1.0)
    seconds = max(_get(fields, "duration_seconds"), 0.0)
    notes = min(1.0, math.log(n_notes) / math.log(256))
    length = min(1.0, seconds / 30.0)
    variety = 1.0 - min(1.0, max(0.0, _get(fields, "top_bar_share")))
    silence = _get(fields, "longest_silence_seconds")
    continuity = 1.0 - min(1.0, silence / seconds) if seconds > 0 else 0.0
    metadata = 1.0 if (fields.get("title") or fields.get("composer")) else 0.0
    return round((notes + length + variety + continuity + metadata) / 5.0, 4)


def evaluate(fields: Fields, active: Mapping[str, Mapping[str, Any]]) -> Verdict:
    """Apply the active rules in order; the first failure rejects the piece."""
    for rule in RULES:
        params = active.get(rule.code)
        if params is None:
            continue
        detail = rule.check(fields, params)
        if detail is not None:
            return Verdict(rule.code, detail, None)
    return Verdict(None, None, quality_score(fields))
