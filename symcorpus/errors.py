"""The two kinds of error symcorpus raises on purpose.

`UsageError`: a mistake in the user's call or inputs (a missing source, a bad params value, an
output that exists). The CLI prints its message as one line and exits with code 2.

`ReasonError`: a record the pipeline cannot take (a MIDI file that does not parse, an ABC tune
with unequal voices). It carries a reason code and a detail, and ends as a row of an errors or
rejects table, never as a crash.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A mistake in the call: the message says what to change."""


class ReasonError(ValueError):
    """A record that cannot be taken: `reason` is a short code (`bad_midi`), `detail` says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
