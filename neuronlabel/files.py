"""Writing files safely: writability checks before the work, atomic replaces, run locks.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write(folder / "a.txt", "hello").read_text()
'hello'
>>> with run_lock(folder / "a.txt", "--checkpoint"):
...     lock_path(folder / "a.txt").exists()
True

A file is written to a uniquely named temporary file in the same folder, flushed to disk,
then renamed over the target, so a failure (full disk, kill) never leaves a truncated file
or destroys an earlier good one, and two writers never share a temporary name. A lock is
an ``fcntl.flock`` on a small file that names its holder (pid, host, start time, command);
the kernel drops it when the holder dies, even on ``kill -9``, so a stale lock file is
simply taken over.
"""

from __future__ import annotations

import errno
import functools
import io
import json
import os
import socket
import sys
import threading
import time
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence, Union

from .errors import OutputPathError, RunLockedError

Data = Union[bytes, str]


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "no space left on the device"
    if err.errno == errno.EROFS:
        return "the file system is read-only"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.EFBIG:
        return "the file is too large for this file system or process limit"
    return err.strerror or str(err)


def temp_path(path: "str | os.PathLike") -> Path:
    """A unique temporary name next to ``path``, to write to and then ``os.replace`` over it.

    >>> temp_path("/data/run.ckpt").name.startswith(".run.ckpt.")
    True
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _write_temp(path: Path, data: bytes) -> Path:
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _remove(tmp)
        raise
    os.close(fd)
    return tmp


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _as_bytes(data: Data) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def atomic_write(path: "str | os.PathLike", data: Data) -> Path:
    """Write ``data`` (str as UTF-8, or bytes) to ``path`` atomically; returns the path.

    >>> import tempfile, pathlib
    >>> atomic_write(pathlib.Path(tempfile.mkdtemp()) / "x.json", b"{}").read_bytes()
    b'{}'

    On failure the temporary file is removed, an existing ``path`` is left as it was, and
    :class:`~neuronlabel.errors.OutputPathError` says why (no space, read-only, ...).
    """
    return atomic_write_many({path: data})[0]


def atomic_write_many(files: "dict[str | os.PathLike, Data]") -> list[Path]:
    """Write several files so that either all of them are replaced or none is.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> [p.name for p in atomic_write_many({d / "a": "1", d / "b": "2"})]
    ['a', 'b']

    Every file goes to its temporary name first; only when all are written completely are
    they renamed over their targets (renames need no space and do not fail half-way).
    """
    written: list[tuple[Path, Path]] = []
    try:
        for target, data in files.items():
            target = Path(target)
            if target.is_dir():
                raise OutputPathError(f"cannot write {str(target)!r}: it is a folder; remove it or write elsewhere")
            try:
                written.append((_write_temp(target, _as_bytes(data)), target))
            except OSError as err:
                kept = " (the earlier file is unchanged)" if target.exists() else ""
                raise OutputPathError(f"cannot write {str(target)!r}: {_reason(err)}{kept}") from err
        for tmp, target in written:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in written:
            _remove(tmp)
        raise
    return [target for _, target in written]


def atomic_save(obj, path: "str | os.PathLike") -> Path:
    """``torch.save(obj)`` to ``path`` atomically (serialised in memory first, then written).

    >>> import tempfile, pathlib, torch
    >>> path = atomic_save({"x": torch.ones(2)}, pathlib.Path(tempfile.mkdtemp()) / "s.pt")
    >>> torch.load(path)["x"].tolist()
    [1.0, 1.0]
    """
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write(path, buffer.getvalue())


def _make_folder(folder: Path, what: str) -> None:
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"{what} {str(folder)!r} cannot be created: {str(parent)!r} is a file")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(f"{what}: cannot create the folder {str(folder)!r}: {_reason(err)}") from err


def _try_write(folder: Path, what: str, target: Path) -> None:
    probe = folder / f".neuronlabel-write-test.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            os.write(fd, b"neuronlabel write test\n" * 64)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        raise OutputPathError(f"{what} {str(target)!r} is not writable: {_reason(err)}; "
                              f"pass a {what} path in a writable place") from err
    finally:
        _remove(probe)


def check_writable_file(path: "str | os.PathLike", what: str = "output file") -> Path:
    """Make sure ``path`` can be written (folders created, a test write done) before the work.

    >>> import tempfile, pathlib
    >>> check_writable_file(pathlib.Path(tempfile.mkdtemp()) / "sub" / "run.ckpt", "--checkpoint").name
    'run.ckpt'
    >>> check_writable_file(tempfile.mkdtemp(), "--checkpoint")             # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    neuronlabel.errors.OutputPathError: --checkpoint '...' is a folder; pass a file path such as '.../run.ckpt'
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {str(path)!r} is a folder; pass a file path such as {str(path / 'run.ckpt')!r}")
    _make_folder(path.parent, what)
    _try_write(path.parent, what, path)
    return path


def check_output_folder(folder: "str | os.PathLike", names: Sequence[str] = (), what: str = "--out") -> Path:
    """Make sure ``folder`` exists (or is created) and its files ``names`` can be (re)written.

    >>> import tempfile, pathlib
    >>> check_output_folder(pathlib.Path(tempfile.mkdtemp()) / "report", ["report.json"]).name
    'report'
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{what} {str(folder)!r} is a file, not a folder; pass a folder path (it is created)")
    _make_folder(folder, what)
    for name in names:
        if (folder / name).is_dir():
            raise OutputPathError(f"{what}: {str(folder / name)!r} is a folder, so the {name} cannot be written; "
                                  "remove it or pass another folder")
    _try_write(folder, what, folder)
    return folder


_held: dict[str, list] = {}
_held_guard = threading.Lock()


def lock_path(target: "str | os.PathLike", folder: bool = False) -> Path:
    """The lock file that guards ``target``: ``<target>.lock``, or ``<target>/.neuronlabel.lock`` for a folder.

    >>> lock_path("/tmp/run.ckpt").name, lock_path("/tmp/report", folder=True).name
    ('run.ckpt.lock', '.neuronlabel.lock')
    """
    target = Path(target)
    return target / ".neuronlabel.lock" if folder else target.with_name(target.name + ".lock")


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
        return f"pid {info['pid']} on {info['host']}, started {started}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process whose lock file cannot be read"


@contextmanager
def run_lock(target: "str | os.PathLike", what: str = "output", folder: bool = False) -> Iterator[Path]:
    """Hold the lock on ``target`` (a file, or a ``folder``) for a ``with`` block; re-entrant in one process.

    >>> import tempfile, pathlib
    >>> ckpt = pathlib.Path(tempfile.mkdtemp()) / "run.ckpt"
    >>> with run_lock(ckpt, "--checkpoint"):
    ...     with run_lock(ckpt, "--checkpoint"):
    ...         lock_path(ckpt).exists()
    True

    Another process holding it makes this raise :class:`~neuronlabel.errors.RunLockedError`
    naming that process (its pid and command). A lock file left by a dead process is taken
    over. The lock file is removed on exit.
    """
    path = lock_path(target, folder)
    key = os.path.realpath(path)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
        else:
            _held[key] = [_acquire(path, what, Path(target)), 1]
    try:
        yield path
    finally:
        with _held_guard:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                fd = _held.pop(key)[0]
                if fd is not None:
                    _remove(path)
                    os.close(fd)


def _acquire(path: Path, what: str, target: Path):
    try:
        import fcntl
    except ImportError:
        warnings.warn("file locks need fcntl (POSIX); concurrent runs into the same files are not detected",
                      stacklevel=4)
        return None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise OutputPathError(f"cannot create the lock file {str(path)!r}: {_reason(err)}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(f"{what} {str(target)!r} is in use by another neuronlabel run ({_holder(path)}); "
                                 f"wait for it to finish or pass another {what}") from None
        except OSError as err:
            os.close(fd)
            warnings.warn(f"cannot lock {str(path)!r} ({_reason(err)}); concurrent runs are not detected",
                          stacklevel=4)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    program = "neuronlabel" if program in ("cli.py", "__main__.py") else program
    command = " ".join([program, *sys.argv[1:]])
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "command": command}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd


def guard_checkpoint(fn):
    """Decorate a function taking ``checkpoint=``: check it is writable and lock it for the whole call.

    >>> @guard_checkpoint
    ... def run(*, checkpoint=None):
    ...     return lock_path(checkpoint).exists() if checkpoint else None
    >>> import tempfile, pathlib
    >>> run(checkpoint=pathlib.Path(tempfile.mkdtemp()) / "run.ckpt")
    True
    """
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        checkpoint = kwargs.get("checkpoint")
        if checkpoint is None:
            return fn(*args, **kwargs)
        check_writable_file(checkpoint, "checkpoint")
        with run_lock(checkpoint, "checkpoint"):
            return fn(*args, **kwargs)

    return guarded
