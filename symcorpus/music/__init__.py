"""Musical logic as plain functions over bytes and numpy arrays: no Spark, no Ray."""

from __future__ import annotations

import functools
from types import ModuleType


@functools.cache
def compiled_loops() -> ModuleType:
    """music/loops.py, the loops over notes compiled by numba, imported on first use: numba and the
    compiled code take ~0.7 s to load, which a process that never runs them (the driver) should not
    pay."""
    from symcorpus.music import loops

    return loops
