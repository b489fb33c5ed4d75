"""``skillpass reconcile``: per feed and per day, the mirror's counts and checksum against the feed's.

The feed is read from the start of the history the service keeps up to the mirror's cursor (the
event the mirror committed last), so a reconcile while ``sync --follow`` runs compares like with
like. Mirror rows older than the service's kept history (pruned upstream) are not compared and
are reported as ``archived``. A day's checksum is the sum, modulo 2^256, of each event's SHA-256
over ``[id, type, occurred_at, subject, data]`` in canonical JSON: independent of order, so
the two sides may be read in any order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table

from .apiclient import ApiClient, FeedSpec
from .mirror import DayStats, Mirror, _instant, stats_by_day


@dataclass(frozen=True)
class DayRow:
    feed: str
    day: date
    feed_count: int
    mirror_count: int
    feed_checksum: str
    mirror_checksum: str

    @property
    def ok(self) -> bool:
        return self.feed_count == self.mirror_count and self.feed_checksum == self.mirror_checksum


@dataclass
class FeedReport:
    feed: str
    days: list[DayRow]
    archived: int
    duplicates: int

    @property
    def ok(self) -> bool:
        return self.duplicates == 0 and all(d.ok for d in self.days)


async def read_feed_until(client: ApiClient, feed: FeedSpec, stop_id: int | None, page: int) -> list[dict[str, Any]]:
    """The feed from the start of the kept history up to and including event ``stop_id``."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        events, next_cursor = await client.events(feed, cursor, page)
        for event in events:
            out.append(event)
            if stop_id is not None and int(event["id"]) == stop_id:
                return out
        if len(events) < page:
            return out
        cursor = next_cursor


async def reconcile_feed(client: ApiClient, mirror: Mirror, feed: FeedSpec, page: int = 500) -> FeedReport:
    cursor = await mirror.cursor(feed.name)
    stop_id = int(cursor.rpartition("-")[2]) if cursor else None
    upstream = await read_feed_until(client, feed, stop_id, page) if cursor else []
    mirrored = await mirror.events(feed.name)
    ids = [int(e["id"]) for e in mirrored]
    duplicates = len(ids) - len(set(ids))
    archived = 0
    if upstream:
        oldest = min(_instant(e["occurred_at"]) for e in upstream)
        kept = [e for e in mirrored if _instant(e["occurred_at"]) >= oldest]
        archived = len(mirrored) - len(kept)
        mirrored = kept
    a, b = stats_by_day(upstream), stats_by_day(mirrored)
    days = [
        DayRow(
            feed.name,
            day,
            a.get(day, DayStats()).count,
            b.get(day, DayStats()).count,
            a.get(day, DayStats()).checksum,
            b.get(day, DayStats()).checksum,
        )
        for day in sorted(set(a) | set(b))
    ]
    return FeedReport(feed.name, days, archived, duplicates)


async def run_reconcile(
    client: ApiClient, mirror: Mirror, feeds: list[FeedSpec], *, console: Console | None = None
) -> list[FeedReport]:
    await mirror.open([f.name for f in feeds], writer=False)
    try:
        reports = [await reconcile_feed(client, mirror, f) for f in feeds]
    finally:
        await mirror.close()
    (console or Console()).print(drift_table(reports))
    return reports


def drift_table(reports: list[FeedReport]) -> Table:
    table = Table(title="skillpass reconcile: mirror against feed")
    for column in ("feed", "day", "feed events", "mirror events", "feed checksum", "mirror checksum", "status"):
        table.add_column(column)
    for report in reports:
        if not report.days:
            table.add_row(report.feed, "-", "0", "0", "-", "-", "ok" if report.ok else "DRIFT")
        for d in report.days:
            status = "ok" if d.ok else "[bold red]DRIFT[/]"
            table.add_row(
                d.feed,
                d.day.isoformat(),
                str(d.feed_count),
                str(d.mirror_count),
                d.feed_checksum,
                d.mirror_checksum,
                status,
            )
        if report.duplicates:
            table.add_row(report.feed, "all", "", str(report.duplicates), "", "", "[bold red]DUPLICATES[/]")
        if report.archived:
            table.add_row(report.feed, "older", "", str(report.archived), "", "", "archived (pruned upstream)")
    return table
