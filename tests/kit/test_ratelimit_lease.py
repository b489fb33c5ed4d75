"""Issue 15: the lease layer over the shared PostgreSQL buckets (docs/ratelimit.md).

Real PostgreSQL, no timing: the refill rate is so small (one token per ~11 days) that no token
comes back during a test, and lease expiry is driven by an injected clock.
"""

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import RateLimited
from services.kit.ratelimit import Grant, LeasedBuckets, PostgresTokenBuckets

NO_REFILL = 1e-6  # tokens a second


@pytest.fixture
def store_of(test_db):
    maker = async_sessionmaker(test_db.engine("gateway"), class_=AsyncSession, expire_on_commit=False)

    def make(burst: int) -> PostgresTokenBuckets:
        return PostgresTokenBuckets(lambda: maker, "gateway", NO_REFILL, burst)

    return make


def key() -> str:
    return "lease-test:" + uuid.uuid4().hex


def lease_s_for(size: int) -> float:
    """A lease that holds ``size`` tokens at the test's refill rate (``rate × lease_s``) and does
    not run out by itself within the test."""
    return size / NO_REFILL


class Counting:
    """A store that counts its round trips."""

    def __init__(self, store: PostgresTokenBuckets) -> None:
        self.store, self.rate, self.burst, self.calls = store, store.rate, store.burst, 0

    async def take(self, key: str, want: int, give_back: int = 0) -> Grant:
        self.calls += 1
        return await self.store.take(key, want, give_back)


async def test_the_store_takes_up_to_what_is_there_atomically(store_of):
    store, k = store_of(50), key()
    grants = await asyncio.gather(*(store.take(k, 3) for _ in range(30)))
    assert sum(g.tokens for g in grants) == 50  # not one token more or less than the bucket held
    assert all(0 <= g.tokens <= 3 for g in grants)
    assert all(g.wait_s > 0 for g in grants if g.tokens == 0)
    assert (await store.take(k, 1)).tokens == 0


async def test_tokens_given_back_are_there_again_but_never_above_burst(store_of):
    store, k = store_of(10), key()
    assert (await store.take(k, 5)) == Grant(5, 0.0)
    assert (await store.take(k, 1, give_back=4)).tokens == 1  # 5 + 4 back, one taken: 8 left
    assert (await store.take(k, 100)).tokens == 8
    assert (await store.take(k, 1, give_back=100)).tokens == 1  # back to 10 at most, one taken
    assert (await store.take(k, 100)).tokens == 9


async def test_two_processes_with_leases_let_through_exactly_the_burst(store_of):
    k = key()
    procs = [LeasedBuckets(store_of(40), lease_s=lease_s_for(5)) for _ in range(2)]
    assert procs[0].lease_size == 5
    allowed = [0, 0]
    for i in range(100):
        if await procs[i % 2].wait(k) == 0:
            allowed[i % 2] += 1
    assert sum(allowed) == 40, allowed
    with pytest.raises(RateLimited) as refused:
        await procs[0].acquire(k)
    assert int(refused.value.headers["Retry-After"]) >= 1


async def test_an_expired_lease_hands_its_unused_tokens_back(store_of):
    k, clock = key(), [0.0]
    lease_s = lease_s_for(5)
    a = LeasedBuckets(store_of(20), lease_s=lease_s, clock=lambda: clock[0])
    b = LeasedBuckets(store_of(20), lease_s=lease_s, clock=lambda: clock[0])
    assert await a.wait(k) == 0  # a leases 5 of 20, spends 1
    clock[0] += lease_s  # a's 4 unused tokens may no longer be spent ...
    assert await a.wait(k) == 0  # ... they go back with a's next take (19 there, 5 leased, 1 spent)
    b_allowed = 0
    while await b.wait(k) == 0:
        b_allowed += 1
    a_allowed = 2
    while await a.wait(k) == 0:
        a_allowed += 1
    assert (a_allowed, b_allowed) == (6, 14)  # 20 in all: none lost, none extra


async def test_calls_that_find_the_lease_empty_share_one_round_trip(store_of):
    store, k = Counting(store_of(100)), key()
    layer = LeasedBuckets(store, lease_s=lease_s_for(10), max_lease=10)
    waits = await asyncio.gather(*(layer.wait(k) for _ in range(50)))
    assert waits == [0.0] * 50
    # 50 calls, leases of 10 (the next one taken ahead): a round trip per lease, not per call.
    assert 5 <= store.calls <= 6
    waits = await asyncio.gather(*(layer.wait(k) for _ in range(60)))
    assert sum(1 for w in waits if w == 0) == 50  # the rest of the bucket, leased or not: no more
    assert all(w > 0 for w in waits if w != 0)


async def test_the_next_lease_is_taken_ahead_and_one_token_leases_never_are(store_of):
    k = key()
    store = Counting(store_of(40))
    ahead = LeasedBuckets(store, lease_s=lease_s_for(10), max_lease=10)
    for _ in range(6):  # 10 leased; the call that leaves 4 (≤ half) takes the next lease
        assert await ahead.wait(k) == 0
    await ahead.settle()
    assert store.calls == 2
    assert (await store.store.take(k, 100)).tokens == 20  # 40 - 10 - 10 held by the process
    exact = Counting(store_of(40))
    one = LeasedBuckets(exact, lease_s=0.1)
    assert one.lease_size == 1
    for _ in range(3):
        assert await one.wait(k + "-exact") == 0
    assert exact.calls == 3 and (await exact.store.take(k + "-exact", 100)).tokens == 37  # nothing held


def test_the_lease_size_makes_a_slow_limit_exact():
    class Store:
        def __init__(self, rate: float, burst: float) -> None:
            self.rate, self.burst = rate, burst

        async def take(self, key: str, want: int, give_back: int = 0) -> Grant:
            raise AssertionError

    assert LeasedBuckets(Store(0.01, 4), lease_s=0.1).lease_size == 1  # one token per call: exact
    assert LeasedBuckets(Store(200, 400), lease_s=0.1).lease_size == 20  # rate × lease_s
    assert LeasedBuckets(Store(1e6, 1e6), lease_s=0.1, max_lease=100).lease_size == 100
    assert LeasedBuckets(Store(1e6, 8), lease_s=0.1).lease_size == 2  # a quarter of the burst


async def test_an_unreachable_store_lets_the_lease_through():
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("postgresql+asyncpg://nobody:x@127.0.0.1:9/none")
    maker = async_sessionmaker(engine, class_=AsyncSession)
    store = PostgresTokenBuckets(lambda: maker, "gateway", 200, 400)
    try:
        assert await store.take("k", 20) == Grant(20, 0.0)
        assert await LeasedBuckets(store).wait("k") == 0
    finally:
        await engine.dispose()
