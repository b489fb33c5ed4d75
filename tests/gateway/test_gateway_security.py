"""Issue 11 through the gateway: forwarded addresses, the public-path check, path encoding,
doubled headers, leaked redirects, a dead keep-alive connection, hostile form input."""

import asyncio
import contextlib
import uuid

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from gateway.app import create_app
from tests.gateway.test_gateway import gateway_settings
from tests.support.fixtures import app_client, free_port


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.url.query,
            "forwarded_for": request.headers.getlist("x-forwarded-for"),
            "forwarded": request.headers.get("forwarded"),
        }
    )


async def redirect(request: Request) -> RedirectResponse:
    # What Starlette's trailing-slash redirect does: an absolute URL on the service's own address.
    return RedirectResponse(str(request.url.replace(path="/v1/target", query="a=1")), status_code=307)


@pytest.fixture(scope="module")
async def upstream():
    port = free_port()
    app = Starlette(routes=[Route("/v1/redirect", redirect), Route("/{rest:path}", echo, methods=["GET", "POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@contextlib.asynccontextmanager
async def gateway(test_db, signing_key, upstream_url, **kw):
    app = create_app(gateway_settings(test_db, signing_key, upstream_url, **kw))
    verifier = app.state.verifier
    async with app_client(app, test_db.engine("gateway"), signing_key) as client:
        app.state.verifier = verifier  # the gateway trusts its own key, not the test JWKS
        yield client
    await app.state.upstreams.close()


async def test_client_supplied_forwarded_for_is_replaced_not_extended(test_db, signing_key, upstream):
    async with gateway(test_db, signing_key, upstream) as gw:
        r = await gw.get(
            "/api/assessment/v1/verify?number=x&name=y",
            headers={
                "X-Forwarded-For": "198.51.100.9, 10.0.0.1",
                "Forwarded": "for=198.51.100.9",
                "X-Real-IP": "1.1.1.1",
            },
        )
    body = r.json()
    # The gateway's own view of the client, alone: the service trusts this header from the gateway only.
    assert body["forwarded_for"] == ["127.0.0.1"] and body["forwarded"] is None


async def test_a_random_forwarded_for_per_call_does_not_escape_the_rate_limit(test_db, signing_key, upstream):
    async with gateway(test_db, signing_key, upstream, rate_limit_per_s=0.01, rate_limit_burst=3) as gw:
        codes = [
            (
                await gw.get("/api/assessment/v1/verify?number=x&name=y", headers={"X-Forwarded-For": f"203.0.113.{i}"})
            ).status_code
            for i in range(6)
        ]
    assert codes == [200, 200, 200, 429, 429, 429]


async def test_forwarded_for_is_believed_from_a_configured_proxy_only(test_db, signing_key, upstream):
    # An ingress in front of the gateway (here: the test client on loopback) is trusted when configured.
    async with gateway(test_db, signing_key, upstream, trusted_proxies=["127.0.0.1/32"]) as gw:
        r = await gw.get(
            "/api/assessment/v1/verify?number=x&name=y", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.9"}
        )
    assert r.json()["forwarded_for"] == ["198.51.100.9"]  # the rightmost untrusted hop, not the client's claim


async def test_public_prefix_check_uses_the_normalised_path(test_db, signing_key, upstream, tokens):
    async with gateway(test_db, signing_key, upstream) as gw:
        sneaky = await gw.get("/api/assessment/v1/status-lists/..%2F..%2Fmetrics")
        assert sneaky.status_code == 401, sneaky.text
        assert sneaky.json()["type"].endswith("/unauthorized")
        above = await gw.get("/api/assessment/v1/status-lists/..%2F..%2F..%2Fgateway", headers=tokens.headers("admin"))
        assert above.status_code == 404
        # With a token the same path reaches exactly the path that was authorised.
        ok = await gw.get("/api/assessment/v1/status-lists/..%2F..%2Fmetrics", headers=tokens.headers("admin"))
        assert ok.json()["path"] == "/metrics"
        public = await gw.get("/api/assessment/v1/status-lists/./1")
        assert public.status_code == 200 and public.json()["path"] == "/v1/status-lists/1"


async def test_encoded_question_mark_stays_in_the_path(test_db, signing_key, upstream, tokens):
    async with gateway(test_db, signing_key, upstream) as gw:
        r = await gw.get("/api/catalogue/v1/occupations/a%3Fb%23c?limit=1", headers=tokens.headers("admin"))
    body = r.json()
    assert (body["raw_path"], body["query"]) == ("/v1/occupations/a%3Fb%23c", "limit=1")


async def test_redirects_do_not_leak_the_service_address_and_headers_are_not_doubled(
    test_db, signing_key, upstream, tokens
):
    async with gateway(test_db, signing_key, upstream) as gw:
        r = await gw.get("/api/catalogue/v1/redirect", headers=tokens.headers("admin"))
        plain = await gw.get("/api/catalogue/v1/x", headers=tokens.headers("admin"))
    assert r.status_code == 307
    assert r.headers["location"] == "/api/catalogue/v1/target?a=1"
    assert upstream.split("//")[1] not in r.text + str(r.headers)
    # The service's own date/server lines are dropped: the gateway's server writes its own.
    assert "server" not in plain.headers and "date" not in plain.headers


async def test_nul_in_token_request_is_422_not_500(test_db, signing_key, upstream):
    async with gateway(test_db, signing_key, upstream) as gw:
        r = await gw.post(
            "/auth/token", data={"grant_type": "client_credentials", "client_id": "a\x00", "client_secret": "s"}
        )
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"loc": ["body", "client_id"], "msg": "contains a NUL character"}]


class OneRequestPerConnection:
    """An upstream that answers the first request on a connection keep-alive style, and then
    closes the connection when the next request arrives on it (uvicorn after a 500, or at its
    keep-alive timeout, racing the gateway's pool)."""

    def __init__(self) -> None:
        self.answered = 0
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        while True:
            head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
            if not head:
                break
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            if not first:
                self.dropped += 1
                break
            first = False
            self.answered += 1
            body = b'{"ok": true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
        writer.close()


async def test_a_dead_pooled_connection_is_retried_once_for_a_keyed_post(test_db, signing_key, tokens):
    stub = OneRequestPerConnection()
    server = await asyncio.start_server(stub.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with gateway(test_db, signing_key, url) as gw:
            h = {**tokens.headers("university", org="u"), "Content-Type": "application/json"}
            codes = []
            for i in range(4):
                r = await gw.post(
                    "/api/assessment/v1/batches", content=b"{}", headers={**h, "Idempotency-Key": f"k{i}"}
                )
                codes.append(r.status_code)
            gets = [(await gw.get("/api/assessment/v1/x", headers=h)).status_code for _ in range(3)]
    finally:
        server.close()
        await server.wait_closed()
    assert codes == [200] * 4 and gets == [200] * 3
    assert stub.dropped >= 3  # the pooled connection really was dead each time


async def test_tokens_of_a_disabled_client_stop_working(test_db, signing_key, upstream, tokens):
    from sqlalchemy import text

    async with gateway(test_db, signing_key, upstream) as gw:
        app = gw._transport.app
        app.state.verifier.client_status.ttl_s = 0  # no remembered answer in this test
        created = (
            await gw.post(
                "/api/gateway/v1/clients",
                json={"name": "SIS", "role": "university", "org": "univ-d"},
                headers=tokens.headers("admin"),
            )
        ).json()
        form = {"grant_type": "client_credentials", **{k: created[k] for k in ("client_id", "client_secret")}}
        token = (await gw.post("/auth/token", data=form)).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        assert (await gw.get("/api/catalogue/v1/x", headers=h)).status_code == 200
        async with app.state.sessionmaker() as session:
            await session.execute(
                text("UPDATE gateway.clients SET disabled = true WHERE client_id = :c"), {"c": created["client_id"]}
            )
            await session.commit()
        refused = await gw.get("/api/catalogue/v1/x", headers=h)
        assert refused.status_code == 401 and "disabled" in refused.json()["detail"]


async def test_a_clients_limit_holds_across_two_gateway_processes(test_db, signing_key, upstream, tokens):
    """Two gateway apps (two processes' worth of memory) on one database: the client gets the one
    burst between them, not one each."""
    sub = "two-gw-" + uuid.uuid4().hex[:8]
    h = tokens.headers("platform", sub=sub)
    answers = []
    apps = [create_app(gateway_settings(test_db, signing_key, upstream, rate_limit_per_s=0.01, rate_limit_burst=4))]
    apps.append(create_app(gateway_settings(test_db, signing_key, upstream, rate_limit_per_s=0.01, rate_limit_burst=4)))
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for app in apps:
            verifier = app.state.verifier
            clients.append(
                await stack.enter_async_context(app_client(app, test_db.engine("gateway"), signing_key, rollback=False))
            )
            app.state.verifier = verifier
        for i in range(8):
            answers.append((await clients[i % 2].get("/api/catalogue/v1/x", headers=h)).status_code)
    for app in apps:
        await app.state.upstreams.close()
    assert answers == [200] * 4 + [429] * 4, answers


async def test_memory_store_keeps_limits_per_process(test_db, signing_key, upstream, tokens):
    async with gateway(
        test_db, signing_key, upstream, rate_limit_per_s=0.01, rate_limit_burst=2, rate_limit_store="memory"
    ) as gw:
        h = tokens.headers("platform", sub="mem")
        codes = [(await gw.get("/api/catalogue/v1/x", headers=h)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
