"""How many CPU threads torch should use: the cores this process may really run on.

>>> from neuronlabel.threads import usable_cores, torch_threads
>>> usable_cores() >= 1
True
>>> import torch
>>> with torch_threads(1):
...     torch.get_num_threads()
1

torch starts as many threads as it sees cores, but a container's CPU quota
(``cpu.max`` / ``cfs_quota_us`` of its cgroup) or a CPU affinity mask (``taskset``,
Slurm, ``docker --cpuset-cpus``) can give the process fewer. Threads beyond those cores
do not add speed: they wait on each other at every parallel operation, and on a machine
shared with other jobs that waiting can cost 10-100x (one image taking seconds instead
of milliseconds). :func:`usable_cores` is the smaller of the affinity mask and the quota;
:func:`default_threads` is torch's own count capped there; :func:`torch_threads` sets
torch's thread count for a block of code and restores it.
"""

from __future__ import annotations

import functools
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import torch

from .errors import InputError

_CGROUP = Path("/sys/fs/cgroup")


def _quota(root: Path = _CGROUP) -> Optional[float]:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max`` or v1 ``cfs_quota_us``), or None."""
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by its cgroup's CPU quota.

    >>> usable_cores() <= (os.cpu_count() or 1)
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def check_threads(threads) -> Optional[int]:
    """``threads`` validated: None (use :func:`usable_cores`) or a positive integer.

    >>> check_threads(2)
    2
    >>> check_threads(0)                                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    neuronlabel.errors.InputError: threads must be a positive integer (leave it out to use the cores ...), got 0
    """
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive integer (leave it out to use the cores this process may "
                         f"run on, here {usable_cores()}), got {threads!r}")
    return threads


def default_threads() -> int:
    """torch's thread count, capped at :func:`usable_cores` (a lower count set by the user stays).

    >>> 1 <= default_threads() <= usable_cores()
    True
    """
    return max(1, min(torch.get_num_threads(), usable_cores()))


@contextmanager
def torch_threads(threads: Optional[int] = None) -> Iterator[int]:
    """Run a block with ``threads`` torch threads (default :func:`default_threads`), then restore.

    >>> with torch_threads() as n:
    ...     n == torch.get_num_threads()
    True
    """
    threads = check_threads(threads) or default_threads()
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def with_threads(fn):
    """Decorate a function taking ``threads=``: validate it, and run the call with that many threads.

    >>> @with_threads
    ... def work(*, threads=None):
    ...     return torch.get_num_threads()
    >>> work(threads=1)
    1
    """
    @functools.wraps(fn)
    def threaded(*args, threads: Optional[int] = None, **kwargs):
        with torch_threads(threads):
            return fn(*args, threads=threads, **kwargs)

    return threaded
