"""How a staged version takes OUT's place with no moment in between, and what dead builds leave.

A version is assembled in a hidden sibling folder, `.NAME.tmp-XXXXXXXX` (spark/publish.py). Once
it is complete (`_SUCCESS` written), `place` swaps it with OUT in one atomic step: Linux's
renameat2(RENAME_EXCHANGE) exchanges the two directory entries, so at every instant OUT is the old
version or the new one, whole; the old version is then at the staging name and is removed.

Why an exchange rather than a symlink OUT that is re-pointed: OUT stays a plain directory, so
nothing that reads or tracks it changes. DVC outputs, `catalog register` (it stores the resolved
path: through a symlink it would pin a hidden version folder that the next publish removes),
`Path.resolve()` in readers, rsync and du all see what they saw before. Readers need no pointer to
follow. Where the kernel or the filesystem cannot exchange (not Linux, some network filesystems),
the old version is renamed away and the new one renamed in: two renames apart, the one place a
reader can find no OUT; `place` says which way it went.

Object storage has neither renames nor symlinks: there a version will be written under its own
prefix and published by writing a pointer object last. That is a second implementation of `place`
(and of `stale_siblings`), chosen by OUT's scheme; nothing else in publishing changes.

Dead builds: a staging folder holds an `.owner` file (host, pid, process start) until just before
the swap (the staged rows of a build, `.NAME.pieces-XXXXXXXX`, spark/staging.py, hold one while
it lives). The next build of the same OUT removes every staging folder whose owner is dead (or that
has no owner: a staged version whose build died just before the swap, or the old version a swap
left behind), so a killed build costs disk only until the next one starts. A folder owned by a live
process, or by another host, is left alone.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import sys
import uuid
from pathlib import Path

OWNER = ".owner"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"


def _start_ticks(pid: int) -> str | None:
    """When the process started (clock ticks since boot), to tell it from a later one with its pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def claim(staging: Path) -> None:
    """Mark `staging` as this live process's own."""
    pid = os.getpid()
    (staging / OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "start": _start_ticks(pid)}))


def release(staging: Path) -> None:
    (staging / OWNER).unlink(missing_ok=True)


def _owner_alive(folder: Path) -> bool:
    try:
        owner = json.loads((folder / OWNER).read_text())
    except (OSError, ValueError):
        return False
    if owner.get("host") != socket.gethostname():
        return True  # another machine's build: it cannot be checked from here
    return owner.get("start") is not None and _start_ticks(int(owner["pid"])) == owner["start"]


def stale_siblings(out: Path) -> list[Path]:
    """Staging folders (and old versions) next to OUT that no live build owns."""
    if not out.parent.is_dir():
        return []
    prefixes = (f".{out.name}.tmp-", f".{out.name}.old-", f".{out.name}.pieces-")
    return sorted(p for p in out.parent.iterdir()
                  if p.name.startswith(prefixes) and p.is_dir() and not p.is_symlink() and not _owner_alive(p))


def remove_stale(out: Path) -> list[Path]:
    """Remove what dead builds left next to OUT; the folders removed."""
    removed = stale_siblings(out)
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries atomically; False where the kernel or filesystem cannot."""
    if _libc is None or not hasattr(_libc, "renameat2"):
        return False
    if _libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: no exchange here
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def place(staging: Path, out: Path, after_swap=lambda: None) -> str:
    """Put the complete version in `staging` at `out`; returns how: "new", "exchange" or "renames".

    `after_swap` runs once OUT is the new version and the old one not yet removed (a test point)."""
    if not os.path.lexists(out):
        os.rename(staging, out)
        return "new"
    if exchange(staging, out):
        after_swap()
        shutil.rmtree(staging, ignore_errors=True)  # the old version, now at the staging name
        return "exchange"
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(out, old)
    os.rename(staging, out)
    after_swap()
    shutil.rmtree(old, ignore_errors=True)
    return "renames"
