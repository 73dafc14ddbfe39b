"""Test-only fault injection: make a real process die at a chosen record or publish step.

The crash tests need real deaths (a segfault, a SIGKILL, a worker killed from outside), not mocks.
One environment variable, read once at import, names the faults (several: comma-separated):

    SYMCORPUS_TEST_FAULT=segv:<sha256>          the process parsing that record faults (SIGSEGV)
    SYMCORPUS_TEST_FAULT=abort:<sha256>         ... aborts (SIGABRT)
    SYMCORPUS_TEST_FAULT=oom:<sha256>           ... allocates until it runs out of memory
    SYMCORPUS_TEST_FAULT=hold:<sha256>:<file>   ... writes "<own pid> <Spark worker pid>" to <file>
                                                and waits to be killed; only the first process to
                                                create <file> holds, so a retried task goes on
    SYMCORPUS_TEST_FAULT=kill:<point>           the build process SIGKILLs itself at a publish
                                                point (spark/publish.py PUBLISH_POINTS)

It cannot fire in normal use: the variable's name says what it is, a record fault names one
content hash in full (64 hex digits), and a kill names one publish point exactly. Without the
variable each check is a loop over an empty tuple.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import re
import signal
from typing import NamedTuple

ENV = "SYMCORPUS_TEST_FAULT"
RECORD_ACTIONS = ("segv", "abort", "oom", "hold")
_HASH = re.compile(r"[0-9a-f]{64}")


class Fault(NamedTuple):
    action: str
    target: str  # a content hash, or a publish point
    marker: str | None = None


def parse_faults(value: str | None) -> tuple[Fault, ...]:
    """The faults a value of SYMCORPUS_TEST_FAULT names (ValueError for a malformed one)."""
    return tuple(parse_fault(part) for part in (value or "").split(",") if part)


def parse_fault(value: str) -> Fault:
    action, _, rest = value.partition(":")
    if action == "kill" and rest:
        return Fault(action, rest)
    target, _, marker = rest.partition(":")
    if action in RECORD_ACTIONS and _HASH.fullmatch(target) and (marker or action != "hold"):
        return Fault(action, target, marker or None)
    raise ValueError(f"{ENV}={value!r}: expected segv|abort|oom:<sha256>, hold:<sha256>:<file> or kill:<point>")


FAULTS = parse_faults(os.environ.get(ENV))

# Set in a guarded child (steps/guard.py): its parent, not itself, is the Spark worker.
worker_pid: int | None = None


def at_record(content_id: str) -> None:
    """Fire the record fault when this is its record (called by Parse before parsing)."""
    for fault in FAULTS:
        if fault.target != content_id or fault.action == "kill":
            continue
        faulthandler.disable()  # a deliberate death needs no traceback in the log
        if fault.action == "segv":
            ctypes.string_at(0)  # a real invalid read: the kernel sends SIGSEGV
        elif fault.action == "abort":
            os.abort()
        elif fault.action == "oom":
            hog = []
            while True:  # until MemoryError (a memory budget) or the kernel's OOM killer
                hog.append(bytearray(64 * 2**20))
        elif fault.action == "hold":
            _hold(fault.marker)


def _hold(marker: str) -> None:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:  # an earlier attempt held and was killed: this one goes on
        return
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()} {worker_pid or os.getpid()}\n")
    while True:
        signal.pause()


def at_point(point: str) -> None:
    """SIGKILL this process at a named point when the fault says so (publish steps)."""
    if any(fault.action == "kill" and fault.target == point for fault in FAULTS):
        os.kill(os.getpid(), signal.SIGKILL)
