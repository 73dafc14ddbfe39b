"""Starting or joining Ray, and the set-up hook every Ray worker process of a local start runs.

This module imports nothing but the standard library at the top: the hook's module is imported in
every worker process Ray starts (train workers, Ray Data tasks, actors), and a hook living beside
the training code made each of them import PyTorch first (~2 s of CPU per process).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

STATE_API_WARNING = "State API may be temporarily unavailable"


class _DropStateApiWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return STATE_API_WARNING not in record.getMessage()


def quiet_state_api_warning() -> None:
    """Worker set-up hook for a local Ray: Ray Train's placement-group cleaner asks the State API
    every few seconds whether the controller lives, and the dashboard of `ray[data,train]` (without
    the `default` extra) has no State API, so it would print the same warning ~100 times a demo."""
    logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner").addFilter(
        _DropStateApiWarning())


def connect_ray(address: str | None = None, attempts: int = 3, **local: Any) -> None:
    """Join the cluster at `address`, or start Ray in this process when it is None.

    A local start gives its raylet a fixed 30 s to register with the GCS; on a laptop busy with
    Spark that deadline can pass, so a local start is tried again. `local` are more ray.init
    options for a local start.
    """
    import ray

    for attempt in range(1, attempts + 1):
        try:
            if address is None:
                env = {"worker_process_setup_hook": f"{__name__}.quiet_state_api_warning"}
                ray.init(**{"runtime_env": env, **local})
            else:
                ray.init(address=address)
            return
        except Exception as e:
            if address is not None or "timed out during startup" not in str(e) or attempt == attempts:
                raise
            log.warning("Ray did not start in time (attempt %d of %d); trying again", attempt, attempts)
            ray.shutdown()
