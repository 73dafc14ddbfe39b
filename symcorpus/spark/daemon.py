"""Spark's Python daemon for symcorpus jobs (`spark.python.daemon.module`): PySpark's own, tied to
the JVM that started it.

PySpark's daemon shuts down when the JVM closes its stdin, and then SIGHUPs its workers. When the
driver is killed outright (kill -9 of `symcorpus build`), the JVM exits on its own stdin's EOF, but a
worker busy in a long batch went on until it next talked to the JVM: measured here, a worker
outlived the killed CLI by seconds to tens of seconds, parsing for nobody. So the daemon asks the
kernel for SIGTERM the moment its parent (the JVM) dies; PySpark's SIGTERM handler SIGHUPs the
workers' process group at once, and each worker's isolated child dies with its worker
(steps/guard.py). Nothing of a killed build is left to slow or confuse a rerun.
"""

from __future__ import annotations

import signal

from pyspark import daemon

from symcorpus.steps.guard import die_with_parent

if __name__ == "__main__":
    die_with_parent(signal.SIGTERM)
    daemon.manager()
