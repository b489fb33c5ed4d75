"""The gateway's pages without a browser: /verify against a stand-in assessment (its answers,
refusals and absence), and the definitions /docs and /redoc read."""

import asyncio
import contextlib
import re

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from tests.gateway.test_gateway import gateway_settings
from tests.support.fixtures import app_client, free_port

NUMBER = "Y000031000001263000001"
SEEN: dict[str, list] = {"verify": [], "credentials": []}
STATE = {"credentials": "missing"}


async def fake_verify(request: Request) -> JSONResponse:
    q = request.query_params
    SEEN["verify"].append({"query": dict(q), "forwarded_for": request.headers.get("x-forwarded-for")})
    if q["number"] == "SLOW":
        return JSONResponse({"title": "slow down"}, status_code=429, headers={"Retry-After": "7"})
    if q["number"] == "BAD":
        return JSONResponse({"title": "Invalid input"}, status_code=422)
    if q["number"] != NUMBER or q["name"] != "王小明":
        return JSONResponse({"found": False})
    return JSONResponse(
        {
            "found": True,
            "status": "suspended",
            "occupation_name": "工业机器人系统运维员",
            "level": 4,
            "issued_on": "2026-11-20",
            "body_name": "示范大学",
            "holder_name_masked": "王**",
            "learner_id": "lrn_must_not_show",
        }
    )


async def fake_credentials(request: Request) -> Response:
    SEEN["credentials"].append({"content_type": request.headers.get("content-type"), "body": await request.json()})
    if STATE["credentials"] == "missing":
        return JSONResponse({"title": "Not Found"}, status_code=404)
    if STATE["credentials"] == "verified":
        return JSONResponse(
            {
                "verified": True,
                "checks": [{"check": "status", "result": "pass", "message": "valid"}],
                "credential": {
                    "name": "职业技能等级证书：养老护理员 四级/中级工",
                    "certificate_number": NUMBER,
                    "holder_name_masked": "张**",
                    "issuer_name": "示范中心",
                    "awarded_date": "2026-06-30T00:00:00+08:00",
                    "valid_until": None,
                    "holder_id": "must-not-show",
                },
            }
        )
    return JSONResponse(
        {
            "verified": False,
            "checks": [
                {"check": "signature", "result": "pass", "message": "signed by key k1"},
                {"check": "status", "result": "fail", "message": "revoked <b>now</b>"},
            ],
        }
    )


async def fake_openapi(request: Request) -> JSONResponse:
    ok = {"responses": {"200": {"description": "ok"}}}
    return JSONResponse(
        {
            "openapi": "3.1.0",
            "info": {"title": "fake", "version": "1"},
            "servers": [{"url": "/somewhere-else"}],
            "paths": {"/v1/verify": {"get": ok}, "/v1/certificates": {"get": ok, "parameters": []}},
        }
    )


@pytest.fixture(scope="module")
async def assessment():
    port = free_port()
    app = Starlette(
        routes=[
            Route("/v1/verify", fake_verify),
            Route("/v1/credentials/verify", fake_credentials, methods=["POST"]),
            Route("/openapi.json", fake_openapi),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
async def page(test_db, signing_key, assessment):
    for seen in SEEN.values():
        seen.clear()
    STATE["credentials"] = "missing"
    async with page_client(test_db, signing_key, assessment, burst=100) as client:
        yield client


@contextlib.asynccontextmanager
async def page_client(test_db, signing_key, assessment, *, burst: int):
    app = create_app(gateway_settings(test_db, signing_key, assessment, rate_limit_per_s=0.01, rate_limit_burst=burst))
    async with app_client(app, test_db.engine("gateway"), signing_key) as client:
        yield client
    await app.state.upstreams.close()


async def test_a_check_shows_only_what_the_api_answers(page):
    r = await page.post("/verify", data={"mode": "number", "number": NUMBER, "name": "王小明"})
    assert r.status_code == 200
    html = r.text
    shown = (
        "证书存在,但当前不可用",
        "已暂停",
        "王**",
        "工业机器人系统运维员",
        "四级 / 中级工",
        "2026-11-20",
        "示范大学",
    )
    for text in shown:
        assert text in html
    assert "lrn_must_not_show" not in html
    assert SEEN["verify"] == [{"query": {"number": NUMBER, "name": "王小明"}, "forwarded_for": "127.0.0.1"}]
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script" not in csp and "<script" not in html
    assert (r.headers["cache-control"], r.headers["x-frame-options"]) == ("no-store", "DENY")
    english = await page.post("/verify?lang=en", data={"number": NUMBER, "name": "王小明"})
    assert "Suspended" in english.text and "Level 4 (intermediate worker)" in english.text
    assert english.headers["content-language"] == "en"


async def test_a_wrong_name_and_bad_input(page):
    wrong = await page.post("/verify", data={"number": NUMBER, "name": "王大明"})
    assert wrong.status_code == 200 and "未查到与该编号和姓名相符的证书" in wrong.text and "王**" not in wrong.text
    empty = await page.post("/verify", data={"number": NUMBER, "name": " "})
    too_long = await page.post("/verify", data={"number": NUMBER, "name": "王" * 101})
    bad = await page.post("/verify", data={"number": "BAD", "name": "王小明"})
    for r in (empty, too_long, bad):
        assert r.status_code == 422 and "输入有误" in r.text
    assert [s["query"]["number"] for s in SEEN["verify"]] == [NUMBER, "BAD"]  # nothing asked for bad input


async def test_refusals_and_an_absent_service_read_as_pages(page, test_db, signing_key):
    slow = await page.post("/verify?lang=en", data={"number": "SLOW", "name": "王小明"})
    assert slow.status_code == 429 and slow.headers["retry-after"] == "7"
    assert "Too many checks; please try again in 7 s." in slow.text
    # In memory: the page fixture's rolled-back transaction still holds this address's PostgreSQL bucket row.
    app = create_app(gateway_settings(test_db, signing_key, "http://127.0.0.1:9", rate_limit_store="memory"))
    async with app_client(app, test_db.engine("gateway"), signing_key) as client:
        down = await client.post("/verify", data={"number": NUMBER, "name": "王小明"})
    await app.state.upstreams.close()
    assert down.status_code == 503 and "查验服务暂时不可用" in down.text


async def test_the_page_shares_the_api_rate_limit(test_db, signing_key, assessment):
    """Burst 6 for this address: pages and anonymous API calls draw from one bucket."""
    async with page_client(test_db, signing_key, assessment, burst=6) as page:
        codes = [(await page.get("/verify")).status_code for _ in range(3)]
        api = await page.get("/api/assessment/v1/verify", params={"number": NUMBER, "name": "x"})
        codes.append(api.status_code)
        codes += [(await page.post("/verify", data={"number": NUMBER, "name": "x"})).status_code for _ in range(3)]
        limited = await page.get("/verify?lang=en")
    assert codes == [200, 200, 200, 200, 200, 200, 429]
    assert limited.status_code == 429 and "Too many checks" in limited.text and int(limited.headers["retry-after"]) >= 1


async def test_a_credential_while_the_endpoint_is_missing_and_once_it_answers(page):
    missing = await page.post("/verify", files={"credential": (None, "eyJ.a.b"), "mode": (None, "credential")})
    assert missing.status_code == 200 and "凭证查验功能尚未开通" in missing.text
    STATE["credentials"] = "present"
    answered = await page.post(
        "/verify?lang=en",
        data={"mode": "credential"},
        files={"file": ("cred.jwt", b"  eyJ.c.d\n", "application/vc+jwt")},
    )
    assert answered.status_code == 200
    assert "Credential not verified" in answered.text and "signed by key k1" in answered.text
    assert "revoked &lt;b&gt;now&lt;/b&gt;" in answered.text  # the service's words are escaped
    assert '<tr class="check-pass" data-check="signature"><td>Signature</td>' in answered.text
    for pasted in ('{"credential": {"a": 1}, "jwt": "eyJ.e.f", "x": 2}', '{"a": 1, "jwt": "eyJ.g.h"}', '{"a": 1}'):
        assert (await page.post("/verify", data={"mode": "credential", "credential": pasted})).status_code == 200
    assert [s["body"] for s in SEEN["credentials"]] == [
        {"credential": "eyJ.a.b"},
        {"credential": "eyJ.c.d"},
        {"credential": {"a": 1}, "jwt": "eyJ.e.f"},  # already the request's form
        {"credential": {"a": 1}, "jwt": "eyJ.g.h"},  # a payload carrying its JWT
        {"credential": {"a": 1}},  # assessment answers 422 for this one: no JWT to check
    ]
    assert "Credential not verified" in answered.text and "示范中心" not in answered.text
    STATE["credentials"] = "verified"
    verified = await page.post("/verify", data={"mode": "credential", "credential": "eyJ.i.j"})
    for shown in ("凭证验证通过", "养老护理员", NUMBER, "张**", "示范中心", "2026-06-30"):
        assert shown in verified.text
    assert "must-not-show" not in verified.text and "T00:00" not in verified.text
    assert {s["content_type"] for s in SEEN["credentials"]} == {"application/json"}
    nothing = await page.post("/verify", data={"mode": "credential", "credential": ""})
    huge = await page.post("/verify", data={"mode": "credential", "credential": "x" * 70_000})
    assert nothing.status_code == huge.status_code == 422 and "请粘贴或上传一份凭证" in huge.text


async def test_definitions_go_through_the_gateway_with_a_bearer_scheme(page):
    spec = (await page.get("/docs/openapi/assessment.json")).json()
    assert spec["servers"] == [{"url": "/api/assessment"}]
    bearer = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert spec["components"]["securitySchemes"]["bearer"] == bearer
    assert spec["paths"]["/v1/verify"]["get"]["security"] == []  # the proxy lets it through without a token
    assert spec["paths"]["/v1/certificates"]["get"]["security"] == [{"bearer": []}]
    assert spec["paths"]["/v1/certificates"]["parameters"] == []
    own = (await page.get("/docs/openapi/gateway.json")).json()
    assert own["servers"] == [{"url": "/"}]
    assert own["paths"]["/auth/token"]["post"]["security"] == []
    assert own["paths"]["/api/gateway/v1/clients"]["post"]["security"] == [{"bearer": []}]
    assert (await page.get("/docs/openapi/nope.json")).status_code == 404
    assert (await page.get("/docs?service=nope")).status_code == 404
    redoc = await page.get("/redoc?service=assessment")
    assert 'data-spec-url="/docs/openapi/assessment.json"' in redoc.text
    assert '<script src="/docs/static/redoc.standalone.js">' in redoc.text
    assert "'unsafe-inline'" not in redoc.headers["content-security-policy"].split("script-src")[1].split(";")[0]


async def test_the_swagger_ui_is_version_5():
    """Swagger UI 4 cannot read OpenAPI 3.1 (what FastAPI emits); the assets must stay on 5."""
    from gateway.docs import SWAGGER_ASSETS

    bundle = (SWAGGER_ASSETS / "swagger-ui-bundle.js").read_text()
    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', bundle)
