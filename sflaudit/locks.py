"""One writer per run directory: an exclusive advisory lock on a lock file, released by the kernel when its holder dies.

:class:`RunLock` takes ``fcntl.flock(LOCK_EX)`` on its own open file description of the lock file (conventionally
``<run_dir>/.lock``). Because the lock belongs to the open file, not to the file's existence:

- a holder killed with SIGKILL leaves the file behind, but the kernel drops the lock with the process, so the next
  :meth:`RunLock.acquire` succeeds at once -- a stale lock is simply a lock file nobody holds;
- two :class:`RunLock` objects on the same path exclude each other even inside one process (each opens the file);
- the file is never deleted (unlinking a flock file lets two writers lock two different inodes).

The holder writes ``{"pid", "host", "since"}`` (JSON) into the file after it gets the lock and empties it again on
:meth:`RunLock.release`, so a refusal can say who is in the way (:meth:`RunLock.holder`).

The lock is advisory (only RunLock users respect it) and needs a file system with working ``flock`` (local disks;
NFS only where the client maps flock onto NFS locks).

Usage -- the body of a ``with`` only ever runs while the lock is held::

    with RunLock(run_dir / ".lock", what=f"run directory {run_dir}"):
        ...                      # took it at once, or raised SflauditError "run directory … is in use by pid N …"
    with RunLock(run_dir / ".lock").held(wait=None):
        ...                      # waited until the other writer finished (wait=30: up to 30 s, then SflauditError)
    lock = RunLock(run_dir / ".lock")
    if lock.acquire(wait=0):     # no exception: True / False
        try:
            ...
        finally:
            lock.release()
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sflaudit.errors import SflauditError

LOCK_NAME = ".lock"  # the lock file of a run directory: <run_dir>/.lock
POLL_S = 0.2
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN)


class RunLock:
    """An exclusive, non-reentrant, cross-process lock on the file ``path`` (see the module docstring).

    Not thread-safe: share one RunLock between threads only behind your own lock. A forked child inherits the held
    lock (same open file description) until it exits or execs (the descriptor is close-on-exec); its
    :meth:`release` only closes its copy and never unlocks for the parent.

    Args:
        path: the lock file; created (mode 0644) when missing.
        make_parents: create missing parent folders of ``path`` on acquire; when False (default) a missing parent is
            an SflauditError, so a typo in a run folder is not silently turned into a new tree.
        what: what the lock protects, for the refusal message (default: the lock file's path), e.g.
            ``"run directory runs/report/mocosfl-d1"``.
    """

    def __init__(self, path: str | os.PathLike[str], *, what: str | None = None, make_parents: bool = False) -> None:
        self.path = Path(path)
        self.what = what if what is not None else str(self.path)
        self.make_parents = make_parents
        self._fd: int | None = None
        self._owner_pid: int | None = None

    @property
    def locked(self) -> bool:
        """True while this object holds the lock (in the process that acquired it)."""
        return self._fd is not None and self._owner_pid == os.getpid()

    # ------------------------------------------------------------------------------------------------ acquire

    def acquire(self, *, wait: float | None = 0, poll: float = POLL_S) -> bool:
        """Take the lock; returns True when this object holds it now, False when another holder kept it.

        Args:
            wait: 0 = try once and return at once; None = block until the lock is free (no polling: the kernel
                wakes us when the holder releases or dies; Ctrl-C interrupts); > 0 = try every ``poll`` seconds for
                up to ``wait`` seconds, then return False.
            poll: seconds between tries when ``wait`` > 0.
        Raises:
            RuntimeError: this object already holds the lock (it is not reentrant).
            ValueError: ``wait`` < 0 or ``poll`` <= 0.
            SflauditError: the lock file cannot be opened or locked (missing parent, permissions, no flock support).
        """
        if self.locked:
            raise RuntimeError(f"{self.path} is already held by this RunLock (it is not reentrant)")
        if wait is not None and wait < 0:
            raise ValueError(f"wait = {wait} must be >= 0 or None")
        if poll <= 0:
            raise ValueError(f"poll = {poll} must be > 0")
        if self._fd is not None:  # inherited over fork: closing our copy leaves the parent's lock in place
            os.close(self._fd)
            self._fd = self._owner_pid = None
        fd = self._open()
        try:
            got = self._lock(fd, wait, poll)
            if got:
                _write_holder(fd, self.path)
        except BaseException:
            os.close(fd)
            raise
        if not got:
            os.close(fd)
            return False
        self._fd, self._owner_pid = fd, os.getpid()
        return True

    def release(self) -> None:
        """Empty the holder record and unlock; a no-op when not held. The lock file itself stays."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._owner_pid == os.getpid():
                try:
                    os.ftruncate(fd, 0)
                except OSError:
                    pass  # the record is advisory; unlocking matters
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:
            raise SflauditError(f"cannot unlock {self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
            self._owner_pid = None

    # ------------------------------------------------------------------------------------------------ context

    @contextmanager
    def held(self, *, wait: float | None = 0, poll: float = POLL_S) -> Iterator[RunLock]:
        """``with lock.held(wait=...):`` -- :meth:`acquire` with ``wait`` on entry, release on exit.

        Yields this lock. Raises :class:`SflauditError` (:meth:`refusal`) when the lock is still held by another
        after ``wait`` seconds (0 = at once, None = never gives up), so the body never runs without the lock.
        """
        if not self.acquire(wait=wait, poll=poll):
            raise SflauditError(self.refusal(waited=wait))
        try:
            yield self
        finally:
            self.release()

    def __enter__(self) -> RunLock:
        """``with RunLock(path):`` -- ``held(wait=0)``: take the lock at once or raise :class:`SflauditError`."""
        if not self.acquire(wait=0):
            raise SflauditError(self.refusal())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    # ------------------------------------------------------------------------------------------------ holder

    @staticmethod
    def holder(path: str | os.PathLike[str]) -> dict[str, Any] | None:
        """The record the current holder wrote: ``{"pid": int, "host": str, "since": ISO-8601 time}``.

        None when the file is missing, empty (free after a clean release, or a holder that has not written yet) or
        unreadable. A record left by a killed holder is returned as written: only :meth:`acquire` tells whether the
        lock is actually free. Reading never takes the lock.
        """
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError):
            return None
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            return None
        return record if isinstance(record, dict) else None

    def refusal(self, *, waited: float | None = 0) -> str:
        """One line saying who holds the lock, e.g. ``runs/x/.lock is in use by pid 4242 on node1 since
        2024-05-01T12:00:00+02:00; wait for it or stop it`` (with ``(waited 30 s)`` before the ``;`` when
        ``waited`` > 0)."""
        record = self.holder(self.path)
        if record and "pid" in record:
            who = f"pid {record['pid']} on {record.get('host', '?')} since {record.get('since', '?')}"
        else:
            who = "another process"  # between a holder's flock and its record, or a non-RunLock flock user
        after = f" (waited {waited:g} s)" if waited else ""
        return f"{self.what} is in use by {who}{after}; wait for it or stop it"

    def __repr__(self) -> str:
        return f"RunLock({str(self.path)!r}, locked={self.locked})"

    # ------------------------------------------------------------------------------------------------ internals

    def _open(self) -> int:
        if self.make_parents:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SflauditError(f"cannot create the folder of lock file {self.path}: "
                                    f"{exc.strerror or exc}") from None
        elif not self.path.parent.is_dir():
            raise SflauditError(f"cannot open lock file {self.path}: folder {self.path.parent} does not exist")
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise SflauditError(f"cannot open lock file {self.path}: {exc.strerror or exc}") from None

    def _lock(self, fd: int, wait: float | None, poll: float) -> bool:
        if wait is None:
            self._flock(fd, fcntl.LOCK_EX)
            return True
        deadline = time.monotonic() + wait
        while True:
            if self._flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(poll, left))

    def _flock(self, fd: int, op: int) -> bool:
        try:
            fcntl.flock(fd, op)
        except OSError as exc:
            if exc.errno in _BUSY and op & fcntl.LOCK_NB:
                return False
            raise SflauditError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        return True


def _write_holder(fd: int, path: Path) -> None:
    """Replace the file's content with this process's holder record (called while holding the lock)."""
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": datetime.now().astimezone().isoformat(timespec="seconds")}
    data = (json.dumps(record) + "\n").encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)  # unbuffered: readers of the file see it at once
    except OSError as exc:
        raise SflauditError(f"cannot write the holder record into {path}: {exc.strerror or exc}") from None
