"""``skillpass sync``: the municipal data platform's reference client, mirroring every change feed.

Each feed is followed from the cursor the target stored with its last commit; a page of events
and the cursor after it are committed together, so a kill at any moment neither loses nor repeats
an event. A 410 (the cursor is older than the service keeps) re-lists the feed from the start of
the history the service still has; rows already mirrored are kept and not written twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from .apiclient import ApiClient, FeedGone, FeedSpec
from .mirror import Mirror, _instant

log = logging.getLogger("skillpass.sync")


@dataclass
class FeedProgress:
    name: str
    mirrored: int = 0
    pages: int = 0
    relists: int = 0
    lag_s: float = 0.0
    caught_up: bool = False
    cursor: str | None = None
    _recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=50))

    def record(self, count: int, last_occurred_at: Any, full_page: bool) -> None:
        self.mirrored += count
        self.pages += 1
        self._recent.append((time.monotonic(), count))
        if count and full_page:
            self.lag_s = max(0.0, (datetime.now(UTC) - _instant(last_occurred_at)).total_seconds())
        else:
            self.lag_s = 0.0
        self.caught_up = not full_page

    @property
    def rate(self) -> float:
        """Events per second over the last pages (10 s window)."""
        now = time.monotonic()
        recent = [(t, n) for t, n in self._recent if now - t <= 10]
        if not recent:
            return 0.0
        span = max(now - recent[0][0], 1.0)
        return sum(n for _, n in recent) / span


@dataclass
class SyncOptions:
    once: bool = True
    page_size: int = 500
    poll_interval_s: float = 1.0


async def follow_feed(
    client: ApiClient, mirror: Mirror, feed: FeedSpec, progress: FeedProgress, options: SyncOptions
) -> None:
    cursor = await mirror.cursor(feed.name)
    while True:
        try:
            events, next_cursor = await client.events(feed, cursor, options.page_size)
        except FeedGone:
            if cursor is None:
                raise  # the start of the history cannot be gone: a broken server, not a pruned cursor
            log.warning("feed %s: cursor %s is past the kept history (410); re-listing", feed.name, cursor)
            await mirror.relisted(feed.name)
            progress.relists += 1
            cursor = None
            continue
        full = len(events) >= options.page_size
        if events or next_cursor != cursor:
            written = await mirror.commit(feed.name, events, next_cursor)
            cursor = next_cursor
            progress.record(written, events[-1]["occurred_at"] if events else None, full)
        else:
            progress.record(0, None, False)
        progress.cursor = cursor
        if not full:
            if options.once:
                return
            await asyncio.sleep(options.poll_interval_s)


def human_lag(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def progress_table(progress: list[FeedProgress], client: ApiClient) -> Table:
    table = Table(
        title="skillpass sync", caption=f"tokens fetched: {client.tokens_fetched}, backoffs: {len(client.waits)}"
    )
    for column in ("feed", "mirrored", "events/s", "lag", "re-lists", "cursor"):
        table.add_column(column, justify="left" if column in ("feed", "cursor") else "right")
    for p in progress:
        lag = "caught up" if p.caught_up else human_lag(p.lag_s)
        table.add_row(p.name, str(p.mirrored), f"{p.rate:.0f}", lag, str(p.relists), p.cursor or "-")
    return table


async def run_sync(
    client: ApiClient,
    mirror: Mirror,
    feeds: list[FeedSpec],
    options: SyncOptions,
    *,
    console: Console | None = None,
) -> list[FeedProgress]:
    """Follows every feed concurrently; ``--once`` returns when each is caught up."""
    console = console or Console(stderr=True)
    progress = [FeedProgress(f.name) for f in feeds]
    await mirror.open([f.name for f in feeds])
    try:
        tasks = [follow_feed(client, mirror, f, p, options) for f, p in zip(feeds, progress, strict=True)]
        if console.is_terminal:
            with Live(progress_table(progress, client), console=console, refresh_per_second=2) as live:
                refresher = asyncio.create_task(_refresh(live, progress, client))
                try:
                    await asyncio.gather(*tasks)
                finally:
                    refresher.cancel()
                live.update(progress_table(progress, client))
        else:  # a daemon's log: one line a minute while following, the table at the end
            reporter = asyncio.create_task(_report(progress)) if not options.once else None
            try:
                await asyncio.gather(*tasks)
            finally:
                if reporter is not None:
                    reporter.cancel()
            console.print(progress_table(progress, client))
    finally:
        await mirror.close()
    return progress


async def _report(progress: list[FeedProgress], every_s: float = 60.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        log.info(
            "sync: %s",
            ", ".join(
                f"{p.name} {p.mirrored} mirrored, {'caught up' if p.caught_up else human_lag(p.lag_s)}"
                for p in progress
            ),
        )


async def _refresh(live: Live, progress: list[FeedProgress], client: ApiClient) -> None:
    while True:
        await asyncio.sleep(0.5)
        live.update(progress_table(progress, client))
