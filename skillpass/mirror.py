"""Where ``skillpass sync`` writes: a PostgreSQL database or a directory of JSON-lines files.

Both keep the cursor and the rows together, so a process killed at any moment resumes exactly
where its last commit ended: PostgreSQL stores the cursor in the same transaction as the rows;
the file target appends and fsyncs the rows, then replaces the cursor file atomically (write,
fsync, rename, fsync the directory). The cursor file also records the data file's committed
length, and opening the target cuts anything written after it (a write the kill interrupted),
so those events are fetched again, once.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,50}$")


def checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"feed name {name!r} must be lowercase letters, digits and _")
    return name


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def event_digest(event: dict[str, Any]) -> bytes:
    """A stable digest of one event, the same from the feed, a JSON line or a database row."""
    canonical = json.dumps(
        [int(event["id"]), event["type"], _instant(event["occurred_at"]).isoformat(), event["subject"], event["data"]],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).digest()


@dataclass
class DayStats:
    count: int = 0
    _acc: int = 0

    def add(self, event: dict[str, Any]) -> None:
        # Sum of digests modulo 2^256: independent of order, so mirror and feed agree however read.
        self.count += 1
        self._acc = (self._acc + int.from_bytes(event_digest(event), "big")) % (1 << 256)

    @property
    def checksum(self) -> str:
        return f"{self._acc:064x}"[:16]


def day_of(event: dict[str, Any]) -> date:
    return _instant(event["occurred_at"]).date()


class Mirror(Protocol):
    async def open(self, feeds: list[str], *, writer: bool = True) -> None: ...
    async def cursor(self, feed: str) -> str | None: ...
    async def commit(self, feed: str, events: list[dict[str, Any]], next_cursor: str | None) -> int: ...
    async def relisted(self, feed: str) -> None: ...
    async def events(self, feed: str) -> list[dict[str, Any]]: ...
    async def close(self) -> None: ...


class FileMirror:
    """``file://dir``: ``<feed>.jsonl`` (one event a line) and ``<feed>.cursor.json``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._state: dict[str, dict[str, Any]] = {}
        self._known: dict[str, set[int]] = {}
        self._lock_fd: int | None = None

    def _data(self, feed: str) -> Path:
        return self.dir / f"{feed}.jsonl"

    def _cursor_path(self, feed: str) -> Path:
        return self.dir / f"{feed}.cursor.json"

    async def open(self, feeds: list[str], *, writer: bool = True) -> None:
        """A writer waits for any other writer on the directory to stop (a lock file), then cuts off
        what the last one wrote after its last cursor commit; a reader (reconcile) does neither and
        sees only what was committed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if writer:
            self._lock_fd = os.open(self.dir / ".sync.lock", os.O_CREAT | os.O_RDWR, 0o600)
            await asyncio.to_thread(fcntl.flock, self._lock_fd, fcntl.LOCK_EX)
        for feed in map(checked_name, feeds):
            path = self._cursor_path(feed)
            state = json.loads(path.read_text()) if path.exists() else {"cursor": None, "offset": 0, "relists": 0}
            data = self._data(feed)
            if writer and data.exists() and data.stat().st_size != state["offset"]:
                # A write after the last cursor commit (the process died between the two): cut it off.
                with data.open("r+b") as fh:
                    fh.truncate(state["offset"])
                    os.fsync(fh.fileno())
            self._state[feed] = state
            if state.get("relists"):
                self._known[feed] = {int(e["id"]) for e in await self.events(feed)}

    async def cursor(self, feed: str) -> str | None:
        value = self._state[feed]["cursor"]
        return str(value) if value is not None else None

    async def commit(self, feed: str, events: list[dict[str, Any]], next_cursor: str | None) -> int:
        known = self._known.get(feed)
        if known is not None:  # after a re-list the start of the history may be here already
            events = [e for e in events if int(e["id"]) not in known]
            known.update(int(e["id"]) for e in events)
        state = dict(self._state[feed])
        if events:
            payload = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events).encode()
            with self._data(feed).open("ab") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            state["offset"] += len(payload)
        state["cursor"] = next_cursor
        self._write_state(feed, state)
        return len(events)

    def _write_state(self, feed: str, state: dict[str, Any]) -> None:
        path = self._cursor_path(feed)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._state[feed] = state

    async def relisted(self, feed: str) -> None:
        self._known[feed] = {int(e["id"]) for e in await self.events(feed)}
        self._write_state(feed, {**self._state[feed], "cursor": None, "relists": self._state[feed]["relists"] + 1})

    async def events(self, feed: str) -> list[dict[str, Any]]:
        data = self._data(feed)
        if not data.exists():
            return []
        with data.open("rb") as fh:
            raw = fh.read(self._state[feed]["offset"] if feed in self._state else -1)
        return [json.loads(line) for line in raw.splitlines() if line]

    async def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None


class PostgresMirror:
    """``postgresql://…[?schema=name]``: a table ``events_<feed>`` per feed and ``sync_cursors``."""

    def __init__(self, dsn: str, schema: str = "skillpass_mirror") -> None:
        self.dsn, self.schema = dsn, checked_name(schema)
        self._conn: asyncpg.Connection | None = None
        # One connection, several feeds: their transactions take turns.
        self._lock = asyncio.Lock()

    @property
    def conn(self) -> asyncpg.Connection:
        assert self._conn is not None, "open() first"
        return self._conn

    def table(self, feed: str) -> str:
        return f'"{self.schema}"."events_{checked_name(feed)}"'

    async def open(self, feeds: list[str], *, writer: bool = True) -> None:
        """A writer holds a session lock on the schema for its lifetime: a second one waits (a
        killed one's lock goes with its connection). A reader (reconcile) takes no lock."""
        self._conn = await asyncpg.connect(self.dsn)
        if writer:
            await self.conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"skillpass-sync-writer:{self.schema}")
        async with self.conn.transaction():
            await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"skillpass-sync:{self.schema}")
            await self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await self.conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.schema}".sync_cursors ('
                "feed text PRIMARY KEY, cursor text, relists integer NOT NULL DEFAULT 0, "
                "updated_at timestamptz NOT NULL DEFAULT now())"
            )
            for feed in feeds:
                await self.conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table(feed)} ("
                    "id bigint PRIMARY KEY, type text NOT NULL, occurred_at timestamptz NOT NULL, "
                    "subject text NOT NULL, data jsonb NOT NULL, mirrored_at timestamptz NOT NULL DEFAULT now())"
                )

    async def cursor(self, feed: str) -> str | None:
        async with self._lock:
            value = await self.conn.fetchval(f'SELECT cursor FROM "{self.schema}".sync_cursors WHERE feed = $1', feed)
        return str(value) if value is not None else None

    async def commit(self, feed: str, events: list[dict[str, Any]], next_cursor: str | None) -> int:
        async with self._lock, self.conn.transaction():
            inserted = 0
            if events:
                # ON CONFLICT only matters after a 410 re-list; a resumed cursor never repeats a row.
                status = await self.conn.execute(
                    f"INSERT INTO {self.table(feed)} (id, type, occurred_at, subject, data) "
                    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[]) "
                    "ON CONFLICT (id) DO NOTHING",
                    [int(e["id"]) for e in events],
                    [e["type"] for e in events],
                    [_instant(e["occurred_at"]) for e in events],
                    [e["subject"] for e in events],
                    [json.dumps(e["data"], ensure_ascii=False) for e in events],
                )
                inserted = int(status.split()[-1])
            await self.conn.execute(
                f'INSERT INTO "{self.schema}".sync_cursors (feed, cursor) VALUES ($1, $2) '
                "ON CONFLICT (feed) DO UPDATE SET cursor = excluded.cursor, updated_at = now()",
                feed,
                next_cursor,
            )
        return inserted

    async def relisted(self, feed: str) -> None:
        async with self._lock:
            await self.conn.execute(
                f'INSERT INTO "{self.schema}".sync_cursors (feed, cursor, relists) VALUES ($1, NULL, 1) '
                "ON CONFLICT (feed) DO UPDATE SET cursor = NULL, relists = sync_cursors.relists + 1, "
                "updated_at = now()",
                feed,
            )

    async def events(self, feed: str) -> list[dict[str, Any]]:
        async with self._lock:
            rows = await self.conn.fetch(
                f"SELECT id, type, occurred_at, subject, data::text AS data FROM {self.table(feed)} ORDER BY id"
            )
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def open_target(url: str) -> Mirror:
    """``file:///abs/dir``, ``file://rel/dir`` or ``postgresql://user:pw@host:port/db?schema=name``."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileMirror(Path(unquote(parts.netloc + parts.path)))
    if parts.scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        schema = parse_qs(parts.query).get("schema", ["skillpass_mirror"])[0]
        dsn = parts._replace(scheme="postgresql", query="").geturl()
        return PostgresMirror(dsn, schema)
    raise ValueError(f"target must be file://dir or postgresql://…, not {parts.scheme or url!r}")


def stats_by_day(events: list[dict[str, Any]]) -> dict[date, DayStats]:
    out: dict[date, DayStats] = defaultdict(DayStats)
    for event in events:
        out[day_of(event)].add(event)
    return dict(out)
