"""Where parsing's temporary files go: music21's ABC tunes rendered by abc2midi as the build renders
them (`render_abc_tunes`, one run per file header), with the runs' files in the default temporary
directory against a memory filesystem (/dev/shm), alternately on the same tunes.

    python bench/scratch_files.py                       # every ABC file of music21's corpus, 3 rounds
    python bench/scratch_files.py --files 200 --rounds 5

The same code either way: TMPDIR set to the default directory makes `parse.scratch_dir()` step
aside, unset it picks /dev/shm. After one warm-up pass each way, every round renders all the tunes
once per place (the order of the two alternating), and prints wall seconds and CPU seconds (this
process and the abc2midi processes it ran, user + system) per thousand tunes, and the filesystem
each directory is on.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.music import parse  # noqa: E402
from symcorpus.music.abc_text import split_tunes  # noqa: E402


def filesystem(path: str) -> str:
    """The type of the filesystem `path` is on (/proc/mounts' longest matching mount point)."""
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fs_type, *_ = line.split()
        if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
            best, kind = mount, fs_type
    return kind


def cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of this process and its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


def render_all(files: list[list[bytes]], in_memory: bool, default_dir: str) -> tuple[float, float, float]:
    """(wall, user, system) seconds to render every file's tunes with the files in memory or not."""
    if in_memory:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = default_dir
    limits = parse.Limits()
    user, system = cpu()
    started = time.perf_counter()
    for tunes in files:
        parse.render_abc_tunes(tunes, limits)
    wall = time.perf_counter() - started
    user2, system2 = cpu()
    return wall, user2 - user, system2 - system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=0, help="the first N ABC files (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import music21

    corpus = Path(music21.__file__).parent / "corpus"
    paths = sorted(corpus.rglob("*.abc"))[: args.files or None]
    files = [[t.content for t in split_tunes(p.read_bytes())] for p in paths]
    n = sum(len(f) for f in files)
    default_dir = tempfile.gettempdir()
    os.environ.pop("TMPDIR", None)
    memory = parse.scratch_dir()
    if memory is None:
        raise SystemExit(f"no memory filesystem to compare with: {parse.MEMORY_SCRATCH} is missing, full or read-only")
    print(f"{n:,} tunes in {len(files):,} files; default temporary directory {default_dir} "
          f"({filesystem(default_dir)}), memory {memory} ({filesystem(memory)})")
    for in_memory in (False, True):  # warm-up: page cache, abc2midi's binary
        render_all(files[:20], in_memory, default_dir)
    for r in range(args.rounds):
        for in_memory in ((False, True) if r % 2 == 0 else (True, False)):
            wall, user, system = render_all(files, in_memory, default_dir)
            place = f"memory ({memory})" if in_memory else f"default ({default_dir})"
            print(f"round {r + 1}  {place:<22} wall {1000 * wall / n:6.3f} s, CPU {1000 * (user + system) / n:6.3f} s "
                  f"(user {1000 * user / n:.3f}, system {1000 * system / n:.3f}) per 1,000 tunes", flush=True)


if __name__ == "__main__":
    main()
