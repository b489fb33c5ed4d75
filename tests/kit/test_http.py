"""Calls between services: a service token, the request id, and fast 503/504 on failure."""

import httpx
import pytest

from services.kit.http import ClientCredentials, ServiceClient
from services.kit.obs import request_id_var
from services.kit.problems import UpstreamTimeout, UpstreamUnavailable


async def test_token_and_request_id_are_sent_and_token_is_cached():
    token_calls, seen = [], []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            token_calls.append(request.headers["authorization"])
            return httpx.Response(200, json={"access_token": f"tok{len(token_calls)}", "expires_in": 3600})
        seen.append((request.headers["authorization"], request.headers["x-request-id"]))
        return httpx.Response(200, json={"ok": True})

    transport = httpx.MockTransport(handler)
    creds = ClientCredentials("http://gw/auth/token", "svc-a", "s3cret", transport=transport)
    client = ServiceClient("catalogue", "http://cat", token_provider=creds, transport=transport)
    request_id_var.set("rid-42")
    assert (await client.get("/v1/x")).json() == {"ok": True}
    await client.get("/v1/y")
    assert seen == [("Bearer tok1", "rid-42"), ("Bearer tok1", "rid-42")]
    assert len(token_calls) == 1 and token_calls[0].startswith("Basic ")
    await client.aclose()


@pytest.mark.parametrize(
    ("error", "problem"),
    [(httpx.ConnectError("refused"), UpstreamUnavailable), (httpx.ReadTimeout("slow"), UpstreamTimeout)],
)
async def test_transport_failures_become_problems(error, problem):
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    client = ServiceClient("assessment", "http://asm", transport=httpx.MockTransport(handler))
    with pytest.raises(problem) as caught:
        await client.get("/v1/certificates")
    assert "assessment" in caught.value.detail
    await client.aclose()


async def test_upstream_503_is_passed_on_as_unavailable():
    client = ServiceClient(
        "credit_bank", "http://cb", transport=httpx.MockTransport(lambda r: httpx.Response(503, json={}))
    )
    with pytest.raises(UpstreamUnavailable):
        await client.get("/v1/accounts/x")
    await client.aclose()


async def test_concurrent_callers_share_one_token_fetch():
    """Requests in flight while no token is cached wait for one fetch instead of each making their own."""
    import asyncio

    token_calls = []

    async def handler(request: httpx.Request) -> httpx.Response:
        token_calls.append(request.url.path)
        await asyncio.sleep(0.01)
        return httpx.Response(200, json={"access_token": f"tok{len(token_calls)}", "expires_in": 3600})

    creds = ClientCredentials("http://gw/auth/token", "svc-a", "s3cret", transport=httpx.MockTransport(handler))
    assert await asyncio.gather(*(creds() for _ in range(32))) == ["tok1"] * 32
    assert token_calls == ["/auth/token"]
