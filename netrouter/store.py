"""Durable placements and their event log in SQLite (WAL, synchronous=FULL).

Every write is one transaction; a call returns only after it is committed, so what the
router acknowledges survives a crash.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from netrouter.convert import placement_from_pb, placement_to_pb
from netrouter.errors import AlreadyExistsError, NotFoundError, UnavailableError
from netrouter.types import ACTIVE, RELEASED, Placement
from netrouter.v1 import router_pb2 as pb

SCHEMA = """
CREATE TABLE IF NOT EXISTS placements (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    placement_id TEXT NOT NULL UNIQUE,
    workload_id  TEXT NOT NULL,
    site_id      TEXT NOT NULL,
    model        TEXT NOT NULL,
    devices      INTEGER NOT NULL CHECK (devices > 0),
    state        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    released_at  REAL,
    record       BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_per_workload
    ON placements (workload_id) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS placements_by_site ON placements (site_id, state);
CREATE TABLE IF NOT EXISTS events (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    placement_id TEXT NOT NULL,
    site_id      TEXT NOT NULL,
    from_site_id TEXT,
    at           REAL NOT NULL
);
"""


class PlacementStore:
    """Placements and events in one SQLite file; safe to call from several threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise UnavailableError(f"placement store {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                yield cur
                cur.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                self._db.rollback()
                raise AlreadyExistsError(f"placement store {self.path}: {exc}") from exc
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.rollback()
                raise UnavailableError(f"placement store {self.path}: {exc}") from exc
            except BaseException:
                if self._db.in_transaction:
                    self._db.rollback()
                raise

    def add(self, placements: Sequence[Placement]) -> None:
        """Commit new active placements (all or none) with a ``placed`` event each."""
        with self._transaction() as cur:
            for p in placements:
                cur.execute(
                    "INSERT INTO placements (placement_id, workload_id, site_id, model, devices,"
                    " state, created_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        p.placement_id,
                        p.workload.id,
                        p.site_id,
                        p.accelerator_model,
                        p.devices,
                        p.state,
                        p.created_at,
                        placement_to_pb(p).SerializeToString(),
                    ),
                )
                cur.execute(
                    "INSERT INTO events (kind, placement_id, site_id, at) VALUES ('placed', ?, ?, ?)",
                    (p.placement_id, p.site_id, p.created_at),
                )

    def release(self, placement_ids: Sequence[str]) -> list[Placement]:
        """Mark active placements released (all or none); unknown or inactive ids fail."""
        now = time.time()
        released: list[Placement] = []
        with self._transaction() as cur:
            for pid in placement_ids:
                row = cur.execute(
                    "SELECT record FROM placements WHERE placement_id = ? AND state = 'active'",
                    (pid,),
                ).fetchone()
                if row is None:
                    raise NotFoundError(f"placement {pid!r} is not active")
                p = replace(_decode(row[0]), state=RELEASED)
                cur.execute(
                    "UPDATE placements SET state = ?, released_at = ?, record = ? WHERE placement_id = ?",
                    (RELEASED, now, placement_to_pb(p).SerializeToString(), pid),
                )
                cur.execute(
                    "INSERT INTO events (kind, placement_id, site_id, at) VALUES ('released', ?, ?, ?)",
                    (pid, p.site_id, now),
                )
                released.append(p)
        return released

    def get(self, placement_id: str) -> Placement:
        """One placement by id, whatever its state."""
        rows = self._query("SELECT record FROM placements WHERE placement_id = ?", (placement_id,))
        if not rows:
            raise NotFoundError(f"placement {placement_id!r} not found")
        return _decode(rows[0][0])

    def page(
        self, *, site_id: str = "", state: str = ACTIVE, limit: int = 100, after_seq: int = 0
    ) -> tuple[list[Placement], int | None]:
        """A page of placements in commit order, and the cursor of the next page if any."""
        sql = "SELECT seq, record FROM placements WHERE seq > ?"
        args: list[object] = [after_seq]
        if site_id:
            sql += " AND site_id = ?"
            args.append(site_id)
        if state != "all":
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit + 1)
        rows = self._query(sql, tuple(args))
        page = [_decode(r[1]) for r in rows[:limit]]
        return page, (rows[limit - 1][0] if len(rows) > limit else None)

    def usage(self) -> dict[tuple[str, str], int]:
        """Devices held by active placements, per (site, model)."""
        rows = self._query(
            "SELECT site_id, model, SUM(devices) FROM placements WHERE state = 'active'"
            " GROUP BY site_id, model",
            (),
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def active_workload_ids(self, workload_ids: Sequence[str]) -> set[str]:
        """Which of these workload ids already have an active placement."""
        found: set[str] = set()
        for start in range(0, len(workload_ids), 500):
            chunk = list(workload_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT workload_id FROM placements WHERE state = 'active' AND workload_id IN ({marks})",
                tuple(chunk),
            )
            found.update(r[0] for r in rows)
        return found

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise UnavailableError(f"placement store {self.path}: {exc}") from exc


def _decode(blob: bytes) -> Placement:
    message = pb.Placement()
    message.ParseFromString(blob)
    return placement_from_pb(message)
