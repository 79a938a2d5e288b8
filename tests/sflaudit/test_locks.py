"""RunLock: one writer per lock file across processes and within one; a killed holder's lock is free at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from sflaudit.errors import SflauditError
from sflaudit.locks import RunLock

ROOT = Path(__file__).resolve().parents[2]

# Takes the lock, says "held", releases on the first stdin line and says "released", exits on the second.
HOLDER = """
import sys
from sflaudit.locks import RunLock
lock = RunLock(sys.argv[1])
assert lock.acquire(wait=0)
print("held", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
sys.stdin.readline()
"""


class Holder:
    """Another Python process holding a RunLock on ``path``."""

    def __init__(self, path: Path) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self._line() == "held"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self._line() == "released"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            stream.close()

    def _line(self) -> str:
        return self.proc.stdout.readline().strip()


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "run" / ".lock"


@pytest.fixture
def holder(lock_path: Path) -> Iterator[Holder]:
    lock_path.parent.mkdir()
    h = Holder(lock_path)
    yield h
    h.close()


def release_after(lock: RunLock, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), lock.release()))
    thread.start()
    return thread


def test_acquire__another_process_is_refused_while_held_and_gets_it_after_release(holder: Holder,
                                                                                  lock_path: Path) -> None:
    lock = RunLock(lock_path)
    assert lock.acquire() is False and not lock.locked
    holder.release()
    assert lock.acquire() is True and lock.locked
    lock.release()


def test_acquire__two_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    first, second = RunLock(tmp_path / ".lock"), RunLock(tmp_path / ".lock")
    assert first.acquire() and not second.acquire()
    first.release()
    assert second.acquire() and not first.acquire()
    second.release()


def test_acquire__is_not_reentrant(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / ".lock")
    assert lock.acquire()
    with pytest.raises(RuntimeError, match="not reentrant"):
        lock.acquire()
    lock.release()
    lock.release()                                                    # releasing a free lock is a no-op


def test_acquire__a_killed_holder_leaves_the_file_but_the_lock_is_free_at_once(holder: Holder,
                                                                               lock_path: Path) -> None:
    dead = holder.pid
    holder.kill()
    assert lock_path.is_file() and RunLock.holder(lock_path)["pid"] == dead   # stale record stays behind
    lock = RunLock(lock_path)
    assert lock.acquire(wait=0)                                       # one try, no waiting: free at once
    assert RunLock.holder(lock_path)["pid"] == os.getpid()            # the new holder overwrote it
    lock.release()


def test_holder__names_the_holding_process_and_is_cleared_on_release(holder: Holder, lock_path: Path) -> None:
    record = RunLock.holder(lock_path)
    assert record["pid"] == holder.pid and record["host"] == socket.gethostname()
    assert abs(datetime.fromisoformat(record["since"]).timestamp() - time.time()) < 60
    assert json.loads(lock_path.read_text()) == record                # plain JSON in the lock file
    holder.release()
    assert lock_path.read_text() == "" and RunLock.holder(lock_path) is None


def test_holder__missing_file_is_none(tmp_path: Path) -> None:
    assert RunLock.holder(tmp_path / ".lock") is None


def test_acquire__wait_gives_up_after_about_that_long(tmp_path: Path) -> None:
    other = RunLock(tmp_path / ".lock")
    assert other.acquire()
    t0 = time.monotonic()
    assert RunLock(tmp_path / ".lock").acquire(wait=0.5) is False
    assert 0.5 <= time.monotonic() - t0 < 0.5 + 0.5              # one poll past the deadline at most, + slack
    other.release()


def test_acquire__wait_returns_soon_after_the_other_releases(tmp_path: Path) -> None:
    other = RunLock(tmp_path / ".lock")
    assert other.acquire()
    t0 = time.monotonic()
    thread = release_after(other, 0.3)
    lock = RunLock(tmp_path / ".lock")
    assert lock.acquire(wait=5) is True
    assert 0.3 <= time.monotonic() - t0 < 0.3 + 0.2 + 0.3           # release + one poll interval + slack
    thread.join()
    lock.release()


def test_acquire__wait_none_blocks_until_the_other_releases(tmp_path: Path) -> None:
    other = RunLock(tmp_path / ".lock")
    assert other.acquire()
    t0 = time.monotonic()
    thread = release_after(other, 0.3)
    lock = RunLock(tmp_path / ".lock")
    assert lock.acquire(wait=None) is True
    assert 0.3 <= time.monotonic() - t0 < 0.3 + 0.3                 # woken by the kernel, no polling
    thread.join()
    lock.release()


def test_acquire__negative_wait_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="wait = -1"):
        RunLock(tmp_path / ".lock").acquire(wait=-1)


def test_enter__refusal_is_one_line_naming_the_pid(holder: Holder, lock_path: Path) -> None:
    with pytest.raises(SflauditError) as info:
        with RunLock(lock_path, what="run folder x"):
            pytest.fail("entered a held lock")
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"run folder x is in use by pid {holder.pid} on {socket.gethostname()} since ")
    assert message.endswith("; wait for it or stop it")


def test_enter__holds_inside_and_releases_on_exit(tmp_path: Path) -> None:
    with RunLock(tmp_path / ".lock") as lock:
        assert lock.locked and not RunLock(tmp_path / ".lock").acquire()
    assert not lock.locked and RunLock(tmp_path / ".lock").acquire()


def test_held__raises_after_waiting_when_busy_so_the_body_never_runs_unlocked(holder: Holder,
                                                                              lock_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(SflauditError) as info:
        with RunLock(lock_path).held(wait=0.3):
            pytest.fail("entered a held lock")
    assert time.monotonic() - t0 >= 0.3
    assert str(info.value) == f"{lock_path} is in use by pid {holder.pid} on {socket.gethostname()} since " \
                              f"{RunLock.holder(lock_path)['since']} (waited 0.3 s); wait for it or stop it"


def test_held__holds_inside_and_releases_on_exit_even_on_error(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / ".lock")
    with pytest.raises(KeyError):
        with lock.held(wait=None) as inside:
            assert inside is lock and lock.locked and not RunLock(tmp_path / ".lock").acquire()
            raise KeyError("body failed")
    assert not lock.locked and RunLock(tmp_path / ".lock").acquire()


def test_open__missing_folder_is_an_error_unless_make_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / ".lock"
    with pytest.raises(SflauditError, match=r"folder .*b does not exist"):
        RunLock(path).acquire()
    assert not path.parent.exists()
    lock = RunLock(path, make_parents=True)
    assert lock.acquire() and path.is_file()
    lock.release()


def test_open__os_error_is_a_one_line_sflaudit_error(tmp_path: Path) -> None:
    (tmp_path / ".lock").mkdir()                                      # a folder where the lock file should be
    with pytest.raises(SflauditError, match=r"cannot open lock file .*\.lock: Is a directory"):
        RunLock(tmp_path / ".lock").acquire()


def test_release__in_a_forked_child_does_not_unlock_the_parent(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / ".lock")
    assert lock.acquire()
    pid = os.fork()
    if pid == 0:                                                      # child: inherited the held lock
        try:
            lock.release()
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert lock.locked and not RunLock(tmp_path / ".lock").acquire()
    assert RunLock.holder(tmp_path / ".lock")["pid"] == os.getpid()  # the child did not clear the record
    lock.release()
