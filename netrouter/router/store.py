"""Durable placements and their event log in SQLite (WAL, synchronous=FULL).

Every write is one transaction of :class:`Change` records: the placement rows change and
each change appends a numbered event holding the placement as it became. A call returns
only after the transaction is committed, so what the router acknowledges survives a crash,
and a failed write leaves nothing behind (SQLite rolls the whole transaction back).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netrouter.client.convert import placement_from_pb, placement_to_pb
from netrouter.client.errors import AlreadyExistsError, NotFoundError, UnavailableError
from netrouter.client.types import (
    ACTIVE,
    EVICTED,
    FAILED,
    MOVED,
    PLACED,
    PREEMPTED,
    QUEUED,
    RELEASED,
    REQUEUED,
    STARTED,
    Placement,
    PlacementEvent,
)
from netrouter.router.storelock import StoreLock
from netrouter.v1 import router_pb2 as pb

PLACEMENTS_TABLE = """
CREATE TABLE {name} (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    placement_id TEXT NOT NULL UNIQUE,
    workload_id  TEXT NOT NULL,
    site_id      TEXT NOT NULL,
    model        TEXT NOT NULL,
    devices      INTEGER NOT NULL CHECK (devices >= 0),
    state        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    released_at  REAL,
    record       BLOB NOT NULL
)"""
"""The placements table, ``{name}`` its name (with ``IF NOT EXISTS`` where it is made)."""

SCHEMA = (
    PLACEMENTS_TABLE.format(name="IF NOT EXISTS placements")
    + """;
CREATE UNIQUE INDEX IF NOT EXISTS one_active_per_workload
    ON placements (workload_id) WHERE state = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS one_queued_per_workload
    ON placements (workload_id) WHERE state = 'queued';
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
)

REMOVED_SITES = """
CREATE TABLE IF NOT EXISTS removed_sites (
    site_id          TEXT PRIMARY KEY,
    report_timestamp REAL NOT NULL,
    removed_at       REAL NOT NULL
);
"""
"""Sites an operator removed, with their last report's timestamp: only a newer report
brings one back."""

DRAINED_SITES = """
CREATE TABLE IF NOT EXISTS drained_sites (
    site_id    TEXT PRIMARY KEY,
    drained_at REAL NOT NULL,
    reason     TEXT NOT NULL DEFAULT ''
);
"""
"""Sites an operator drained (no new work until undrained), with when and why."""

EVENT_COLUMNS = {"record": "BLOB", "reason": "TEXT NOT NULL DEFAULT ''"}
"""Event columns added after the first schema; old files gain them on open."""

BEFORE_QUEUE = "CHECK (devices > 0)"
"""How a placements table written before the queue constrained devices: queued work holds
none, so such a table is rebuilt on open (in one transaction) without it."""

PRIOR_STATES = {
    QUEUED: (),
    PLACED: (),
    STARTED: (QUEUED,),
    RELEASED: (ACTIVE, QUEUED),
    REQUEUED: (ACTIVE,),
    MOVED: (ACTIVE,),
    EVICTED: (ACTIVE,),
    PREEMPTED: (ACTIVE,),
    FAILED: (QUEUED, ACTIVE),
}
"""Per change kind, the states the placement may be in before it (none: a new row)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One change to commit: ``placement`` as it becomes (its new site, state, costs).

    ``kind`` is ``placed`` (a new active placement), ``queued`` (new work waiting for
    capacity), ``started`` (queued work now active), ``moved`` (an active one on a new
    site), ``requeued`` (active work waiting again), ``released`` (active or queued work
    ended by its owner) or ``evicted`` (no longer active).
    """

    kind: str
    placement: Placement
    from_site_id: str = ""
    reason: str = ""


class PlacementStore:
    """Placements and events in one SQLite file; safe to call from several threads.

    The store is this process's alone while open (:class:`~netrouter.router.storelock.StoreLock`):
    opening a store another process holds raises
    :class:`~netrouter.client.errors.StoreLockedError` before the file is touched.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = str(path)
        self._owner = StoreLock(self.path)
        self._owner.acquire()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            self._rebuild_before_queue()
            self._db.executescript(SCHEMA)
            self._db.executescript(REMOVED_SITES)
            self._db.executescript(DRAINED_SITES)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
            for column, kind in EVENT_COLUMNS.items():
                if column not in have:
                    self._db.execute(f"ALTER TABLE events ADD COLUMN {column} {kind}")
        except sqlite3.Error as exc:
            self._owner.release()
            raise UnavailableError(f"placement store {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database file and free it for another process."""
        with self._lock:
            self._db.close()
            self._owner.release()

    def _rebuild_before_queue(self) -> None:
        """Rebuild a placements table that requires devices > 0 (see
        :data:`BEFORE_QUEUE`), every row kept, in one transaction."""
        rows = self._db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'placements'"
        ).fetchall()
        if not rows or BEFORE_QUEUE not in rows[0][0]:
            return
        columns = (
            "seq, placement_id, workload_id, site_id, model, devices, state, created_at,"
            " released_at, record"
        )
        self._db.executescript(
            "BEGIN IMMEDIATE;"
            f"{PLACEMENTS_TABLE.format(name='placements_new')};"
            f"INSERT INTO placements_new ({columns}) SELECT {columns} FROM placements;"
            "DROP TABLE placements;"
            "ALTER TABLE placements_new RENAME TO placements;"
            "COMMIT;"
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                yield cur
                cur.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                self._rollback()
                raise AlreadyExistsError(f"placement store {self.path}: {exc}") from exc
            except sqlite3.Error as exc:
                self._rollback()
                raise UnavailableError(f"placement store {self.path}: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # If even the rollback fails (the disk is gone), SQLite discards the open
        # transaction's pages when the file is next opened: nothing half-written stays.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.rollback()

    # --- writing -----------------------------------------------------------------------

    def remove_site(self, site_id: str, report_timestamp: float, at: float) -> None:
        """Record that ``site_id`` was removed after its report stamped ``report_timestamp``."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO removed_sites (site_id, report_timestamp, removed_at) "
                "VALUES (?, ?, ?) ON CONFLICT (site_id) DO UPDATE SET "
                "report_timestamp = excluded.report_timestamp, removed_at = excluded.removed_at",
                (site_id, report_timestamp, at),
            )

    def removed_sites(self) -> list[tuple[str, float]]:
        """(site id, last report timestamp) of every site removed by an operator."""
        with self._lock:
            rows = self._db.execute(
                "SELECT site_id, report_timestamp FROM removed_sites ORDER BY site_id"
            ).fetchall()
        return [(str(site), float(stamp)) for site, stamp in rows]

    def drain_site(self, site_id: str, at: float, reason: str) -> None:
        """Record that ``site_id`` is drained (a drained one keeps its first record)."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO drained_sites (site_id, drained_at, reason) VALUES (?, ?, ?)"
                " ON CONFLICT (site_id) DO NOTHING",
                (site_id, at, reason),
            )

    def undrain_site(self, site_id: str) -> None:
        """Forget that ``site_id`` is drained."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM drained_sites WHERE site_id = ?", (site_id,))

    def drained_sites(self) -> list[tuple[str, float, str]]:
        """(site id, when drained, why) of every drained site."""
        with self._lock:
            rows = self._db.execute(
                "SELECT site_id, drained_at, reason FROM drained_sites ORDER BY site_id"
            ).fetchall()
        return [(str(site), float(at), str(reason)) for site, at, reason in rows]

    def commit(self, changes: Sequence[Change], at: float | None = None) -> list[PlacementEvent]:
        """Apply every change in one transaction (all or none); return their events.

        A ``placed`` change of a workload that is already active, or a change to a
        placement that is not active, fails the whole transaction.
        """
        at = time.time() if at is None else at
        events: list[PlacementEvent] = []
        with self._transaction() as cur:
            for change in changes:
                p = replace(change.placement, updated_at=at)
                record = placement_to_pb(p).SerializeToString()
                prior = PRIOR_STATES[change.kind]
                if not prior:
                    cur.execute(
                        "INSERT INTO placements (placement_id, workload_id, site_id, model,"
                        " devices, state, created_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            p.placement_id,
                            p.workload.id,
                            p.site_id,
                            p.accelerator_model,
                            p.devices,
                            p.state,
                            p.created_at,
                            record,
                        ),
                    )
                else:
                    states = ", ".join(f"'{state}'" for state in prior)
                    cur.execute(
                        "UPDATE placements SET site_id = ?, model = ?, devices = ?, state = ?,"
                        " released_at = ?, record = ?"
                        f" WHERE placement_id = ? AND state IN ({states})",
                        (
                            p.site_id,
                            p.accelerator_model,
                            p.devices,
                            p.state,
                            None if p.state in (ACTIVE, QUEUED) else at,
                            record,
                            p.placement_id,
                        ),
                    )
                    if cur.rowcount != 1:
                        raise NotFoundError(
                            f"placement {p.placement_id!r} is not {' or '.join(prior)}"
                        )
                cur.execute(
                    "INSERT INTO events (kind, placement_id, site_id, from_site_id, at, record,"
                    " reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        change.kind,
                        p.placement_id,
                        p.site_id,
                        change.from_site_id or None,
                        at,
                        record,
                        change.reason,
                    ),
                )
                event_id = cur.lastrowid
                assert event_id is not None
                events.append(
                    PlacementEvent(
                        event_id=event_id,
                        kind=change.kind,
                        placement=p,
                        from_site_id=change.from_site_id,
                        at=at,
                        reason=change.reason,
                    )
                )
        return events

    def add(self, placements: Sequence[Placement]) -> list[PlacementEvent]:
        """Commit new active placements (all or none) with a ``placed`` event each."""
        return self.commit([Change(kind=PLACED, placement=p) for p in placements])

    def release(self, placement_ids: Sequence[str], reason: str = "") -> list[Placement]:
        """Mark active placements released (all or none); unknown or inactive ids fail."""
        changes = []
        for pid in placement_ids:
            p = self.get(pid)
            if p.state != ACTIVE:
                raise NotFoundError(f"placement {pid!r} is not active")
            changes.append(
                Change(kind=RELEASED, placement=replace(p, state=RELEASED, end_reason=reason))
            )
        return [e.placement for e in self.commit(changes)]

    # --- reading -----------------------------------------------------------------------

    def get(self, placement_id: str) -> Placement:
        """One placement by id, whatever its state."""
        rows = self._query("SELECT record FROM placements WHERE placement_id = ?", (placement_id,))
        if not rows:
            raise NotFoundError(f"placement {placement_id!r} not found")
        return _decode(rows[0][0])

    def with_prefix(self, prefix: str, limit: int) -> tuple[list[Placement], int]:
        """The first ``limit`` placements (any state, by id) whose id starts with
        ``prefix``, and how many there are in all (a range scan of the id index)."""
        where = "placement_id >= ?"
        args: tuple[object, ...] = (prefix,)
        if prefix and ord(prefix[-1]) < 0x10FFFF:
            where += " AND placement_id < ?"
            args = (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))
        rows = self._query(
            f"SELECT placement_id, record FROM placements WHERE {where}"
            " ORDER BY placement_id LIMIT ?",
            (*args, limit),
        )
        found = [_decode(blob) for pid, blob in rows if pid.startswith(prefix)]
        if len(found) < limit:
            return found, len(found)
        (count,) = self._query(f"SELECT COUNT(*) FROM placements WHERE {where}", args)[0]
        return found, int(count)

    def active(self) -> list[Placement]:
        """Every active placement, in commit order."""
        rows = self._query("SELECT record FROM placements WHERE state = 'active' ORDER BY seq", ())
        return [_decode(r[0]) for r in rows]

    def queued(self) -> list[Placement]:
        """Every queued workload, in commit order."""
        rows = self._query("SELECT record FROM placements WHERE state = 'queued' ORDER BY seq", ())
        return [_decode(r[0]) for r in rows]

    def page(
        self,
        *,
        site_id: str = "",
        state: str = ACTIVE,
        limit: int = 100,
        after_seq: int = 0,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[list[Placement], int | None]:
        """A page of placements in commit order, and the cursor of the next page if any.

        ``labels`` keeps placements whose workload carries every given label; rows are read
        in chunks until the page is full, so a page costs what it scans.
        """
        found: list[Placement] = []
        cursor = after_seq
        chunk = max(limit + 1, 256) if labels else limit + 1
        while True:
            sql = "SELECT seq, record FROM placements WHERE seq > ?"
            args: list[object] = [cursor]
            if site_id:
                sql += " AND site_id = ?"
                args.append(site_id)
            if state != "all":
                sql += " AND state = ?"
                args.append(state)
            sql += " ORDER BY seq LIMIT ?"
            args.append(chunk)
            rows = self._query(sql, tuple(args))
            for seq, blob in rows:
                p = _decode(blob)
                if labels and any(p.workload.labels.get(k) != v for k, v in labels.items()):
                    cursor = seq
                    continue
                if len(found) == limit:
                    return found, cursor
                found.append(p)
                cursor = seq
            if len(rows) < chunk:
                return found, None

    def usage(self) -> dict[tuple[str, str], int]:
        """Devices held by active placements, per (site, model)."""
        rows = self._query(
            "SELECT site_id, model, SUM(devices) FROM placements WHERE state = 'active'"
            " GROUP BY site_id, model",
            (),
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def events_after(self, event_id: int, limit: int = 1000) -> list[PlacementEvent]:
        """Up to ``limit`` events after ``event_id``, in order."""
        rows = self._query(
            "SELECT event_id, kind, from_site_id, at, record, reason, placement_id FROM events"
            " WHERE event_id > ? ORDER BY event_id LIMIT ?",
            (event_id, limit),
        )
        events = []
        for eid, kind, from_site, at, blob, reason, pid in rows:
            # Events written before records were kept carry the placement as it is now.
            placement = _decode(blob) if blob is not None else self.get(pid)
            events.append(
                PlacementEvent(
                    event_id=eid,
                    kind=kind,
                    placement=placement,
                    from_site_id=from_site or "",
                    at=at,
                    reason=reason or "",
                )
            )
        return events

    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none)."""
        rows = self._query("SELECT MAX(event_id) FROM events", ())
        return int(rows[0][0] or 0)

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
