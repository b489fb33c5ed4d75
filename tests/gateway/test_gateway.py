"""The gateway: client credentials, JWKS, client registration, the proxy's checks and limits."""

import asyncio
import base64
import contextlib

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.kit.test_auth import bad_tokens
from tests.support.fixtures import app_client, free_port, shared_settings_for_tests


async def certificates(request: Request) -> JSONResponse:
    learner = request.query_params["learner_id"]
    return JSONResponse(
        {
            "items": [
                {
                    "number": "Y000031000001263000001",
                    "learner_id": learner,
                    "seen_token": request.headers.get("authorization", "")[:7],
                }
            ],
            "next_cursor": None,
        }
    )


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "path": request.url.path,
            "query": request.url.query,
            "method": request.method,
            "body_len": len(body),
            "request_id": request.headers.get("x-request-id"),
            "forwarded_for": request.headers.get("x-forwarded-for"),
            "authorization": bool(request.headers.get("authorization")),
        },
        headers={"x-upstream": "yes"},
    )


async def big(request: Request) -> StreamingResponse:
    async def chunks():
        for _ in range(40):
            yield b"x" * 65536

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@pytest.fixture(scope="module")
async def upstream():
    """A real HTTP server on loopback standing in for a service."""
    port = free_port()
    app = Starlette(
        routes=[
            Route("/big", big),
            Route("/v1/certificates", certificates),
            Route("/{rest:path}", echo, methods=["GET", "POST", "PUT"]),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def gateway_settings(test_db, signing_key, upstream_url, **kw):
    return GatewaySettings(
        database_url=test_db.role_urls["gateway"],
        shared=shared_settings_for_tests(),
        signing_key_pem=signing_key.private_pem.decode(),
        catalogue_url=upstream_url,
        assessment_url=upstream_url,
        credit_bank_url="http://127.0.0.1:9",
        incentives_url=upstream_url,
        **kw,
    )


@pytest.fixture
async def gw(test_db, signing_key, upstream):
    app = create_app(gateway_settings(test_db, signing_key, upstream, max_body_bytes=100_000))
    verifier = app.state.verifier
    async with app_client(app, test_db.engine("gateway"), signing_key) as client:
        app.state.verifier = verifier  # the gateway trusts its own key, not the test JWKS
        yield client
    await app.state.upstreams.close()


async def test_client_credentials_form_and_basic(gw, tokens):
    r = await gw.post(
        "/api/gateway/v1/clients",
        json={"name": "Univ A SIS", "role": "university", "org": "univ-a", "scopes": ["batches:write"]},
        headers=tokens.headers("admin"),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["client_id"].startswith("cl_") and len(created["client_secret"]) >= 32
    form = await gw.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        },
    )
    assert form.status_code == 200, form.text
    assert form.json()["token_type"] == "Bearer" and form.json()["expires_in"] == 3600
    basic = base64.b64encode(f"{created['client_id']}:{created['client_secret']}".encode()).decode()
    r = await gw.post(
        "/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert r.status_code == 200
    token = r.json()["access_token"]
    echo = await gw.get("/api/catalogue/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert echo.status_code == 200 and echo.json()["path"] == "/v1/whoami"


async def test_wrong_secret_and_grant(gw, tokens):
    created = (
        await gw.post(
            "/api/gateway/v1/clients", json={"name": "P", "role": "platform"}, headers=tokens.headers("admin")
        )
    ).json()
    r = await gw.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": created["client_id"], "client_secret": "wrong"},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await gw.post("/auth/token", data={"grant_type": "password", "client_id": "x", "client_secret": "y"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


async def test_only_admin_registers_clients(gw, tokens):
    r = await gw.post(
        "/api/gateway/v1/clients", json={"name": "x", "role": "admin"}, headers=tokens.headers("university", org="u")
    )
    assert r.status_code == 403
    r = await gw.post(
        "/api/gateway/v1/clients", json={"name": "x", "role": "university"}, headers=tokens.headers("admin")
    )
    assert r.status_code == 422 and "org" in r.text


async def test_jwks_publishes_the_signing_key(gw, signing_key):
    keys = (await gw.get("/.well-known/jwks.json")).json()["keys"]
    assert keys == [signing_key.public_jwk] and "d" not in keys[0]


@pytest.mark.parametrize("kind", ["tampered", "expired", "alg_none", "hs256", "wrong_audience", "other_key"])
async def test_gateway_refuses_bad_tokens(gw, signing_key, kind):
    r = await gw.get(
        "/api/catalogue/v1/occupations", headers={"Authorization": f"Bearer {bad_tokens(signing_key)[kind]}"}
    )
    assert r.status_code == 401 and r.json()["type"].endswith("/unauthorized")


async def test_proxy_passes_path_query_body_and_request_id(gw, tokens):
    r = await gw.post(
        "/api/assessment/v1/batches?mode=partial",
        content=b"a" * 5000,
        headers={**tokens.headers("university", org="u"), "X-Request-ID": "rid-1", "Connection": "keep-alive"},
    )
    body = r.json()
    assert (body["path"], body["query"], body["method"], body["body_len"]) == (
        "/v1/batches",
        "mode=partial",
        "POST",
        5000,
    )
    assert body["request_id"] == "rid-1" and body["authorization"] is True
    assert body["forwarded_for"] == "127.0.0.1"
    assert r.headers["x-upstream"] == "yes" and r.headers["x-request-id"] == "rid-1"


async def test_proxy_streams_large_answers(gw, tokens):
    r = await gw.get("/api/catalogue/big", headers=tokens.headers("admin"))
    assert r.status_code == 200 and len(r.content) == 40 * 65536


async def test_public_paths_need_no_token(gw):
    r = await gw.get("/api/assessment/v1/verify?number=x&name=y")
    assert r.status_code == 200 and r.json()["authorization"] is False


async def test_credential_verification_and_context_need_no_token(gw):
    r = await gw.post("/api/assessment/v1/credentials/verify", json={"credential": "x"})
    assert r.status_code == 200 and r.json()["authorization"] is False
    r = await gw.get("/api/assessment/v1/contexts/skillpass-v1")
    assert r.status_code == 200 and r.json()["authorization"] is False


async def test_unknown_service_404_and_down_service_503(gw, tokens):
    r = await gw.get("/api/nope/v1/x", headers=tokens.headers("admin"))
    assert r.status_code == 404
    r = await gw.get("/api/credit-bank/v1/programmes", headers=tokens.headers("admin"))
    assert r.status_code == 503 and r.json()["type"].endswith("/upstream-unavailable")


async def test_body_limit_413(gw, tokens):
    r = await gw.post("/api/catalogue/v1/x", content=b"a" * 100_001, headers=tokens.headers("admin"))
    assert r.status_code == 413

    async def stream():
        for _ in range(30):
            yield b"a" * 10_000

    r = await gw.post("/api/catalogue/v1/x", content=stream(), headers=tokens.headers("admin"))
    assert r.status_code == 413


async def test_rate_limit_429_with_retry_after(test_db, signing_key, upstream, tokens):
    app = create_app(gateway_settings(test_db, signing_key, upstream, rate_limit_per_s=1, rate_limit_burst=3))
    verifier = app.state.verifier
    async with app_client(app, test_db.engine("gateway"), signing_key) as client:
        app.state.verifier = verifier
        h = tokens.headers("platform", sub="greedy")
        codes = [(await client.get("/api/catalogue/v1/x", headers=h)).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = await client.get("/api/catalogue/v1/x", headers=h)
        assert int(r.headers["retry-after"]) >= 1
        other = await client.get("/api/catalogue/v1/x", headers=tokens.headers("platform", sub="modest"))
        assert other.status_code == 200
    with contextlib.suppress(Exception):
        await app.state.upstreams.close()


async def test_docs_are_served_without_a_cdn(gw):
    r = await gw.get("/docs")
    page = r.text
    assert '<script src="/docs/static/swagger-ui-bundle.js">' in page and "http" not in page.split("<body>")[1]
    assert 'data-spec-url="/docs/openapi/gateway.json"' in page
    assert "script-src 'self';" in r.headers["content-security-policy"]
    js = await gw.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000


async def test_me_summary_reports_unavailable_parts_instead_of_failing(gw, tokens):
    r = await gw.get("/api/me/summary", headers=tokens.headers("student", sub="lrn_abc"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["learner_id"] == "lrn_abc"
    assert body["certificates"] == [
        {"number": "Y000031000001263000001", "learner_id": "lrn_abc", "seen_token": "Bearer "}
    ]
    # credit-bank is down in this fixture; the stand-in incentives has no such lists.
    assert body["unavailable"] == ["credit", "points", "subsidy_claims"]
    assert body["credit"] is None and body["points"] is None


async def test_me_summary_is_for_students(gw, tokens):
    r = await gw.get("/api/me/summary", headers=tokens.headers("admin"))
    assert r.status_code == 403
