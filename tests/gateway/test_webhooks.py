"""Webhooks: admin approval, signed deliveries to a real local receiver, retries while it is down,
replays with the same event ids, the address check at registration and at delivery, disabling."""

import asyncio
import json
import uuid

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.webhook_delivery import _LOCK_KEY, Dispatcher, WebhookSettings, matches, sign, verify_signature
from services.kit.pii import Sealer
from tests.gateway.test_gateway import gateway_settings
from tests.support.fixtures import TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET, app_client, free_port

SECRET = "whsec_0123456789abcdef0123456789"


class Receiver:
    """A webhook endpoint on loopback that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task | None = None

    async def hook(self, request: Request) -> JSONResponse:
        self.got.append((dict(request.headers), await request.body()))
        return JSONResponse({"ok": True})

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="off")
        )
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        assert self.server is not None and self.task is not None
        self.server.should_exit = True
        await self.task

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def event_ids(self) -> list[str]:
        return [h["skillpass-event-id"] for h, _ in self.got]


def ev(i: int, org: str, type_: str = "assessment.certificate.issued") -> dict:
    return {
        "id": i,
        "type": type_,
        "occurred_at": f"2026-11-2{i % 8}T08:00:00+00:00",
        "subject": f"certificate:{i}",
        "data": {"university_org": org, "n": i},
    }


class Feed:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Bearer ")
        self.requests.append(request)
        if request.url.path.endswith("/v1/events/head"):
            return httpx.Response(200, json={"cursor": f"1-{self.events[-1]['id']}" if self.events else None})
        after = request.url.params.get("after")
        start = int(after.split("-")[1]) if after else 0
        page = [e for e in self.events if e["id"] > start][: int(request.url.params["limit"])]
        return httpx.Response(200, json={"events": page, "next_cursor": f"1-{page[-1]['id']}" if page else after})


@pytest.fixture
async def hooks(test_db, signing_key):
    settings = gateway_settings(test_db, signing_key, "http://127.0.0.1:9")
    app = create_app(settings)
    app.state.webhook_settings = WebhookSettings(
        allow_networks=["127.0.0.0/8"], retry_base_s=0.2, retry_cap_s=0.4, disable_after_failures=6, enabled=False
    )
    feed = Feed()
    feed_name = "asm_" + uuid.uuid4().hex[:8]
    dispatcher = Dispatcher(
        app.state.engine,
        feeds={feed_name: "http://assessment.test"},
        signing_key=signing_key,
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        sealer=Sealer(TEST_SECRET),
        settings=app.state.webhook_settings,
        transport=httpx.MockTransport(feed),
    )
    verifier = app.state.verifier
    async with app_client(app, test_db.engine("gateway"), signing_key, rollback=False) as client:
        app.state.verifier = verifier
        yield client, dispatcher, feed, feed_name
    await dispatcher.close()
    await app.state.engine.dispose()
    await app.state.upstreams.close()


async def _round_until(dispatcher: Dispatcher, predicate, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await dispatcher.round()
        await asyncio.sleep(0.05)


async def test_signed_deliveries_survive_a_receiver_outage_and_replay(hooks, tokens):
    client, dispatcher, feed, feed_name = hooks
    univ = tokens.headers("university", sub="sis-a-" + uuid.uuid4().hex[:6], org="univ-wh")
    admin = tokens.headers("admin")
    receiver = Receiver()
    await receiver.start()

    r = await client.post(
        "/api/gateway/v1/webhooks",
        headers=univ,
        json={"url": receiver.url, "event_types": ["assessment.certificate.*"], "secret": SECRET},
    )
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["status"] == "pending" and "secret" not in hook and "secret_sealed" not in hook
    feed.events = [ev(1, "univ-wh"), ev(2, "univ-other"), ev(3, "univ-wh", "assessment.body.filed"), ev(4, "univ-wh")]
    await dispatcher.round()
    assert receiver.got == []  # not approved yet: nothing is queued for it
    approved = await client.post(f"/api/gateway/v1/webhooks/{hook['id']}/approve", headers=admin)
    assert approved.json()["status"] == "active"
    assert (await client.post(f"/api/gateway/v1/webhooks/{hook['id']}/approve", headers=univ)).status_code == 403

    feed.events += [ev(5, "univ-wh"), ev(6, "univ-other"), ev(7, "univ-wh")]
    await _round_until(dispatcher, lambda: len(receiver.got) >= 2)
    # Only its own org's certificate events, each signed over timestamp + body.
    # Deliveries run concurrently, so they may arrive in either order (docs/integration.md: no ordering).
    assert sorted(receiver.event_ids()) == [f"{feed_name}:5", f"{feed_name}:7"]
    for headers, body in receiver.got:
        assert verify_signature(SECRET, headers["skillpass-signature"], body)
        assert not verify_signature("another-secret-0123456789", headers["skillpass-signature"], body)
        assert headers["skillpass-event-type"] == "assessment.certificate.issued"
        assert json.loads(body)["event"]["data"]["university_org"] == "univ-wh"

    # The receiver goes down: the delivery fails, is retried with backoff, and arrives once it is back.
    await receiver.stop()
    feed.events.append(ev(9, "univ-wh"))
    await dispatcher.round()
    await asyncio.sleep(0.25)
    await dispatcher.round()
    log = (await client.get(f"/api/gateway/v1/webhooks/{hook['id']}/deliveries", headers=univ)).json()["items"]
    pending = [d for d in log if d["event_id"] == f"{feed_name}:9"]
    assert (
        pending[0]["status"] == "pending" and pending[0]["attempts"] >= 2 and "ConnectError" in pending[0]["last_error"]
    )
    await receiver.start()
    before = len(receiver.got)
    await _round_until(dispatcher, lambda: len(receiver.got) > before)
    assert receiver.event_ids()[-1] == f"{feed_name}:9"
    log = (await client.get(f"/api/gateway/v1/webhooks/{hook['id']}/deliveries", headers=univ)).json()["items"]
    nine = next(d for d in log if d["event_id"] == f"{feed_name}:9")
    assert nine["status"] == "delivered" and nine["attempts"] >= 3 and nine["last_status_code"] == 200

    # Replay by id and by time range re-delivers the same event ids, marked as replays.
    r = await client.post(
        f"/api/gateway/v1/webhooks/{hook['id']}/replay", headers=univ, json={"event_ids": [f"{feed_name}:5"]}
    )
    assert r.status_code == 202 and r.json()["replayed"] == 1
    r = await client.post(
        f"/api/gateway/v1/webhooks/{hook['id']}/replay",
        headers=univ,
        json={"from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"},
    )
    assert r.json()["replayed"] == 1  # event 7 occurred on the 27th
    before = len(receiver.got)
    await _round_until(dispatcher, lambda: len(receiver.got) >= before + 2)
    replayed = receiver.got[before:]
    assert sorted(h["skillpass-event-id"] for h, _ in replayed) == [f"{feed_name}:5", f"{feed_name}:7"]
    assert all(json.loads(b)["replay"] is True for _, b in replayed)

    # The log pages newest first with a keyset cursor.
    url = f"/api/gateway/v1/webhooks/{hook['id']}/deliveries"
    first = (await client.get(url, headers=univ, params={"limit": 2})).json()
    second = (await client.get(url, headers=univ, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    everything = (await client.get(url, headers=univ)).json()["items"]
    assert [d["id"] for d in first["items"] + second["items"]] == [d["id"] for d in everything[:4]]
    assert len(everything) == 5 and everything[0]["created_at"] >= everything[-1]["created_at"]
    bad = await client.get(url, headers=univ, params={"cursor": "nope"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "cursor"]

    # Another university sees nothing of it.
    other = tokens.headers("university", sub="sis-b", org="univ-b")
    assert (
        await client.post(
            f"/api/gateway/v1/webhooks/{hook['id']}/replay", headers=other, json={"event_ids": [f"{feed_name}:5"]}
        )
    ).status_code == 404
    assert hook["id"] not in [h["id"] for h in (await client.get("/api/gateway/v1/webhooks", headers=other)).json()]

    # Consecutive failures disable the subscription (documented number; 6 in this test).
    await receiver.stop()
    await client.post(
        f"/api/gateway/v1/webhooks/{hook['id']}/replay", headers=univ, json={"from": "2026-11-01T00:00:00Z"}
    )
    for _ in range(40):
        await dispatcher.round()
        listed = (await client.get("/api/gateway/v1/webhooks", headers=univ)).json()
        mine = next(h for h in listed if h["id"] == hook["id"])
        if mine["status"] == "disabled":
            break
        await asyncio.sleep(0.1)
    assert mine["status"] == "disabled" and "failed deliveries in a row" in mine["disabled_reason"]


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3/hook", "http://169.254.169.254/latest", "http://[::1]:8080/x", "http://192.168.1.1/"]
)
async def test_private_link_local_and_loopback_urls_are_refused(hooks, tokens, url):
    client, dispatcher, *_ = hooks
    dispatcher.settings.allow_networks = []  # the same settings object the app reads
    r = await client.post(
        "/api/gateway/v1/webhooks",
        headers=tokens.headers("platform"),
        json={"url": url, "event_types": ["*"], "secret": SECRET},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "url"]


async def test_the_address_is_checked_again_at_delivery(hooks, tokens):
    client, dispatcher, feed, _ = hooks
    receiver = Receiver()
    await receiver.start()
    r = await client.post(
        "/api/gateway/v1/webhooks",
        headers=tokens.headers("admin"),
        json={"url": receiver.url, "event_types": ["assessment.*"], "secret": SECRET},
    )
    assert r.json()["status"] == "active"
    dispatcher.settings.allow_networks = []  # as if the name now resolved somewhere refused
    feed.events = [ev(1, "x")]
    await dispatcher.round()
    log = (
        await client.get(f"/api/gateway/v1/webhooks/{r.json()['id']}/deliveries", headers=tokens.headers("admin"))
    ).json()
    assert receiver.got == [] and "loopback" in log["items"][0]["last_error"]
    await receiver.stop()


def test_signature_format_and_patterns():
    header = sign("s3cret", 1_700_000_000, b'{"a":1}')
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature("s3cret", header, b'{"a":1}', now=1_700_000_100)
    assert not verify_signature("s3cret", header, b'{"a":1}', now=1_700_001_000)  # too old: replayed capture
    assert not verify_signature("s3cret", header, b'{"a":2}', now=1_700_000_100)
    assert matches(["assessment.certificate.*"], "assessment.certificate.revoked")
    assert not matches(["assessment.certificate.*"], "assessment.body.filed")
    assert matches(["*"], "credit_bank.conversion.posted")


async def test_a_round_failing_in_the_database_releases_its_lock(hooks, tokens, test_db):
    # A statement that fails mid-round left the transaction aborted; the unlock in `finally` then
    # failed too (PendingRollbackError, hiding the real error), and the connection went back to the
    # pool still holding the session-level advisory lock: every later round on another connection,
    # and every other replica, skipped webhooks for good.
    client, dispatcher, feed, _ = hooks
    univ = tokens.headers("university", sub="sis-l-" + uuid.uuid4().hex[:6], org="univ-lock")
    r = await client.post(
        "/api/gateway/v1/webhooks",
        headers=univ,
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["assessment.certificate.*"], "secret": SECRET},
    )
    assert r.status_code == 201, r.text
    await client.post(f"/api/gateway/v1/webhooks/{r.json()['id']}/approve", headers=tokens.headers("admin"))
    feed.events = [ev(1, "univ-lock", "assessment.certificate." + "x" * 200)]  # longer than event_type's column
    with pytest.raises(DBAPIError):
        await dispatcher.round()
    other = create_async_engine(test_db.role_urls["gateway"])
    try:
        async with other.connect() as conn:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY})).scalar()
            assert got is True, "the failed round kept the dispatcher's lock"
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
    finally:
        await other.dispose()


async def test_with_no_active_subscription_the_feed_is_skipped_to_its_head(hooks, tokens, test_db):
    """No subscriber: each round asks only where the feed ends, never for its events, and moves the
    cursor there; a subscription approved afterwards gets the events from then on and none before."""
    client, dispatcher, feed, feed_name = hooks
    async with test_db.engine("gateway").begin() as conn:  # other tests' subscriptions: out of the way
        await conn.execute(text("UPDATE gateway.webhooks SET status = 'disabled' WHERE status = 'active'"))
    receiver = Receiver()
    await receiver.start()
    try:
        feed.events = [ev(i, "univ-skip") for i in range(1, 2501)]
        await dispatcher.round()
        await dispatcher.round()
        assert {r.url.path for r in feed.requests} == {"/v1/events/head"}
        r = await client.post(
            "/api/gateway/v1/webhooks",
            headers=tokens.headers("admin"),
            json={"url": receiver.url, "event_types": ["*"], "secret": SECRET},
        )
        assert r.json()["status"] == "active", r.text
        feed.requests.clear()
        feed.events += [ev(2501, "univ-skip"), ev(2502, "univ-skip")]
        await _round_until(dispatcher, lambda: len(receiver.got) >= 2)
        await dispatcher.round()
        assert sorted(receiver.event_ids()) == [f"{feed_name}:2501", f"{feed_name}:2502"]
        pages = [r for r in feed.requests if r.url.path == "/v1/events"]
        assert pages and all(r.url.params["limit"] == "1000" for r in pages)
        # One token for every read of the rounds (it is minted again only when 4 minutes old).
        assert len({r.headers["authorization"] for r in feed.requests}) == 1
    finally:
        await receiver.stop()
