"""Issue 11, shared limits: the token buckets in Redis when one is configured
(``SKILLPASS_GATEWAY_RATE_LIMIT_STORE=redis``), against a real redis-server of the test's own."""

import asyncio
import contextlib
import uuid

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from gateway.app import create_app
from services.kit.problems import RateLimited
from services.kit.ratelimit_redis import RedisTokenBuckets
from tests.gateway.test_gateway import gateway_settings
from tests.gateway.test_gateway_security import upstream  # noqa: F401  (the fixture: an echo server)
from tests.support.fixtures import app_client, free_port
from tests.support.redis_server import redis_server


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


async def test_a_clients_limit_holds_across_two_gateway_apps_sharing_one_redis(
    test_db,
    signing_key,
    upstream,  # noqa: F811
    tokens,
    redis_url,
):
    """Two gateway apps (two processes' worth of memory) on one Redis: the client gets one burst
    between them, not one each; the buckets are in Redis, not in PostgreSQL."""
    sub = "redis-gw-" + uuid.uuid4().hex[:8]
    h = tokens.headers("platform", sub=sub)
    settings = {
        "rate_limit_per_s": 0.01,
        "rate_limit_burst": 4,
        "rate_limit_store": "redis",
        "rate_limit_redis_url": redis_url,
    }
    apps = [create_app(gateway_settings(test_db, signing_key, upstream, **settings)) for _ in range(2)]
    answers = []
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for app in apps:
            verifier = app.state.verifier
            clients.append(
                await stack.enter_async_context(app_client(app, test_db.engine("gateway"), signing_key, rollback=False))
            )
            app.state.verifier = verifier  # the gateway trusts its own key
        for i in range(8):
            r = await clients[i % 2].get("/api/catalogue/v1/x", headers=h)
            answers.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) >= 1
                assert r.json()["status"] == 429
    async with test_db.engine("gateway").connect() as conn:
        query = text("SELECT count(*) FROM gateway.rate_buckets WHERE key LIKE :k")
        rows = (await conn.execute(query, {"k": f"%{sub}%"})).scalar()
    for app in apps:
        await app.state.upstreams.close()
        await app.state.gateway.rate_limiter.aclose()
    assert answers == [200] * 4 + [429] * 4, answers
    assert rows == 0, "the buckets went to PostgreSQL, not Redis"
    client = Redis.from_url(redis_url)
    try:
        keys = [k.decode() for k in await client.keys("skillpass:gateway:rl:*")]
    finally:
        await client.aclose()
    assert any(sub in k for k in keys), keys


async def test_buckets_refill_by_elapsed_time_and_say_how_long_to_wait(redis_url):
    store = RedisTokenBuckets(redis_url, "t:" + uuid.uuid4().hex[:6], rate=20.0, burst=2)
    try:
        assert await store.wait("k") == 0.0
        assert await store.wait("k") == 0.0
        waited = await store.wait("k")
        assert 0 < waited <= 0.05 + 1e-6, waited  # one token at 20 a second: at most 50 ms away
        with pytest.raises(RateLimited) as refused:
            await store.acquire("k")
        assert refused.value.headers == {"Retry-After": "1"}
        assert await store.wait("other") == 0.0  # buckets are per key
        await asyncio.sleep(0.12)
        assert await store.wait("k") == 0.0
    finally:
        await store.aclose()


async def test_an_unreachable_redis_lets_calls_through():
    """Open, not shut, like the PostgreSQL store: the services behind answer for themselves."""
    store = RedisTokenBuckets(f"redis://127.0.0.1:{free_port()}/0", "t", rate=0.01, burst=1)
    try:
        assert [await store.wait("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    finally:
        await store.aclose()


def test_redis_store_needs_a_url(test_db, signing_key):
    with pytest.raises(ValueError, match="REDIS_URL"):
        create_app(gateway_settings(test_db, signing_key, "http://127.0.0.1:9", rate_limit_store="redis"))
