"""What a run may use: how many processes (all the cores, or one inside a runner worker) and how
long one capture of a batch may take.

Apart from runner.py, whose workers, scheduling and clean-up `connections` never uses: it only
asks how many cores it may fork onto, before its capture is read, and that import (about 4 ms)
would delay every run of it.
"""

from __future__ import annotations

import os

# Seconds one capture of a batch may take before it is stopped (--time-limit): minutes for the
# largest captures measured, and a hung tshark is found within ten minutes.
BATCH_TIME_LIMIT = 600.0

_IN_WORKER = False  # set in a runner worker process: the work it runs uses one core, not all


def in_worker() -> bool:
    """Whether this process is one of a run's workers (whose siblings use the other cores)."""
    return _IN_WORKER


def mark_worker() -> None:
    """This process is a runner worker from now on (runner.serve)."""
    global _IN_WORKER
    _IN_WORKER = True


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
