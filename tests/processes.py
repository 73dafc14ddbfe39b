"""Helpers for tests that kill real processes: waiting on events, finding a build's processes, and
a reader that checks a published version is always there while it is replaced."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

MARK = "SYMCORPUS_TEST_RUN"  # set in a build's environment; every process it starts inherits it


def wait_for(predicate, timeout: float = 600.0, what: str = "an event"):
    """Wait for a real event (checked every 50 ms) and return what the predicate returned; fail
    after `timeout` seconds (generous: Spark starts slowly on a busy machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        threading.Event().wait(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def marked_processes(mark: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment carries MARK=mark."""
    found = []
    needle = f"{MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":  # a zombie has already died; only its parent's wait is missing
                    found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, IndexError):
            continue
    return found


def wait_for_no_processes(mark: str, timeout: float = 120.0) -> None:
    """Every process of a killed build ends by itself (nothing left to slow or confuse a rerun)."""
    try:
        wait_for(lambda: not marked_processes(mark), timeout, "the killed build's processes to end")
    except AssertionError:
        raise AssertionError(f"left behind: {marked_processes(mark)}") from None


# A reader in its own process (true concurrency, unlike a thread under the GIL): it reads OUT's
# manifest and _SUCCESS until a stop file appears, says "reading" after its first whole read, and
# prints how many reads found a version and how many found none.
READER = """
import json, os, sys
out, stop = sys.argv[1], sys.argv[2]
reads = misses = 0
while not os.path.exists(stop):
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            json.load(f)
        os.stat(os.path.join(out, "_SUCCESS"))
        reads += 1
    except FileNotFoundError:
        misses += 1
    if reads == 1 and not misses:
        print("reading", flush=True)
print(reads, misses, flush=True)
"""
