"""Issue 11: the one token-bucket limiter (issue 8), trusted proxies, and stricter token times."""

import time

import pytest

from services.kit.auth import mint_token
from services.kit.net import TrustedProxies
from services.kit.problems import RateLimited, Unauthorized
from services.kit.ratelimit import TokenBucketLimiter
from tests.support.fixtures import TEST_AUDIENCE, TEST_ISSUER, verifier_for_tests


def test_token_bucket_allows_a_burst_then_refills_per_key(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("services.kit.ratelimit.time.monotonic", lambda: clock[0])
    limiter = TokenBucketLimiter(rate=2, burst=3)
    assert [limiter.wait("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait("a") == pytest.approx(0.5)
    assert limiter.wait("b") == 0.0  # another key has its own bucket
    clock[0] += 0.5
    assert limiter.wait("a") == 0.0
    with pytest.raises(RateLimited) as refused:
        limiter.take("a")
    assert refused.value.headers["Retry-After"] == "1"

    class Custom(RateLimited):
        type_ = "custom-limited"

    with pytest.raises(Custom):
        limiter.take("a", Custom, "slow down")


def test_the_gateway_and_verification_share_the_one_limiter():
    import inspect

    import gateway.limits
    import services.assessment.app

    for module in (gateway.limits, services.assessment.app):
        assert "TokenBucketLimiter(" in inspect.getsource(module)
        assert "PostgresTokenBuckets(" in inspect.getsource(module)
    import gateway.proxy
    import services.assessment.verification

    assert not hasattr(gateway.proxy, "TokenBuckets")
    assert not hasattr(services.assessment.verification, "IpRateLimiter")


def test_forwarded_for_is_read_from_the_right_and_only_from_trusted_peers():
    proxies = TrustedProxies(["127.0.0.1/32", "10.0.0.0/8"])
    assert proxies.client("203.0.113.5", "1.2.3.4") == "203.0.113.5"  # untrusted peer: header ignored
    assert proxies.client("127.0.0.1", "1.2.3.4, 198.51.100.2") == "198.51.100.2"
    assert proxies.client("127.0.0.1", "1.2.3.4, 198.51.100.2, 10.1.1.1") == "198.51.100.2"
    assert proxies.client("127.0.0.1", "10.0.0.9") == "127.0.0.1"
    assert proxies.client("127.0.0.1", "spoof-1") == "invalid"
    assert TrustedProxies([]).client("127.0.0.1", "1.2.3.4") == "127.0.0.1"


async def test_tokens_issued_in_the_future_or_living_too_long_are_refused(signing_key):
    verifier = verifier_for_tests(signing_key)
    future = mint_token(
        signing_key,
        sub="u",
        role="admin",
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        now=time.time() + 3600,
        extra={"nbf": int(time.time())},  # usable now, "issued" in an hour
    )
    forever = mint_token(
        signing_key,
        sub="u",
        role="admin",
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        ttl_s=(2100 - 2026) * 365 * 86400,
    )
    day = mint_token(signing_key, sub="u", role="admin", issuer=TEST_ISSUER, audience=TEST_AUDIENCE, ttl_s=86400)
    for token, why in ((future, "future"), (forever, "lifetime")):
        with pytest.raises(Unauthorized) as refused:
            await verifier.verify(token)
        assert why in refused.value.detail
    assert (await verifier.verify(day)).sub == "u"
