"""Run the ``neuronlabel`` command in a subprocess, as a user would, and time it."""

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

CLI = [sys.executable, "-m", "neuronlabel.cli"]
FAST = 60.0


@dataclass
class Result:
    rc: int
    out: str
    err: str
    seconds: float


def run_cli(*args, prefix=(), env=None, timeout=300, **kw) -> Result:
    """``neuronlabel *args`` (optionally behind ``prefix``, e.g. an ``unshare`` wrapper)."""
    t0 = time.perf_counter()
    p = subprocess.run([*prefix, *CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})), **kw)
    return Result(p.returncode, p.stdout, p.stderr, time.perf_counter() - t0)


def assert_clear_failure(r: Result, message: str, limit: float = FAST) -> None:
    """Exit 2, one line on stderr naming ``message``, no traceback, no probe started, within ``limit`` s."""
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert r.rc == 2, (r.rc, r.err[-2000:])
    assert "Traceback" not in r.err and len(lines) == 1, r.err[-2000:]
    assert message in lines[0], lines[0]
    assert "probe:" not in r.err and "caption:" not in r.err
    assert r.seconds < limit, r.seconds


def unshare_prefix(folder, options: str):
    """A prefix that runs the command with a fresh tmpfs (``options``, e.g. ``ro``) mounted on ``folder``,
    in a private mount namespace; None where unprivileged namespaces are not allowed."""
    if shutil.which("unshare") is None:
        return None
    base = ["unshare", "--mount", "--map-root-user"]
    ok = subprocess.run([*base, "sh", "-c", f'mount -t tmpfs -o {options} none "$0"', str(folder)],
                        capture_output=True)
    if ok.returncode != 0:
        return None
    return [*base, "sh", "-c", f'mount -t tmpfs -o {options} none "$0" && exec "$@"', str(folder)]
