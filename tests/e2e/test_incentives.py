"""End to end: points and a subsidy claim on the real processes; incentives asks assessment and the
catalogue with its own service token, and reads assessment's feed for a revocation."""

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from services.kit.auth import mint_token
from tests.e2e.test_platform import AUDIENCE, ISSUER

DATA = Path(__file__).parents[2] / "services/incentives/data"


@pytest.fixture(scope="module")
def platform(shared_platform):
    """The session's shared platform: each test's certificate, learner, org and body (USCC) are its
    own and unlike any other module's."""
    return shared_platform


def bearer(key, **claims):
    return {"Authorization": "Bearer " + mint_token(key, issuer=ISSUER, audience=AUDIENCE, **claims)}


async def _certificate(client, admin, univ, n, *, org="univ-inc", district="闵行区", uscc=545454):
    from tests.assessment.asm_support import make_id_number, make_uscc

    body = (
        await client.post(
            "/api/assessment/v1/bodies",
            headers=admin,
            json={
                "name": "E2E 激励大学",
                "uscc": make_uscc(uscc),
                "kind": "employer",
                "university_org": org,
                "district": district,
            },
        )
    ).json()
    await client.post(
        f"/api/assessment/v1/bodies/{body['id']}/filings",
        headers=admin,
        json={
            "filing_no": f"E2E-INC-{n}",
            "scope": [{"occupation_code": "6-25-02-05", "levels": [3]}],
            "valid_from": "2026-01-01",
            "valid_to": "2027-12-31",
        },
    )
    record = {
        "external_id": "inc-1",
        "occupation_code": "6-25-02-05",
        "level": 3,
        "exam_date": "2026-11-20",
        "theory_score": 80,
        "practical_score": 85,
        "candidate": {
            "id_number": make_id_number(n),
            "name": "韩梅梅",
            "student_no": f"S{n}",
            "school_org": org,
            "graduation_year": 2027,
            "major": "微电子",
        },
    }
    batch = await client.post(
        "/api/assessment/v1/batches", headers=univ, json={"body_id": body["id"], "mode": "partial", "records": [record]}
    )
    assert batch.status_code == 201, batch.text
    return batch.json()["rows"][0]["certificate_number"], make_id_number(n)


async def test_points_and_a_subsidy_claim_from_real_evidence(platform):
    from services.kit.pii import learner_id

    key, gw = platform["key"], platform["urls"]["gateway"]
    admin = bearer(key, sub="a", role="admin")
    univ = bearer(key, sub="sis", role="university", org="univ-inc")
    async with httpx.AsyncClient(base_url=gw, timeout=20) as client:
        for scheme in ("settlement_points", "skill_subsidy"):
            doc = json.loads((DATA / f"{scheme}.json").read_text(encoding="utf-8"))
            created = await client.post("/api/incentives/v1/rulesets", headers=admin, json=doc)
            assert created.status_code == 201, created.text
            await client.post(f"/api/incentives/v1/rulesets/{created.json()['id']}/publish", headers=admin)
        number, id_number = await _certificate(client, admin, univ, 77)
        me = learner_id(id_number, platform["dev"].learner_id_key)
        student = bearer(key, sub=me, role="student")

        r = await client.post(
            "/api/incentives/v1/points/evaluate",
            headers=student,
            json={"learner_id": me, "declared": {"degree": "master", "school_tier": 1}},
        )
        assert r.status_code == 200, r.text
        item = next(i for i in r.json()["items"] if i["item"] == "skill_certificate")
        evidence = item["evidence"]["certificates"][0]
        assert (item["points"], evidence["number"], evidence["in_catalogue"]) == (5, number, True)  # 3 × 1.5 → 5
        assert evidence["edition_id"] and r.json()["total"] == 24 + 15 + 5
        # the learner's university evaluates its students in a batch: the single route's answer, stored again;
        # another university may not (real assessment answers whose students they are)
        body = {"items": [{"learner_id": me, "declared": {"degree": "master", "school_tier": 1}}]}
        deadline = time.monotonic() + 20
        while True:  # the university's student once incentives' feed follower has read the certificate
            batch = await client.post("/api/incentives/v1/points/evaluate/batch", headers=univ, json=body)
            if batch.status_code != 404 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert batch.status_code == 200, batch.text
        (mine,) = batch.json()["items"]
        assert (mine["total"], mine["items"], mine["ruleset_id"]) == (44, r.json()["items"], r.json()["ruleset_id"])
        assert "assessment;dur=" in batch.headers["server-timing"]
        other = bearer(key, sub="x", role="university", org="univ-other")
        refused = await client.post("/api/incentives/v1/points/evaluate/batch", headers=other, json=body)
        assert refused.status_code == 404 and refused.json()["errors"][0]["loc"] == [0, "learner_id"]

        claim = await client.post(
            "/api/incentives/v1/subsidy-claims",
            headers={**student, "Idempotency-Key": "e2e-claim-1"},
            json={"learner_id": me, "certificate_number": number},
        )
        assert claim.status_code == 201, claim.text
        assert (claim.json()["status"], claim.json()["amount"]) == ("pending", "2400.00")

        summary = (await client.get("/api/me/summary", headers=student)).json()
        assert "points" not in summary["unavailable"] and "subsidy_claims" not in summary["unavailable"]
        assert [e["total"] for e in summary["points"]] == [44]
        assert [c["certificate_number"] for c in summary["subsidy_claims"]] == [number]

        revoked = await client.post(
            f"/api/assessment/v1/certificates/{number}/revoke", headers=admin, json={"reason": "e2e fraud"}
        )
        assert revoked.status_code == 200, revoked.text
        deadline = time.monotonic() + 20
        while True:  # incentives' poller reads assessment's feed with its own service token
            claims = (await client.get("/api/incentives/v1/subsidy-claims", headers=student)).json()["items"]
            if claims[0]["status"] == "cancelled" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert claims[0]["status"] == "cancelled"


async def test_district_funding_from_the_feed(platform):
    """The university's district comes from its body filed with assessment, the certificate from
    assessment's feed: nothing but {district, year} is in the request."""
    key, gw = platform["key"], platform["urls"]["gateway"]
    admin = bearer(key, sub="a", role="admin")
    univ = bearer(key, sub="sis", role="university", org="univ-df")
    rules = {
        "district": "嘉定区",
        "work_allowance_per_student": "200.00",
        "results_bonus": {"per_certificate": "100.00", "catalogue_extra": "150.00", "high_level_extra": "80.50"},
        "cap_per_university": "1000.00",
    }
    async with httpx.AsyncClient(base_url=gw, timeout=20) as client:
        doc = {"scheme": "district_funding", "title": "嘉定区", "effective_from": "2026-01-01", "rules": rules}
        created = await client.post("/api/incentives/v1/rulesets", headers=admin, json={**doc, "source": "e2e"})
        assert created.status_code == 201, created.text
        await client.post(f"/api/incentives/v1/rulesets/{created.json()['id']}/publish", headers=admin)
        number, _ = await _certificate(client, admin, univ, 78, org="univ-df", district="嘉定区", uscc=525252)
        issued = (await client.get(f"/api/assessment/v1/certificates/{number}", headers=admin)).json()
        year = int(issued["issued_on"][:4])
        deadline = time.monotonic() + 20
        while True:  # the poller must first see the body and the certificate
            r = await client.post(
                "/api/incentives/v1/district-funding/calculations",
                headers=admin,
                json={"district": "嘉定区", "year": year},
            )
            assert r.status_code == 201, r.text
            if r.json()["lines"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        # one level-3 certificate in a catalogue occupation: 200 + 100 + 150 + 80.50
        assert [(x["university_org"], x["certificates"], x["amount"]) for x in r.json()["lines"]] == [
            ("univ-df", 1, "530.50")
        ]


async def test_performance_from_the_feeds_and_statistics_counts(platform):
    """Real processes: the certificate (graduation year and school from assessment's feed), a
    conversion (the credit bank's feed) and the graduating-student count (statistics, read with
    incentives' service token) make the university's indicators; the university may then act for
    its student, another may not."""
    from services.kit.pii import learner_id

    key, gw = platform["key"], platform["urls"]["gateway"]
    admin = bearer(key, sub="a", role="admin")
    univ = bearer(key, sub="sis", role="university", org="univ-perf")
    other = bearer(key, sub="sis", role="university", org="univ-other")
    async with httpx.AsyncClient(base_url=gw, timeout=20) as client:
        # settlement_points too: the university evaluates its student below (this test must not
        # depend on another test of the module having published it)
        for scheme in ("university_performance", "settlement_points"):
            doc = json.loads((DATA / f"{scheme}.json").read_text(encoding="utf-8"))
            created = await client.post("/api/incentives/v1/rulesets", headers=admin, json=doc)
            assert created.status_code == 201, created.text
            await client.post(f"/api/incentives/v1/rulesets/{created.json()['id']}/publish", headers=admin)
        counts = {
            "items": [
                {"university_org": "univ-perf", "graduation_year": 2027, "graduating_students": 4, "source": "e2e"}
            ]
        }
        assert (await client.put("/api/statistics/v1/graduates", headers=admin, json=counts)).status_code == 200
        number, id_number = await _certificate(client, admin, univ, 79, org="univ-perf", uscc=535353)
        me = learner_id(id_number, platform["dev"].learner_id_key)
        student = bearer(key, sub=me, role="student")
        programme = await client.post(
            "/api/credit-bank/v1/programmes",
            headers=univ,
            json={"university_org": "univ-perf", "code": "PERF", "name": "微电子", "graduation_credits": "150"},
        )
        rule = await client.post(
            "/api/credit-bank/v1/rules",
            headers=univ,
            json={
                "programme_id": programme.json()["id"],
                "occupation_code": "6-25-02-05",
                "min_level": 3,
                "credits": "4",
                "course_codes": ["PERF-1"],
                "valid_from": "2026-01-01",
            },
        )
        assert rule.status_code == 201, rule.text
        outcome = await client.post(
            "/api/credit-bank/v1/outcomes",
            headers={**student, "Idempotency-Key": "e2e-perf-1"},
            json={"learner_id": me, "kind": "certificate", "certificate_number": number},
        )
        conversion = await client.post(
            "/api/credit-bank/v1/conversions",
            headers={**student, "Idempotency-Key": "e2e-perf-2"},
            json={"learner_id": me, "outcome_id": outcome.json()["outcome_id"], "programme_id": programme.json()["id"]},
        )
        assert conversion.status_code == 201, conversion.text
        issued = (await client.get(f"/api/assessment/v1/certificates/{number}", headers=admin)).json()
        assert issued["graduation_year"] == 2027
        year = int(issued["issued_on"][:4])
        deadline = time.monotonic() + 30
        while True:  # incentives' followers read assessment's and the credit bank's feeds
            r = await client.get(
                "/api/incentives/v1/universities/univ-perf/performance", headers=univ, params={"year": year}
            )
            # the two followers are independent: wait until both feeds have been read
            seen = r.json()["indicators"] if r.status_code == 200 else {}
            if (seen.get("credit_conversions") == "1" and seen.get("employer_assessments") == "1") or (
                time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.5)
        assert r.status_code == 200, r.text
        got = r.json()["indicators"]
        # one level-3 certificate in 6-25-02-05 (a catalogue and "3+6" occupation) by the employer body
        assert (got["industry_3_6_certificates"], got["employer_assessments"], got["credit_conversions"]) == (
            "1",
            "1",
            "1",
        )
        # the learner graduates in 2027: one of the 4 graduating students statistics holds for 2027
        graduating = await client.get(
            "/api/incentives/v1/universities/univ-perf/performance", headers=admin, params={"year": 2027}
        )
        assert graduating.status_code == 200, graduating.text
        assert (graduating.json()["graduating_certified"], graduating.json()["graduating_students"]) == (1, 4)
        assert graduating.json()["indicators"]["graduates_certified_share"] == "0.2500"
        body = {"learner_id": me, "declared": {"degree": "bachelor"}}
        mine = await client.post("/api/incentives/v1/points/evaluate", headers=univ, json=body)
        assert mine.status_code == 200, mine.text
        assert (await client.post("/api/incentives/v1/points/evaluate", headers=other, json=body)).status_code == 404
