"""Every step's counters, from the rows the steps marked: pieces in and out, errors and rejections
by reason, skipped files. Counting the final rows (one small group-by) rather than counting inside
the tasks keeps the figures exact when Spark runs a task twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from symcorpus import schema

Outcome = tuple[str, str | None, str | None]  # (status, stage, reason code)


def reason_code(status: str, error: str | None, reason: str | None) -> str | None:
    """The short code a stopped row carries: the rule of a reject, the prefix of an error."""
    if status == schema.STATUS_ERROR and error:
        return error.split(":", 1)[0]
    if status == schema.STATUS_REJECTED:
        return reason
    return None


def step_counts(step_names: Iterable[str], outcomes: Mapping[Outcome, int]) -> dict[str, dict[str, Any]]:
    """{step: {in, out, errors: {reason: n}, rejected: {reason: n}, skipped}} in step order.

    A row stopped by a step names it as its stage; a row that went through every step is `ok`.
    Rows stopped by a step not in the list (e.g. carried from an earlier version) are not counted.
    """
    names = list(step_names)
    stopped: dict[str, dict[str, Counter]] = {n: {"errors": Counter(), "rejected": Counter(), "skipped": Counter()}
                                             for n in names}
    entering = 0
    for (status, stage, code), n in outcomes.items():
        if stage in stopped:
            kind = {schema.STATUS_ERROR: "errors", schema.STATUS_REJECTED: "rejected"}.get(status, "skipped")
            stopped[stage][kind][code or status] += n
            entering += n
        elif status == schema.STATUS_OK:
            entering += n
    counts = {}
    for name in names:
        out = entering - sum(sum(c.values()) for c in stopped[name].values())
        counts[name] = {"in": entering, "out": out,
                        "errors": dict(sorted(stopped[name]["errors"].items())),
                        "rejected": dict(sorted(stopped[name]["rejected"].items()))}
        if stopped[name]["skipped"]:
            counts[name]["skipped"] = sum(stopped[name]["skipped"].values())
        entering = out
    return counts


def local_outcomes(rows: Iterable[Mapping[str, Any]]) -> Counter:
    """(status, stage, reason code) -> rows, for rows in this process (what the Spark driver gets
    from a group-by)."""
    outcomes: Counter = Counter()
    for row in rows:
        status = row["status"]
        outcomes[(status, row.get("stage") if status != schema.STATUS_OK else None,
                  reason_code(status, row.get("error"), row.get("reason")))] += 1
    return outcomes
