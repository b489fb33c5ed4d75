"""District funding (policy 一.四): a district's funding of its universities computed by hand on a
constructed data set, from the feed's facts only, under the rule set in force on 31 December."""

from decimal import Decimal

import pytest
from sqlalchemy import text

from services.incentives import feed_sync

CATALOGUE = {"6-31-07-01", "6-22-02-01", "4-10-01-05"}
PUDONG = "浦东新区"
FENGXIAN = "奉贤区"
# Pudong's own rule set from 2026; the shipped default (*) covers every other district and year.
PUDONG_2026 = {
    "district": PUDONG,
    "work_allowance_per_student": "200.00",
    "results_bonus": {
        "per_certificate": "100.00",
        "catalogue_extra": "150.00",
        "high_level_extra": "80.50",
        "high_level_max": 3,
    },
    "cap_per_university": "1000.00",
}
PUDONG_2027 = {**PUDONG_2026, "cap_per_university": "5000.00"}


def body(assessment, body_id, kind, district, org):
    assessment.events.append(
        {
            "id": len(assessment.events) + 1,
            "type": "assessment.body.filed",
            "occurred_at": "2026-01-05T00:00:00Z",
            "subject": f"body:{body_id}",
            "data": {"id": body_id, "kind": kind, "district": district, "university_org": org, "name": "x"},
        }
    )


async def publish(client, admin, rules, effective_from):
    r = await client.post(
        "/v1/rulesets",
        json={
            "scheme": "district_funding",
            "title": f"{rules['district']} from {effective_from}",
            "effective_from": effective_from,
            "rules": rules,
            "source": "test values",
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/rulesets/{r.json()['id']}/publish", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
async def funded(loaded, assessment, tokens):
    """u-a and u-b file employer bodies in Pudong, u-c in Fengxian; u-a also names a social body in
    Jing'an (its employer body's district wins). Certificates as in the comments of the test."""
    body(assessment, "b-a", "employer", PUDONG, "u-a")
    body(assessment, "b-b", "employer", PUDONG, "u-b")
    body(assessment, "b-c", "employer", FENGXIAN, "u-c")
    body(assessment, "b-s", "social", "静安区", "u-a")
    rows = [
        ("Y000031000123263000001", "l1", "6-31-07-01", 3, "2026-05-10", "u-a"),
        ("Y000031000123263000002", "l2", "6-22-02-01", 4, "2026-05-10", "u-a"),
        ("Y000031000123263000003", "l3", "6-18-01-01", 2, "2026-06-10", "u-a"),
        ("S000031000123263000004", "l3", "4-10-01-05", 4, "2026-06-10", "u-a"),
        ("Y000031000123253000005", "l4", "6-31-07-01", 4, "2025-05-10", "u-a"),
        ("Y000031000123263000012", "l5", "6-31-07-01", 1, "2026-07-10", "u-a"),
        ("Y000031000223264000007", "l6", "6-31-07-01", 4, "2026-05-10", "u-b"),
        ("Y000031000223264000008", "l7", "6-18-01-01", 4, "2026-05-10", "u-b"),
        ("Y000031000323262000009", "l8", "6-18-01-01", 2, "2026-05-10", "u-c"),
    ]
    for number, learner, code, level, issued_on, org in rows:
        assessment.add(number, learner, code=code, level=level, issued_on=issued_on, org=org)
        assessment.events[-1]["data"]["in_catalogue_on_issue"] = code in CATALOGUE
    assessment.emit("revoked", "Y000031000123263000012", org="u-a")  # revoked: counts for nothing
    admin = tokens.headers("admin")
    loaded.rulesets = {
        "2026": await publish(loaded, admin, PUDONG_2026, "2026-01-01"),
        "2027": await publish(loaded, admin, PUDONG_2027, "2027-01-01"),
    }
    async with loaded.app.state.sessionmaker() as session:
        await feed_sync.sync_assessment_feed(session, loaded.app.state.incentives.assessment)
    return loaded


async def test_a_districts_funding_by_hand(funded, tokens):
    admin = tokens.headers("admin")
    r = await funded.post("/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026}, headers=admin)
    assert r.status_code == 201, r.text
    calc = r.json()
    assert (calc["ruleset_id"], calc["ruleset_district"]) == (funded.rulesets["2026"]["id"], PUDONG)
    # u-a, 2026, revoked excluded: students l1, l2, l3 = 3 × 200 = 600.00; 4 certificates × 100 = 400,
    # 3 in the catalogue × 150 = 450, 2 at level 3 or above (L3, L2) × 80.50 = 161.00 → 1011.00;
    # 1611.00 is over the cap of 1000.00.
    # u-b: 2 students × 200 = 400.00; 2 × 100 + 1 × 150 + 0 × 80.50 = 350.00 → 750.00, under the cap.
    # u-c files in Fengxian and is not in Pudong's calculation.
    assert calc["lines"] == [
        {
            "university_org": "u-a",
            "students_assessed": 3,
            "certificates": 4,
            "catalogue_certificates": 3,
            "high_level_certificates": 2,
            "work_allowance": "600.00",
            "results_bonus": "1011.00",
            "uncapped": "1611.00",
            "cap": "1000.00",
            "capped": True,
            "amount": "1000.00",
        },
        {
            "university_org": "u-b",
            "students_assessed": 2,
            "certificates": 2,
            "catalogue_certificates": 1,
            "high_level_certificates": 0,
            "work_allowance": "400.00",
            "results_bonus": "350.00",
            "uncapped": "750.00",
            "cap": "1000.00",
            "capped": False,
            "amount": "750.00",
        },
    ]
    assert Decimal(calc["total"]) == Decimal("1750.00")
    # a re-run is a new calculation; both are kept, newest first, and each is an event
    again = (
        await funded.post("/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026}, headers=admin)
    ).json()
    assert again["id"] != calc["id"] and again["lines"] == calc["lines"]
    listed = (
        await funded.get("/v1/district-funding/calculations", params={"district": PUDONG, "year": 2026}, headers=admin)
    ).json()
    assert [c["id"] for c in listed] == [again["id"], calc["id"]]
    got = await funded.get(f"/v1/district-funding/calculations/{calc['id']}", headers=admin)
    assert got.json() == calc
    feed = (await funded.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    published = [e["data"] for e in feed if e["type"] == "incentives.district_funding.calculated"]
    assert [(d["id"], d["total"]) for d in published] == [(calc["id"], "1750.00"), (again["id"], "1750.00")]


async def test_the_rule_set_in_force_on_31_december(funded, tokens):
    admin = tokens.headers("admin")

    async def calc(district, year):
        r = await funded.post(
            "/v1/district-funding/calculations", json={"district": district, "year": year}, headers=admin
        )
        assert r.status_code == 201, r.text
        return r.json()

    # 2025: Pudong's own rule set starts in 2026, so the shipped default (*) is in force:
    # u-a l4, one L4 catalogue certificate: 50.00 + 100.00 + 100.00 = 250.00
    y2025 = await calc(PUDONG, 2025)
    assert y2025["ruleset_district"] == "*"
    assert [(line["university_org"], line["amount"]) for line in y2025["lines"]] == [("u-a", "250.00")]
    # 2027: the 2027 rule set (no certificates yet, so no lines)
    y2027 = await calc(PUDONG, 2027)
    assert (y2027["ruleset_id"], y2027["lines"], y2027["total"]) == (funded.rulesets["2027"]["id"], [], "0.00")
    # Fengxian has no rule set of its own: the default; u-c: 50.00 + 100.00 + 50.00 (L2) = 200.00
    fengxian = await calc(FENGXIAN, 2026)
    assert fengxian["ruleset_district"] == "*"
    assert [(line["university_org"], line["amount"], line["capped"]) for line in fengxian["lines"]] == [
        ("u-c", "200.00", False)
    ]


async def test_replaying_the_feed_changes_nothing(funded, tokens):
    admin = tokens.headers("admin")
    first = await funded.post(
        "/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026}, headers=admin
    )
    async with funded.app.state.sessionmaker() as session:
        await session.execute(text("DELETE FROM incentives.feed_cursors"))
        await session.commit()
        await feed_sync.sync_assessment_feed(session, funded.app.state.incentives.assessment)
    second = await funded.post(
        "/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026}, headers=admin
    )
    assert second.json()["lines"] == first.json()["lines"]


async def test_validation_names_the_field(loaded, tokens):
    admin = tokens.headers("admin")
    r = await loaded.post("/v1/district-funding/calculations", json={"district": "", "year": 1999}, headers=admin)
    assert r.status_code == 422
    assert sorted(tuple(e["loc"]) for e in r.json()["errors"]) == [("body", "district"), ("body", "year")]
    r = await loaded.post(
        "/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026, "amount": 5}, headers=admin
    )
    assert r.status_code == 422 and [e["loc"] for e in r.json()["errors"]] == [["body", "amount"]]
    bad = {
        **PUDONG_2026,
        "work_allowance_per_student": "12.345",
        "results_bonus": {"per_certificate": "100.00", "high_level_max": 7},
    }
    r = await loaded.post(
        "/v1/rulesets",
        json={
            "scheme": "district_funding",
            "title": "bad",
            "effective_from": "2026-01-01",
            "rules": bad,
            "source": "test",
        },
        headers=admin,
    )
    assert r.status_code == 422
    assert sorted(tuple(e["loc"]) for e in r.json()["errors"]) == [
        ("body", "rules", "results_bonus", "high_level_max"),
        ("body", "rules", "work_allowance_per_student"),
    ]


async def test_no_rule_set_in_force_is_a_conflict(client, tokens):
    r = await client.post(
        "/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026}, headers=tokens.headers("admin")
    )
    assert r.status_code == 409 and r.json()["type"].endswith("no-ruleset-in-force")


async def test_admin_only(funded, tokens):
    admin = tokens.headers("admin")
    calc = (
        await funded.post("/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026}, headers=admin)
    ).json()
    for headers in (
        tokens.headers("university", org="u-a"),
        tokens.headers("student", sub="l1"),
        tokens.headers("platform"),
    ):
        post = await funded.post(
            "/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026}, headers=headers
        )
        listed = await funded.get("/v1/district-funding/calculations", headers=headers)
        got = await funded.get(f"/v1/district-funding/calculations/{calc['id']}", headers=headers)
        assert (post.status_code, listed.status_code, got.status_code) == (403, 403, 403)
    listed = (await funded.get("/v1/district-funding/calculations", headers=admin)).json()
    assert [c["id"] for c in listed] == [calc["id"]]
    missing = await funded.get("/v1/district-funding/calculations/00000000-0000-0000-0000-000000000000", headers=admin)
    assert missing.status_code == 404
    assert (
        await funded.post("/v1/district-funding/calculations", json={"district": PUDONG, "year": 2026})
    ).status_code == 401
