"""End to end: the five real processes on a real PostgreSQL; client → gateway → service → DB."""

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest

from services.kit.auth import SigningKey, mint_token
from skillpass.registry import GATEWAY
from tests.kit.test_auth import bad_tokens
from tests.support.platform import running_platform

ISSUER, AUDIENCE = "https://skillpass.local/gateway", "skillpass"


@pytest.fixture(scope="module")
async def platform(pg_server, test_db, tmp_path_factory):
    """A platform of this module's own: its tests read whole feeds and list pages and spend the
    /verify limit of 127.0.0.1. Modules that tolerate others' data use ``shared_platform``."""
    async with running_platform(pg_server, test_db, tmp_path_factory.mktemp("e2e")) as plat:
        yield plat


async def test_token_from_auth_token_works_through_the_gateway(platform):
    urls, key = platform["urls"], platform["key"]
    gw = urls["gateway"]
    admin = mint_token(key, sub="e2e-admin", role="admin", issuer=ISSUER, audience=AUDIENCE)
    async with httpx.AsyncClient(base_url=gw, timeout=10) as client:
        ready = (await client.get("/readyz")).json()
        assert ready == {
            "status": "ready",
            "services": {
                "catalogue": "ready",
                "assessment": "ready",
                "credit-bank": "ready",
                "incentives": "ready",
                "statistics": "ready",
            },
        }
        created = (
            await client.post(
                "/api/gateway/v1/clients",
                json={"name": "Univ A", "role": "university", "org": "univ-e2e"},
                headers={"Authorization": f"Bearer {admin}"},
            )
        ).json()
        tok = (
            await client.post(
                "/auth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": created["client_id"],
                    "client_secret": created["client_secret"],
                },
            )
        ).json()
        univ = {"Authorization": f"Bearer {tok['access_token']}", "X-Request-ID": "e2e-req-1"}
        r = await client.post(
            "/api/credit-bank/v1/programmes",
            headers=univ,
            json={
                "university_org": "univ-e2e",
                "code": "CS-01",
                "name": "Computer science",
                "graduation_credits": "160",
            },
        )
        assert r.status_code == 201, r.text
        assert r.headers["x-request-id"] == "e2e-req-1"
        programme = r.json()
        assert (programme["max_converted_ratio"], programme["graduation_credits"]) == ("0.500", "160.0")
        got = await client.get(f"/api/credit-bank/v1/programmes/{programme['id']}", headers=univ)
        assert got.json() == programme
        # Another university cannot see it: 404, not 403.
        other = mint_token(key, sub="x", role="university", org="univ-other", issuer=ISSUER, audience=AUDIENCE)
        hidden = await client.get(
            f"/api/credit-bank/v1/programmes/{programme['id']}", headers={"Authorization": f"Bearer {other}"}
        )
        assert hidden.status_code == 404
        # The change reached the feed, read by the platform through the gateway.
        platform_tok = mint_token(key, sub="city", role="platform", issuer=ISSUER, audience=AUDIENCE)
        feed = await client.get("/api/credit-bank/v1/events", headers={"Authorization": f"Bearer {platform_tok}"})
        assert [e["subject"] for e in feed.json()["events"]] == [f"programme:{programme['id']}"]
        for path in ("/api/catalogue/v1/occupations", "/api/incentives/v1/rulesets"):
            r = await client.get(path, headers=univ)
            assert r.status_code == 200 and "items" in r.json()


@pytest.mark.parametrize("kind", ["tampered", "expired", "alg_none", "hs256"])
async def test_bad_tokens_get_401_at_gateway_and_service(platform, kind):
    token = bad_tokens(platform["key"])[kind]
    async with httpx.AsyncClient(timeout=10) as client:
        via_gw = await client.get(
            platform["urls"]["gateway"] + "/api/catalogue/v1/occupations", headers={"Authorization": f"Bearer {token}"}
        )
        direct = await client.get(
            platform["urls"]["catalogue"] + "/v1/occupations", headers={"Authorization": f"Bearer {token}"}
        )
    assert via_gw.status_code == direct.status_code == 401
    assert via_gw.json()["type"] == direct.json()["type"] == "https://skillpass.sh.gov.cn/problems/unauthorized"


async def test_service_refetches_jwks_and_accepts_gateway_tokens_directly(platform):
    token = mint_token(platform["key"], sub="a", role="admin", issuer=ISSUER, audience=AUDIENCE)
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(
            platform["urls"]["incentives"] + "/v1/rulesets", headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200 and r.json()["next_cursor"] is None


def test_cli_token_prints_a_bare_jwt(tmp_path):
    env = {**os.environ, "SKILLPASS_GATEWAY_SIGNING_KEY_PATH": str(tmp_path / "k.pem")}
    out = subprocess.run(
        [sys.executable, "-m", "skillpass.cli", "token", "--role", "university", "--org", "u1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    from jose import jwt

    claims = jwt.decode(
        out, SigningKey.load_or_create(tmp_path / "k.pem").public_jwk, algorithms=["ES256"], audience=AUDIENCE
    )
    assert (claims["role"], claims["org"], claims["iss"]) == ("university", "u1", ISSUER)
    assert out.count(".") == 2 and "\n" not in out
    assert GATEWAY.port == 8000


async def test_results_become_verifiable_certificates_across_services(platform):
    """University → gateway → assessment → (service token) catalogue → certificate → public
    verification; the catalogue then counts the certificate from assessment's feed."""
    from tests.assessment.asm_support import make_id_number, make_uscc

    key, gw = platform["key"], platform["urls"]["gateway"]
    admin = {"Authorization": "Bearer " + mint_token(key, sub="a", role="admin", issuer=ISSUER, audience=AUDIENCE)}
    univ = {
        "Authorization": "Bearer "
        + mint_token(key, sub="sis", role="university", org="univ-flow", issuer=ISSUER, audience=AUDIENCE)
    }
    async with httpx.AsyncClient(base_url=gw, timeout=20) as client:
        body = (
            await client.post(
                "/api/assessment/v1/bodies",
                headers=admin,
                json={
                    "name": "E2E 大学",
                    "uscc": make_uscc(424242),
                    "kind": "employer",
                    "university_org": "univ-flow",
                    "district": "徐汇区",
                },
            )
        ).json()
        filing = await client.post(
            f"/api/assessment/v1/bodies/{body['id']}/filings",
            headers=admin,
            json={
                "filing_no": "E2E-2026-1",
                "scope": [{"occupation_code": "6-25-02-05", "levels": [3, 4]}],
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
            },
        )
        assert filing.status_code == 201, filing.text  # the catalogue confirmed the occupation exists
        unknown = await client.post(
            f"/api/assessment/v1/bodies/{body['id']}/filings",
            headers=admin,
            json={
                "filing_no": "E2E-2026-2",
                "scope": [{"occupation_code": "6-99-99-98", "levels": [3]}],
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
            },
        )
        assert unknown.status_code == 422

        def rec(ext: str, n: int, name: str, practical: int) -> dict:
            return {
                "external_id": ext,
                "occupation_code": "6-25-02-05",
                "level": 3,
                "exam_date": "2026-11-20",
                "theory_score": 80,
                "practical_score": practical,
                "candidate": {
                    "id_number": make_id_number(n),
                    "name": name,
                    "student_no": f"S{n}",
                    "school_org": "univ-flow",
                    "graduation_year": 2027,
                    "major": "微电子",
                },
            }

        batch = await client.post(
            "/api/assessment/v1/batches",
            headers={**univ, "Idempotency-Key": "e2e-1"},
            json={
                "body_id": body["id"],
                "mode": "partial",
                "records": [rec("r1", 1, "王小明", 75), rec("r2", 2, "李雷", 40)],
            },
        )
        assert batch.status_code == 201, batch.text
        result = batch.json()
        assert (result["accepted"], result["rejected"]) == (2, 0)
        number = result["rows"][0]["certificate_number"]
        assert number.startswith("Y000031") and len(number) == 22
        assert result["rows"][1].get("certificate_number") is None  # a fail is stored without a certificate
        cert = (await client.get(f"/api/assessment/v1/certificates/{number}", headers=univ)).json()
        assert cert["in_catalogue_on_issue"] is True and cert["status"] == "valid"

        right = (await client.get("/api/assessment/v1/verify", params={"number": number, "name": "王小明"})).json()
        wrong = (await client.get("/api/assessment/v1/verify", params={"number": number, "name": "王大明"})).json()
        assert right["found"] is True and right["holder_name_masked"] == "王**"
        assert wrong["found"] is False

        platform_h = {
            "Authorization": "Bearer " + mint_token(key, sub="city", role="platform", issuer=ISSUER, audience=AUDIENCE)
        }
        deadline = time.monotonic() + 15
        while True:  # the catalogue's poller reads assessment's feed (through its own service token)
            events = (await client.get("/api/catalogue/v1/events", params={"limit": 1000}, headers=platform_h)).json()[
                "events"
            ]
            supply = [e for e in events if e["type"] == "catalogue.certificate_supply.updated"]
            if supply or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert supply and "6-25-02-05" in supply[0]["data"]["occupations"] and supply[0]["data"]["issued"] >= 1

        # The holder's app: one summary through the gateway with the student's own token.
        from services.kit.pii import learner_id

        me = learner_id(make_id_number(1), platform["dev"].learner_id_key)
        student = {
            "Authorization": "Bearer " + mint_token(key, sub=me, role="student", issuer=ISSUER, audience=AUDIENCE)
        }
        summary = (await client.get("/api/me/summary", headers=student)).json()
        assert [c["number"] for c in summary["certificates"]] == [number]
        assert "certificates" not in summary["unavailable"]

        # The holder takes the certificate away; an employer checks it through the gateway, no token.
        vc = await client.get(f"/api/assessment/v1/certificates/{number}/credential", headers=student)
        assert vc.status_code == 200, vc.text
        checked = await client.post("/api/assessment/v1/credentials/verify", json={"credential": vc.text})
        assert checked.status_code == 200, checked.text
        assert checked.json()["verified"] is True, checked.json()
        assert {c["result"] for c in checked.json()["checks"]} == {"pass"}


async def test_credit_bank_deposit_convert_summary_and_revocation(platform):
    """Student → gateway → credit bank → (service token) assessment; credits on the summary; a revocation
    in assessment reverses them through the feed."""
    from services.kit.pii import learner_id
    from tests.assessment.asm_support import make_id_number, make_uscc

    key, gw = platform["key"], platform["urls"]["gateway"]

    def bearer(**claims: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint_token(key, issuer=ISSUER, audience=AUDIENCE, **claims)}

    admin, univ = bearer(sub="a", role="admin"), bearer(sub="sis", role="university", org="univ-credit")
    async with httpx.AsyncClient(base_url=gw, timeout=20) as client:
        body = (
            await client.post(
                "/api/assessment/v1/bodies",
                headers=admin,
                json={
                    "name": "E2E 学分大学",
                    "uscc": make_uscc(434343),
                    "kind": "employer",
                    "university_org": "univ-credit",
                    "district": "闵行区",
                },
            )
        ).json()
        await client.post(
            f"/api/assessment/v1/bodies/{body['id']}/filings",
            headers=admin,
            json={
                "filing_no": "E2E-CB-1",
                "scope": [{"occupation_code": "6-25-02-05", "levels": [3, 4]}],
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
            },
        )
        id_number = make_id_number(77)
        batch = await client.post(
            "/api/assessment/v1/batches",
            headers=univ,
            json={
                "body_id": body["id"],
                "mode": "partial",
                "records": [
                    {
                        "external_id": "cb-1",
                        "occupation_code": "6-25-02-05",
                        "level": 4,
                        "exam_date": "2026-11-20",
                        "theory_score": 80,
                        "practical_score": 80,
                        "candidate": {
                            "id_number": id_number,
                            "name": "赵学分",
                            "student_no": "S77",
                            "school_org": "univ-credit",
                            "graduation_year": 2027,
                            "major": "微电子",
                        },
                    }
                ],
            },
        )
        number = batch.json()["rows"][0]["certificate_number"]
        me = learner_id(id_number, platform["dev"].learner_id_key)
        student = bearer(sub=me, role="student")

        programme = await client.post(
            "/api/credit-bank/v1/programmes",
            headers=univ,
            json={"university_org": "univ-credit", "code": "MIC", "name": "微电子", "graduation_credits": "150"},
        )
        assert programme.status_code == 201, programme.text
        pid = programme.json()["id"]
        rule = await client.post(
            "/api/credit-bank/v1/rules",
            headers=univ,
            json={
                "programme_id": pid,
                "occupation_code": "6-25-02-05",
                "min_level": 4,
                "credits": "4",
                "course_codes": ["MIC-201"],
                "valid_from": "2026-01-01",
            },
        )
        assert rule.status_code == 201, rule.text
        outcome = await client.post(
            "/api/credit-bank/v1/outcomes",
            headers={**student, "Idempotency-Key": "e2e-cb-1"},
            json={"learner_id": me, "kind": "certificate", "certificate_number": number},
        )
        assert outcome.status_code == 201, outcome.text  # checked with assessment, with the bank's own token
        conversion = await client.post(
            "/api/credit-bank/v1/conversions",
            headers={**student, "Idempotency-Key": "e2e-cb-2"},
            json={"learner_id": me, "outcome_id": outcome.json()["outcome_id"], "programme_id": pid},
        )
        assert conversion.status_code == 201, conversion.text
        assert (conversion.json()["credits"], conversion.json()["course_codes"]) == ("4.0", ["MIC-201"])
        summary = (await client.get("/api/me/summary", headers=student)).json()
        assert "credit" not in summary["unavailable"]
        assert summary["credit"]["balance"] == "4.0"
        assert summary["credit"]["programmes"][0]["courses"] == ["MIC-201"]

        revoked = await client.post(
            f"/api/assessment/v1/certificates/{number}/revoke", headers=admin, json={"reason": "e2e fraud"}
        )
        assert revoked.status_code == 200, revoked.text
        deadline = time.monotonic() + 15
        while True:  # the credit bank's follower reads assessment's feed
            account = (await client.get(f"/api/credit-bank/v1/accounts/{me}", headers=student)).json()
            if account["balance"] == "0.0" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert (account["balance"], account["converted"]) == ("0.0", 0)
        ledger = (await client.get(f"/api/credit-bank/v1/accounts/{me}/ledger", headers=student)).json()["items"]
        assert [e["kind"] for e in ledger] == ["deposit", "convert", "reverse"]


async def test_gateway_hop_security_through_the_real_processes(platform):
    """Issue 11 through uvicorn, as an outside probe saw it: ``..%2F`` does not reach /metrics; ``%3F`` stays
    in the path and no redirect names a service's address; answers carry one date and one server."""
    gw = platform["urls"]["gateway"]
    internal = [u.split("//")[1] for n, u in platform["urls"].items() if n != "gateway"]
    async with httpx.AsyncClient(base_url=gw, timeout=10) as client:
        sneaky = await client.get("/api/assessment/v1/status-lists/..%2F..%2Fmetrics")
        assert sneaky.status_code == 401 and "http_requests_total" not in sneaky.text
        token = mint_token(platform["key"], sub="a", role="admin", issuer=ISSUER, audience=AUDIENCE)
        admin = {"Authorization": f"Bearer {token}"}
        slash = await client.get("/api/catalogue/v1/occupations/", headers=admin)
        question = await client.get("/api/catalogue/v1/occupations/%3F/", headers=admin)
        for r in (slash, question):
            assert not any(a in r.headers.get("location", "") + r.text for a in internal)
            assert r.headers.get("location", "/api/").startswith("/api/")
        assert slash.headers["location"] == "/api/catalogue/v1/occupations"
        plain = await client.get("/api/catalogue/v1/occupations", headers=admin)
        assert len(plain.headers.get_list("date")) == 1 and len(plain.headers.get_list("server")) == 1
        nul = await client.get("/api/assessment/v1/verify", params={"number": "\x00", "name": "x"})
        assert nul.status_code == 422 and nul.json()["errors"][0]["loc"] == ["query", "number"]
        assert nul.headers["x-request-id"]


async def test_made_up_forwarded_for_does_not_escape_the_verification_limit(platform):
    """Finding 1: the gateway forwarded the client's X-Forwarded-For and uvicorn believed it on
    loopback; a random header per call passed hundreds of /verify calls a second."""
    async with httpx.AsyncClient(base_url=platform["urls"]["gateway"], timeout=10) as client:
        codes = [
            (
                await client.get(
                    "/api/assessment/v1/verify",
                    params={"number": "Y0000000000000000000000", "name": "x"},
                    headers={"X-Forwarded-For": f"203.0.113.{i % 250}, 198.51.{i // 250}.{i % 250}"},
                )
            ).status_code
            for i in range(40)
        ]
    # Burst 20 at one a second: a spoofed address per call bought hundreds a second before.
    assert codes.count(429) >= 15, codes
