"""The student app's calls: the summary under one time budget with a slow and a down service, and
the city identity provider's token exchanged for a student token whose sub is the learner_id."""

import asyncio
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.idp import IdpSettings
from services.kit.auth import KeySource, SigningKey, sign_jwt
from services.kit.pii import learner_id
from tests.assessment.asm_support import make_id_number
from tests.gateway.test_gateway import gateway_settings
from tests.support.fixtures import TEST_SECRET, app_client, free_port

IDP_ISSUER = "https://id.sh.gov.example/oidc"
SLOW_S = 5.0


async def certificates(request: Request) -> JSONResponse:
    return JSONResponse(
        {"items": [{"number": "Y1", "learner_id": request.query_params["learner_id"]}], "next_cursor": None}
    )


async def slow_transcript(request: Request) -> JSONResponse:
    await asyncio.sleep(SLOW_S)
    return JSONResponse({"balance": "4.0"})


async def evaluations(request: Request) -> JSONResponse:
    items = [
        {"id": "e2", "total": 81, "created_at": "2026-11-20"},
        {"id": "e1", "total": 70, "created_at": "2026-10-01"},
    ]
    return JSONResponse({"items": items, "next_cursor": None})


async def claims(request: Request) -> JSONResponse:
    return JSONResponse({"items": [{"claim_id": "c1", "status": "eligible"}], "next_cursor": None})


@pytest.fixture(scope="module")
async def stand_in():
    port = free_port()
    app = Starlette(
        routes=[
            Route("/v1/certificates", certificates),
            Route("/v1/accounts/{lid}/transcript", slow_transcript),
            Route("/v1/accounts/{lid}", slow_transcript),
            Route("/v1/points/evaluations", evaluations),
            Route("/v1/subsidy-claims", claims),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    # The gateway gave up on the slow calls long ago: don't wait out their sleep on the way out.
    server.should_exit = server.force_exit = True
    await task


@pytest.fixture
async def student_gw(test_db, signing_key, stand_in):
    settings = gateway_settings(test_db, signing_key, stand_in, summary_budget_s=0.8)
    settings.credit_bank_url = stand_in  # slow, not down
    app = create_app(settings)
    verifier = app.state.verifier
    async with app_client(app, test_db.engine("gateway"), signing_key) as client:
        app.state.verifier = verifier
        yield app, client
    await app.state.upstreams.close()


async def test_summary_answers_within_the_budget_with_a_slow_part_unavailable(student_gw, tokens):
    _, gw = student_gw
    started = time.monotonic()
    r = await gw.get("/api/me/summary", headers=tokens.headers("student", sub="lrn_x"))
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unavailable"] == ["credit"] and body["credit"] is None
    assert body["certificates"] == [{"number": "Y1", "learner_id": "lrn_x"}]
    assert body["subsidy_claims"] == [{"claim_id": "c1", "status": "eligible"}]
    assert body["latest_points_evaluation"] == {"id": "e2", "total": 81, "created_at": "2026-11-20"}
    assert 0.7 < elapsed < SLOW_S / 2, elapsed
    # Server-Timing: each part's duration, the one cut off at the budget marked, and the total
    timing = {}
    for entry in r.headers["server-timing"].split(", "):
        name, *params = entry.split(";")
        timing[name] = dict(p.split("=", 1) for p in params)
    assert set(timing) == {"certificates", "credit", "points", "subsidy_claims", "total"}
    assert timing["credit"]["desc"] == '"unavailable"' and "desc" not in timing["certificates"]
    assert float(timing["credit"]["dur"]) >= 700 and float(timing["total"]["dur"]) >= float(timing["credit"]["dur"])


async def test_summary_with_every_service_down_is_still_200(test_db, signing_key, tokens):
    app = create_app(gateway_settings(test_db, signing_key, "http://127.0.0.1:9", summary_budget_s=2.0))
    verifier = app.state.verifier
    async with app_client(app, test_db.engine("gateway"), signing_key) as gw:
        app.state.verifier = verifier
        r = await gw.get("/api/me/summary", headers=tokens.headers("student", sub="lrn_y"))
    await app.state.upstreams.close()
    assert r.status_code == 200
    assert r.json()["unavailable"] == ["certificates", "credit", "points", "subsidy_claims"]


def idp_token(key: SigningKey, **claims) -> str:
    now = int(time.time())
    base = {"iss": IDP_ISSUER, "aud": "skillpass", "sub": "citizen-77", "iat": now, "exp": now + 300}
    return sign_jwt(key, {**base, **claims}, typ="JWT")


async def test_idp_token_is_exchanged_for_a_student_token_of_the_learner(student_gw, signing_key):
    app, gw = student_gw
    idp_key = SigningKey.generate()  # a second local key pair acting as the city's IdP
    app.state.idp_settings = IdpSettings(issuer=IDP_ISSUER, audience="skillpass")
    app.state.idp_keys = KeySource(static=[idp_key.public_jwk])
    number = make_id_number(7)

    r = await gw.post("/auth/idp-token", data={"subject_token": idp_token(idp_key, id_number=number.lower())})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    claims = await app.state.verifier.verify(token)
    assert claims.role == "student" and claims.sub == learner_id(number, TEST_SECRET)
    me = await gw.get("/api/me/summary", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["learner_id"] == learner_id(number, TEST_SECRET)
    assert number not in r.text

    forged = idp_token(SigningKey.generate(), id_number=number)  # not the IdP's key
    wrong_aud = idp_token(idp_key, id_number=number, aud="another-app")
    no_number = idp_token(idp_key)
    for bad in (forged, wrong_aud, no_number, "not-a-jwt"):
        r = await gw.post("/auth/idp-token", data={"subject_token": bad})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # The IdP token itself is not a skillpass token.
    direct = await gw.get(
        "/api/me/summary", headers={"Authorization": "Bearer " + idp_token(idp_key, id_number=number)}
    )
    assert direct.status_code == 401
