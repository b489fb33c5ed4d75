"""GET /v1/events (JSON built by PostgreSQL) answers exactly what read_events reads."""

from __future__ import annotations

from datetime import datetime

from services.kit.feed import emit_many, read_events


async def test_the_feed_route_pages_like_read_events(client, session, tokens) -> None:
    platform = tokens.headers("platform")
    start = (await client.get("/v1/events", params={"limit": 1000}, headers=platform)).json()["next_cursor"]
    while True:  # to the end of what is there already
        page = (await client.get("/v1/events", params={"limit": 1000, "after": start}, headers=platform)).json()
        if not page["events"]:
            break
        start = page["next_cursor"]
    await emit_many(
        await session.connection(),
        "catalogue",
        [("test.feed", f"s-{n}", {"n": n, "名": "中文", "nested": {"a": [1, None]}}) for n in range(25)],
    )
    after, got = start, []
    while True:
        r = await client.get("/v1/events", params={"limit": 10, "after": after}, headers=platform)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        page = r.json()
        expected = await read_events(await session.connection(), "catalogue", after, 10)
        assert page["next_cursor"] == expected.next_cursor
        assert [{**e, "occurred_at": datetime.fromisoformat(e["occurred_at"])} for e in page["events"]] == [
            e.model_dump() for e in expected.events
        ]
        got += page["events"]
        if not page["events"]:
            break
        after = page["next_cursor"]
    assert [e["data"]["n"] for e in got] == list(range(25))
    assert got[0]["data"] == {"n": 0, "名": "中文", "nested": {"a": [1, None]}}
    assert got[0]["occurred_at"].endswith("Z")
