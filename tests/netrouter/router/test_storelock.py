"""One router per store: the exclusive lock on a file beside the SQLite database."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

import pytest

from netrouter.client.errors import StoreLockedError
from netrouter.router.store import PlacementStore
from netrouter.router.storelock import StoreLock, lock_path_for


def test_second_lock_is_refused_naming_file_pid_and_host(tmp_path: Path) -> None:
    """While the store is held, another lock fails at once, naming the file and the holder."""
    db = tmp_path / "router.db"
    with StoreLock(db), pytest.raises(StoreLockedError) as info:
        StoreLock(db).acquire()
    assert (info.value.pid, info.value.host) == (os.getpid(), socket.gethostname())
    assert info.value.path == str(db) and info.value.lock_path == f"{db}.lock"
    message = str(info.value)
    assert str(db) in message and f"pid {os.getpid()} on {socket.gethostname()}" in message


def test_holder_writes_itself_into_the_lock_file(tmp_path: Path) -> None:
    """The lock file beside the database names the holder's pid and host as JSON."""
    db = tmp_path / "router.db"
    with StoreLock(db) as lock:
        assert lock.held and lock_path_for(db) == f"{db}.lock"
        record = json.loads(Path(f"{db}.lock").read_text())
    assert record == {"pid": os.getpid(), "host": socket.gethostname()}


def test_released_lock_frees_the_store_and_clears_the_holder(tmp_path: Path) -> None:
    """After release the next lock takes the store; the file stays, empty, between holders."""
    db = tmp_path / "router.db"
    first = StoreLock(db)
    first.acquire()
    first.release()
    assert not first.held and Path(f"{db}.lock").read_text() == ""
    with StoreLock(db) as second:
        assert second.held


def test_holder_not_yet_written_is_another_process(tmp_path: Path) -> None:
    """A lock held by a process that has not written its pid yet is refused all the same."""
    db = tmp_path / "router.db"
    fd = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(StoreLockedError, match="in use by another process") as info:
            StoreLock(db).acquire()
        assert (info.value.pid, info.value.host) == (None, "")
    finally:
        os.close(fd)


def test_store_on_a_held_file_fails_before_opening_it(tmp_path: Path) -> None:
    """A second PlacementStore on the same path is refused before the database is created."""
    db = tmp_path / "router.db"
    with StoreLock(db), pytest.raises(StoreLockedError):
        PlacementStore(db)
    assert not db.exists()


def test_closing_the_store_frees_it(tmp_path: Path) -> None:
    """A store holds its file until closed; then another store opens it."""
    db = tmp_path / "router.db"
    store = PlacementStore(db)
    with pytest.raises(StoreLockedError):
        PlacementStore(db)
    store.close()
    PlacementStore(db).close()
