"""The dashboard: admin sign-in with a token, figures and SVG charts from the statistics service."""

from __future__ import annotations

import asyncio
import re

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.fixtures import app_client, free_port, shared_settings_for_tests

ANSWERS = {
    ("certificates", ""): {
        "rows": [],
        "totals": {"issued": 7, "revoked": 1, "suspended": 2, "share_level_3_plus": 0.5},
    },
    ("certificates", "month,level"): {
        "rows": [
            {"month": "2026-10", "level": 4, "issued": 3},
            {"month": "2026-11", "level": 3, "issued": 1},
            {"month": "2026-11", "level": 4, "issued": 3},
        ],
        "totals": {},
    },
    ("certificates", "occupation,occupation_name"): {
        "rows": [
            {"occupation": "6-25-02-05", "occupation_name": "半导体芯片制造工", "issued": 5},
            {"occupation": "4-10-01-05", "occupation_name": "养老护理员", "issued": 2},
        ],
        "totals": {},
    },
    ("certificates", "district,body_kind"): {
        "rows": [
            {"district": "闵行区", "body_kind": "employer", "issued": 5, "revoked": 0, "issued_level_3_plus": 1},
            {"district": "浦东新区", "body_kind": "social", "issued": 2, "revoked": 1, "issued_level_3_plus": 2},
        ],
        "totals": {},
    },
    ("catalogue_coverage", "edition,edition_title"): {
        "rows": [
            {
                "edition": "ed",
                "edition_title": "2026 目录",
                "entries_with_certificates": 2,
                "entries_without_certificates": 8,
            }
        ],
        "totals": {},
    },
    ("graduates", ""): {"rows": [], "totals": {"share_certified": 0.4, "certified": 4, "graduating_students": 10}},
    ("conversions", ""): {"rows": [], "totals": {"credits_net": "4.0", "conversions": 2}},
    ("points", ""): {"rows": [], "totals": {"passed_because_of_skill": 1}},
}
seen_tokens: list[str] = []


async def statistics(request: Request) -> JSONResponse:
    seen_tokens.append(request.headers.get("authorization", ""))
    key = (request.path_params["view"], request.query_params.get("group_by", ""))
    if key not in ANSWERS:  # subsidies: the service fails that part
        return JSONResponse({"status": 500}, status_code=500)
    return JSONResponse({"view": key[0], "group_by": [], "columns": [], **ANSWERS[key]})


@pytest.fixture(scope="module")
async def upstream():
    port = free_port()
    app = Starlette(routes=[Route("/v1/statistics/{view}", statistics)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
async def gw(test_db, signing_key, upstream):
    app = create_app(
        GatewaySettings(
            database_url=test_db.role_urls["gateway"],
            shared=shared_settings_for_tests(),
            signing_key_pem=signing_key.private_pem.decode(),
            statistics_url=upstream,
        )
    )
    verifier = app.state.verifier
    async with app_client(app, test_db.engine("gateway"), signing_key) as client:
        app.state.verifier = verifier
        yield client
    await app.state.upstreams.close()


async def test_sign_in_with_an_admin_token_and_see_figures_and_charts(gw, tokens):
    first = await gw.get("/dashboard")
    assert first.status_code == 200 and 'action="/dashboard/login"' in first.text
    assert "script" not in first.text.lower()
    refused = await gw.post("/dashboard/login", data={"token": tokens("university", org="univ-a")})
    assert refused.status_code == 401 and 'id="login-error"' in refused.text
    assert "set-cookie" not in refused.headers
    admin = tokens("admin")
    signed = await gw.post("/dashboard/login", data={"token": admin})
    assert signed.status_code == 303 and signed.headers["location"] == "/dashboard"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    seen_tokens.clear()
    page = await gw.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert set(seen_tokens) == {f"Bearer {admin}"}  # the admin's own token, to every view
    assert re.search(r'id="fig-issued">7<', html)
    assert "40.0%" in html and "4.0" in html
    # Four charts, each with bars: 3 month-level stacks, 2 occupations, 2 coverage parts, 2 districts.
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert [len(re.findall(r'<rect class="bar"', s)) for s in svgs] == [3, 2, 2, 2]
    assert (
        "6-25-02-05 半导体芯片制造工" in html
        and "闵行区" in html
        and "社会培训评价组织" in html
        and "2026 目录" in html
    )
    assert 'id="unavailable"' in html and "subsidies" in html  # the failed part is named, the rest shown
    assert "script-src" not in page.headers["content-security-policy"]
    out = await gw.post("/dashboard/logout")
    assert out.status_code == 303 and 'skillpass_dashboard=""' in out.headers["set-cookie"]
