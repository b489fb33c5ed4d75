"""Conversion rules: graded by level, dated, a programme's own before general ones, no overlaps."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from services.credit_bank.policy import RuleCandidate, admits, cap, choose_rule, periods_overlap
from tests.credit_bank.support import AI, ROBOT, UNIV, problem_type, programme, rule

P = uuid.uuid4()
ON = date(2026, 11, 1)


def _r(min_level: int, programme_id: uuid.UUID | None = P, occupation: str = AI, **dates: date | None) -> RuleCandidate:
    return RuleCandidate(
        uuid.uuid4(),
        programme_id,
        occupation,
        min_level,
        dates.get("valid_from") or date(2025, 1, 1),
        dates.get("valid_to"),
    )


def test_min_level_admits_that_level_and_higher():
    assert [lv for lv in range(1, 6) if admits(3, lv)] == [1, 2, 3]


def test_graded_rules_give_the_highest_requirement_met():
    four, three = _r(4), _r(3)
    assert choose_rule([four, three], programme_id=P, occupation_code=AI, level=4, on=ON) == four
    assert choose_rule([four, three], programme_id=P, occupation_code=AI, level=2, on=ON) == three
    assert choose_rule([four, three], programme_id=P, occupation_code=AI, level=5, on=ON) is None


def test_programme_rule_before_general_and_dates_count():
    general, own = _r(3, None), _r(4)
    # The programme's own rule wins even though the general one asks more.
    assert choose_rule([general, own], programme_id=P, occupation_code=AI, level=3, on=ON) == own
    assert choose_rule([general], programme_id=P, occupation_code=AI, level=3, on=ON) == general
    expired = _r(4, valid_to=date(2026, 6, 30))
    future = _r(4, valid_from=date(2027, 1, 1))
    assert choose_rule([expired, future], programme_id=P, occupation_code=AI, level=4, on=ON) is None
    other = _r(4, uuid.uuid4())
    assert choose_rule([other, _r(4, occupation=ROBOT)], programme_id=P, occupation_code=AI, level=4, on=ON) is None


def test_overlap_and_cap_arithmetic():
    assert periods_overlap(date(2025, 1, 1), None, date(2030, 1, 1), None)
    assert not periods_overlap(date(2025, 1, 1), date(2025, 12, 31), date(2026, 1, 1), None)
    assert cap(Decimal("165"), Decimal("0.5")) == Decimal("82.5")
    assert cap(Decimal("165.5"), Decimal("0.333")) == Decimal("55.1")


async def test_university_creates_rules_for_its_programme_and_overlaps_are_409(client, tokens):
    pid = await programme(client, tokens)
    first = await rule(client, tokens, pid, min_level=4, credits="3", courses=["CS101"], valid_to="2026-12-31")
    assert (first["credits"], first["course_codes"], first["university_org"]) == ("3.0", ["CS101"], UNIV)
    # Graded: the same occupation at another minimum level is another rule.
    await rule(client, tokens, pid, min_level=3, credits="5", courses=["CS101", "CS201"])
    clash = await client.post(
        "/v1/rules",
        json={
            **{k: first[k] for k in ("programme_id", "occupation_code", "min_level", "course_codes")},
            "credits": "2",
            "valid_from": "2026-06-01",
        },
        headers=tokens.headers("university", org=UNIV),
    )
    assert clash.status_code == 409 and problem_type(clash) == "overlapping-rule"
    # The day after the first one ends is free.
    await rule(client, tokens, pid, min_level=4, credits="4", valid_from="2027-01-01")
    listed = (
        await client.get(
            "/v1/rules",
            params={"programme_id": pid, "as_of": "2026-11-01"},
            headers=tokens.headers("university", org=UNIV),
        )
    ).json()
    assert sorted((r["min_level"], r["credits"]) for r in listed["items"]) == [(3, "5.0"), (4, "3.0")]
    events = (await client.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    assert [e["type"] for e in events].count("credit_bank.rule.created") == 3


async def test_rule_limits_name_their_fields(client, tokens):
    pid = await programme(client, tokens)
    bad = {
        "programme_id": pid,
        "occupation_code": "9-99",
        "min_level": 6,
        "credits": "2",
        "course_codes": [],
        "valid_from": "2026-01-01",
    }
    r = await client.post("/v1/rules", json=bad, headers=tokens.headers("university", org=UNIV))
    assert r.status_code == 422
    assert sorted(e["loc"][-1] for e in r.json()["errors"]) == ["min_level", "occupation_code"]
    # RULE DEFAULT: at most 8 credits per certificate (data/conversion_policy.json).
    over = {**bad, "occupation_code": AI, "min_level": 3, "credits": "8.5", "valid_to": "2025-01-01"}
    r = await client.post("/v1/rules", json=over, headers=tokens.headers("university", org=UNIV))
    assert r.status_code == 422
    assert sorted(e["loc"][-1] for e in r.json()["errors"]) == ["credits", "valid_to"]
    general = {**over, "programme_id": None, "credits": "8", "valid_to": None}
    r = await client.post("/v1/rules", json=general, headers=tokens.headers("university", org=UNIV))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "programme_id"]
    r = await client.post("/v1/rules", json=general, headers=tokens.headers("admin"))
    assert r.status_code == 201 and r.json()["university_org"] is None


async def test_rules_of_another_university_are_404(client, tokens):
    pid = await programme(client, tokens)
    made = await rule(client, tokens, pid)
    general = await rule(client, tokens, None, occupation=ROBOT)
    other = tokens.headers("university", org="univ-b")
    r = await client.post(
        "/v1/rules",
        json={
            "programme_id": pid,
            "occupation_code": ROBOT,
            "min_level": 4,
            "credits": "2",
            "valid_from": "2026-01-01",
        },
        headers=other,
    )
    assert r.status_code == 404 and problem_type(r) == "programme-not-found"
    hidden = await client.get(f"/v1/rules/{made['id']}", headers=other)
    assert hidden.status_code == 404 and problem_type(hidden) == "rule-not-found"
    assert (await client.get(f"/v1/rules/{general['id']}", headers=other)).json()["id"] == general["id"]
    seen = (await client.get("/v1/rules", headers=other)).json()["items"]
    assert [r["id"] for r in seen] == [general["id"]]
    assert (await client.get(f"/v1/rules/{made['id']}", headers=tokens.headers("platform"))).status_code == 200
    r = await client.post(
        "/v1/rules",
        json={"occupation_code": ROBOT, "min_level": 4, "credits": "2", "valid_from": "2026-01-01"},
        headers=tokens.headers("platform"),
    )
    assert r.status_code == 403
