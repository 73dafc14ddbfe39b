"""Quality: the quality rules of a piece's source (music/quality.py); kept pieces get a score."""

from __future__ import annotations

import functools
import json
from typing import Any

from symcorpus.config import FilterSettings
from symcorpus.music.abc_text import decode_abc
from symcorpus.music.abc_voices import voice_bar_counts
from symcorpus.music.quality import evaluate, rules_for
from symcorpus.steps.base import Filter, Piece


@functools.lru_cache(maxsize=64)
def _rules(config_json: str, source: str) -> dict[str, dict[str, Any]]:
    config = json.loads(config_json)
    return rules_for(config["rules"], config["sources"].get(source))


class Quality(Filter):
    name = "filter"  # rejected rows name the failing rule in `reason`

    def __init__(self, config: FilterSettings):
        # JSON: the rules of each source are parsed once per task, not once per record.
        self.config_json = json.dumps({"rules": config.rules, "sources": config.sources}, sort_keys=True)

    def filter(self, piece: Piece) -> tuple[str, str | None] | None:
        row = piece.row
        fields = row
        # ABC tunes: also voice bar counts, which only a tune with a V: field can have unequal.
        if row["format"] == "abc" and row.get("content") is not None and b"V:" in row["content"]:
            fields = {**row, "abc_voice_bars": voice_bar_counts(decode_abc(row["content"]))}
        verdict = evaluate(fields, _rules(self.config_json, row["source"]))
        if verdict.reason is not None:
            return verdict.reason, verdict.detail
        row["quality_score"] = verdict.quality_score
        return None
