"""The sync client's parts against a fake gateway (httpx.MockTransport): token refresh, backoff on
429/503 with Retry-After, a 410 re-list without duplicates, and reconcile finding drift."""

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from rich.console import Console

from skillpass.apiclient import ApiClient, FeedSpec, retry_after_s
from skillpass.mirror import FileMirror, open_target
from skillpass.reconcile import run_reconcile
from skillpass.sync import SyncOptions, run_sync

FEED = FeedSpec.parse("credit-bank")


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def ev(i: int, day: str = "2026-11-20") -> dict:
    return {
        "id": i,
        "type": "credit_bank.x.y",
        "occurred_at": f"{day}T08:00:00Z",
        "subject": f"s:{i}",
        "data": {"i": i},
    }


class FakeGateway:
    def __init__(self, events: list[dict], *, gone_before: str | None = None, ttl: int = 100) -> None:
        self.events, self.gone_before, self.ttl = events, gone_before, ttl
        self.tokens = 0
        self.calls: list[str] = []
        self.fail_next: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if request.url.path == "/auth/token":
            self.tokens += 1
            return httpx.Response(
                200, json={"access_token": f"t{self.tokens}", "token_type": "Bearer", "expires_in": self.ttl}
            )
        if self.fail_next:
            return self.fail_next.pop(0)
        assert request.headers["authorization"] == f"Bearer t{self.tokens}"
        after = request.url.params.get("after")
        if after and self.gone_before and after < self.gone_before:
            return httpx.Response(410, json={"status": 410})
        if not after and self.gone_before:  # the feed starts at its horizon, as the kit's does
            after = self.gone_before
        start = int(after.split("-")[1]) if after else 0
        limit = int(request.url.params["limit"])
        page = [e for e in self.events if e["id"] > start][:limit]
        nxt = f"{page[-1]['id']}-{page[-1]['id']}" if page else after
        return httpx.Response(200, json={"events": page, "next_cursor": nxt})


def client(fake: FakeGateway, **kw) -> ApiClient:
    waits: list[float] = []

    async def no_sleep(s: float) -> None:
        waits.append(s)

    return ApiClient("http://gw", "cid", "secret", transport=httpx.MockTransport(fake), sleep=no_sleep, **kw)


async def test_token_is_refreshed_before_it_expires():
    now = [0.0]
    fake = FakeGateway([ev(1)], ttl=100)
    api = client(fake, clock=lambda: now[0])
    assert await api.token() == "t1"
    now[0] = 79.0  # 100 s lifetime, refreshed with a fifth of it (20 s) left
    assert await api.token() == "t1"
    now[0] = 80.5
    assert await api.token() == "t2"
    assert fake.tokens == 2


async def test_429_and_503_are_retried_after_the_servers_retry_after():
    fake = FakeGateway([ev(1), ev(2)])
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake.fail_next = [
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(503, headers={"Retry-After": later}),
        httpx.Response(503),
    ]
    api = client(fake)
    events, cursor = await api.events(FEED, None, 10)
    assert [e["id"] for e in events] == [1, 2] and cursor == "2-2"
    assert api.waits[0] == 3.0 and 25 < api.waits[1] <= 30 and 0 <= api.waits[2] <= 2.0
    assert retry_after_s("garbage", 1.5) == 1.5


async def test_a_410_relists_from_the_kept_history_without_duplicates(tmp_path):
    mirror = FileMirror(tmp_path)
    await mirror.open(["credit_bank"])
    await mirror.commit("credit_bank", [ev(3), ev(4)], "4-4")
    await mirror.close()
    # The service pruned up to 5; the stored cursor is older, and the kept history starts at 3.
    fake = FakeGateway([ev(3), ev(4), ev(6), ev(7)], gone_before="5-5")
    progress = await run_sync(
        client(fake),
        FileMirror(tmp_path),
        [FEED],
        SyncOptions(page_size=2),
        console=quiet(),
    )
    lines = [json.loads(x)["id"] for x in (tmp_path / "credit_bank.jsonl").read_text().splitlines()]
    assert lines == [3, 4, 6, 7]
    assert progress[0].relists == 1 and progress[0].mirrored == 2
    state = json.loads((tmp_path / "credit_bank.cursor.json").read_text())
    assert state["cursor"] == "7-7" and state["relists"] == 1


async def test_a_write_after_the_last_cursor_commit_is_cut_on_restart(tmp_path):
    mirror = FileMirror(tmp_path)
    await mirror.open(["credit_bank"])
    await mirror.commit("credit_bank", [ev(1)], "1-1")
    await mirror.close()
    with (tmp_path / "credit_bank.jsonl").open("a") as fh:  # killed after the append, before the cursor
        fh.write(json.dumps(ev(2)) + "\n" + '{"id": 3, "ty')
    fake = FakeGateway([ev(1), ev(2), ev(3)])
    await run_sync(client(fake), FileMirror(tmp_path), [FEED], SyncOptions(), console=quiet())
    lines = [json.loads(x)["id"] for x in (tmp_path / "credit_bank.jsonl").read_text().splitlines()]
    assert lines == [1, 2, 3]


@pytest.mark.parametrize("damage", ["drop", "change"])
async def test_reconcile_reports_drift_per_day(tmp_path, damage):
    events = [ev(1, "2026-11-19"), ev(2, "2026-11-20"), ev(3, "2026-11-20")]
    fake = FakeGateway(events)
    target = f"file://{tmp_path}"
    await run_sync(client(fake), open_target(target), [FEED], SyncOptions(), console=quiet())
    clean = await run_reconcile(client(fake), open_target(target), [FEED], console=quiet())
    assert clean[0].ok and [(d.day.isoformat(), d.mirror_count) for d in clean[0].days] == [
        ("2026-11-19", 1),
        ("2026-11-20", 2),
    ]
    path = tmp_path / "credit_bank.jsonl"
    lines = path.read_text().splitlines()
    if damage == "drop":
        lines = lines[:1] + lines[2:]
    else:
        changed = json.loads(lines[1]) | {"data": {"i": 99}}
        lines[1] = json.dumps(changed)
    body = "\n".join(lines) + "\n"
    path.write_text(body)
    state = json.loads((tmp_path / "credit_bank.cursor.json").read_text())
    (tmp_path / "credit_bank.cursor.json").write_text(json.dumps({**state, "offset": len(body.encode())}))
    drift_out = quiet()
    drift = await run_reconcile(client(fake), open_target(target), [FEED], console=drift_out)
    bad = [d for d in drift[0].days if not d.ok]
    assert not drift[0].ok and [d.day.isoformat() for d in bad] == ["2026-11-20"]
    assert "DRIFT" in drift_out.file.getvalue()


async def test_postgres_target_keeps_cursor_and_rows_in_one_transaction(pg_server):
    import uuid

    import asyncpg

    dsn = pg_server.replace("postgresql+asyncpg://", "postgresql://", 1)
    name = "mirror_unit_" + uuid.uuid4().hex[:6]
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    target = dsn.rpartition("/")[0] + f"/{name}?schema=city"
    fake = FakeGateway([ev(i) for i in range(1, 8)])
    await run_sync(
        client(fake),
        open_target(target),
        [FEED],
        SyncOptions(page_size=3),
        console=quiet(),
    )
    mirror = open_target(target)
    await mirror.open(["credit_bank"])
    try:
        assert [e["id"] for e in await mirror.events("credit_bank")] == list(range(1, 8))
        assert await mirror.cursor("credit_bank") == "7-7"
        # A commit that fails leaves neither its rows nor its cursor.
        with pytest.raises(asyncpg.NotNullViolationError):
            await mirror.commit("credit_bank", [ev(8), {**ev(9), "subject": None}], "9-9")
        assert [e["id"] for e in await mirror.events("credit_bank")] == list(range(1, 8))
        assert await mirror.cursor("credit_bank") == "7-7"
    finally:
        await mirror.close()


async def test_a_reader_never_cuts_a_writers_uncommitted_tail(tmp_path):
    writer = FileMirror(tmp_path)
    await writer.open(["credit_bank"])
    await writer.commit("credit_bank", [ev(1)], "1-1")
    with (tmp_path / "credit_bank.jsonl").open("a") as fh:  # the writer is mid-page
        fh.write(json.dumps(ev(2)) + "\n")
    size = (tmp_path / "credit_bank.jsonl").stat().st_size
    reader = FileMirror(tmp_path)
    await reader.open(["credit_bank"], writer=False)  # reconcile, while sync --follow runs
    assert [e["id"] for e in await reader.events("credit_bank")] == [1]
    assert (tmp_path / "credit_bank.jsonl").stat().st_size == size
    await reader.close()
    await writer.close()


async def _second_writer_waits(first, second) -> None:
    await first.open(["credit_bank"])
    waiting = asyncio.create_task(second.open(["credit_bank"]))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # one writer per target at a time
    await first.close()
    await asyncio.wait_for(waiting, 5)
    await second.close()


async def test_a_second_file_writer_waits_for_the_first(tmp_path):
    await _second_writer_waits(FileMirror(tmp_path), FileMirror(tmp_path))


async def test_a_second_postgres_writer_waits_for_the_first(pg_server):
    import uuid

    import asyncpg

    dsn = pg_server.replace("postgresql+asyncpg://", "postgresql://", 1)
    name = "mirror_lock_" + uuid.uuid4().hex[:6]
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    target = dsn.rpartition("/")[0] + f"/{name}?schema=city"
    await _second_writer_waits(open_target(target), open_target(target))
