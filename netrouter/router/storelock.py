"""One router per placement store: an exclusive OS lock on a file beside the database.

A second router on the same SQLite file would book devices the first one has already
booked, since each keeps its own view of what is placed. ``flock`` locks belong to the open
file, and the kernel drops them when the holder exits however it exits, so a restart after
``kill -9`` finds the store free with nothing to clean up. The holder writes its pid and
host into the lock file, so a refused second router can say who holds the store. The file
stays when the holder stops: removing it would let two routers lock two different files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path

from netrouter.client.errors import StoreLockedError, UnavailableError

LOCK_SUFFIX = ".lock"


def lock_path_for(db_path: str | Path) -> str:
    """The lock file of the store at ``db_path``: ``netrouter.db`` → ``netrouter.db.lock``."""
    return f"{db_path}{LOCK_SUFFIX}"


class StoreLock:
    """An exclusive, non-blocking lock on the store at ``db_path`` for this process.

    :meth:`acquire` raises :class:`~netrouter.client.errors.StoreLockedError` naming the holder if
    another process (or another lock in this one) holds it; :meth:`release` or the process's
    end frees it. ``with StoreLock(path):`` does both.
    """

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = str(db_path)
        self.lock_path = lock_path_for(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this lock holds the store now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the store or raise :class:`StoreLockedError` at once (it never waits)."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise UnavailableError(
                f"placement store {self.db_path}: cannot open its lock file "
                f"{self.lock_path}: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, host = _read_holder(fd)
            os.close(fd)
            raise StoreLockedError(self.db_path, self.lock_path, pid=pid, host=host) from None
        except OSError as exc:  # a file system without locks (ENOLCK)
            os.close(fd)
            raise UnavailableError(
                f"placement store {self.db_path}: cannot lock {self.lock_path}: {exc.strerror}"
            ) from exc
        holder = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n"
        # Who holds it is only for the message a second router prints: a full disk must not
        # stop this one.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Free the store (closing the file drops the lock); a no-op when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> tuple[int | None, str]:
    """The pid and host the holder wrote, or ``(None, "")`` if it has not (yet)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0))
        pid, host = record["pid"], record["host"]
    except (OSError, ValueError, TypeError, KeyError):
        return None, ""
    if not isinstance(pid, int) or not isinstance(host, str):
        return None, ""
    return pid, host
