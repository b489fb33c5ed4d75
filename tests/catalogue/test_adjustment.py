"""Signals, the shortage score on a hand-computed example, verdicts, proposals into a draft."""

from __future__ import annotations

from decimal import Decimal

from services.catalogue.demo import demo_edition_id
from services.catalogue.recommendations import Evidence, classify, shortage_score

NEW = str(demo_edition_id("demo-2026"))
DEFAULT_WEIGHTS = {
    "vacancy_ratio": Decimal("0.35"),
    "fill_rate": Decimal("0.25"),
    "wage_growth": Decimal("0.20"),
    "certificate_supply": Decimal("0.20"),
}
DEFAULT_CAPS = {
    "vacancy_ratio": Decimal("2.0"),
    "wage_growth": Decimal("0.10"),
    "certificates_per_vacancy": Decimal("1.0"),
}
THRESHOLDS = {"add_at": Decimal("0.60"), "remove_below": Decimal("0.35")}


def test_score_hand_computed():
    # ratio 600/400 = 1.5 → 1.5/2 = 0.75; fill 0.55 → 0.45; growth 0.06/0.10 = 0.6;
    # 30 certificates per 600 vacancies = 0.05 → 0.95.
    # 0.35·0.75 + 0.25·0.45 + 0.20·0.6 + 0.20·0.95 = 0.2625 + 0.1125 + 0.12 + 0.19 = 0.685
    ev = Evidence(
        vacancies=600,
        job_seekers=400,
        wage_growth=Decimal("0.06"),
        fill_rate=Decimal("0.55"),
        certificates_issued=31,
        certificates_revoked=1,
    )
    score, parts = shortage_score(ev, DEFAULT_WEIGHTS, DEFAULT_CAPS)
    assert score == Decimal("0.6850")
    assert {k: (p.value, p.normalised, p.contribution) for k, p in parts.items()} == {
        "vacancy_ratio": (1.5, 0.75, 0.2625),
        "fill_rate": (0.55, 0.45, 0.1125),
        "wage_growth": (0.06, 0.6, 0.12),
        "certificate_supply": (0.05, 0.95, 0.19),
    }
    assert classify(score, in_catalogue=False, review_due=False, thresholds=THRESHOLDS) == (
        "add",
        ["score 0.6850 ≥ add_at 0.60"],
    )
    assert classify(score, in_catalogue=True, review_due=True, thresholds=THRESHOLDS)[0] == "review"
    assert classify(Decimal("0.2"), in_catalogue=True, review_due=False, thresholds=THRESHOLDS)[0] == "remove"
    assert classify(Decimal("0.2"), in_catalogue=False, review_due=False, thresholds=THRESHOLDS)[0] == "keep"
    assert classify(Decimal("0.5"), in_catalogue=False, review_due=False, thresholds=THRESHOLDS)[0] == "review"


def test_score_edges_no_job_seekers_no_vacancies():
    weights = DEFAULT_WEIGHTS
    ev = Evidence(vacancies=10, job_seekers=0, wage_growth=Decimal("-0.5"), fill_rate=Decimal("1"))
    score, parts = shortage_score(ev, weights, DEFAULT_CAPS)
    assert (parts["vacancy_ratio"].value, parts["vacancy_ratio"].normalised) == (None, 1.0)
    assert score == Decimal("0.5500")  # 0.35 + 0 + 0 + 0.20 (no certificates)
    ev = Evidence(vacancies=0, job_seekers=10, wage_growth=Decimal("0"), fill_rate=Decimal("1"))
    assert shortage_score(ev, weights, DEFAULT_CAPS)[0] == Decimal("0.0000")


async def test_recommendations_on_demo_signals_say_supply_is_zero(client, admin, demo):
    r = await client.get("/v1/recommendations", params={"period": "2026-Q3", "as_of": "2026-11-26"}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rule"]["source"] == "default"
    assert body["rule"]["weights"] == {
        "vacancy_ratio": "0.35",
        "fill_rate": "0.25",
        "wage_growth": "0.20",
        "certificate_supply": "0.20",
    }
    assert body["certificate_feed"]["connected"] is False
    by_code = {i["occupation_code"]: i for i in body["items"]}
    verdicts = {
        c: by_code[c]["verdict"]
        for c in (
            "2-02-38-09",
            "2-02-38-12",
            "4-03-02-08",
            "4-10-03-01",
            "4-04-05-01",
            "6-22-02-01",
            "2-02-38-01",
            "6-18-02-04",
        )
    }
    assert verdicts == {
        "2-02-38-09": "keep",
        "2-02-38-12": "add",
        "4-03-02-08": "remove",
        "4-10-03-01": "review",
        "4-04-05-01": "keep",
        "6-22-02-01": "review",
        "2-02-38-01": "keep",
        "6-18-02-04": "review",
    }
    coffee = by_code["4-03-02-08"]
    # 300/900 → 0.1667·0.35 = 0.0583; 0.08·0.25 = 0.02; 0.1·0.2 = 0.02; no certificates → 1·0.2
    assert coffee["score"] == 0.2983
    assert coffee["inputs"] == {
        "vacancies": 300,
        "job_seekers": 900,
        "median_wage": "6500.00",
        "wage_growth": "0.0100",
        "fill_rate": "0.9200",
        "certificates_issued": 0,
        "certificates_revoked": 0,
    }
    assert any("no events from the assessment feed" in reason for reason in coffee["reasons"])
    assert by_code["6-18-02-04"]["reasons"] == ["no labour-market signal for this period"]
    assert by_code["6-22-02-01"]["score"] == 0.5235


async def test_signals_are_validated_and_idempotent(client, tokens, demo):
    platform = tokens.headers("platform")
    row = {
        "occupation_code": "6-31-01-03",
        "period": "2026-Q4",
        "vacancies": 500,
        "job_seekers": 250,
        "median_wage": "9000",
        "wage_growth": "0.05",
        "fill_rate": "0.6",
    }
    r = await client.post("/v1/signals", json=[row], headers=platform)
    assert r.json() == {"received": 1, "created": 1, "updated": 0, "unchanged": 0}
    r = await client.post("/v1/signals", json=[row], headers=platform)
    assert r.json() == {"received": 1, "created": 0, "updated": 0, "unchanged": 1}
    r = await client.post("/v1/signals", json=[{**row, "vacancies": 520}], headers=platform)
    assert r.json() == {"received": 1, "created": 0, "updated": 1, "unchanged": 0}
    bad = [
        {**row, "period": "2026-Q5"},
        {**row, "fill_rate": "1.5"},
        {**row, "occupation_code": "1-01-01-01"},
        row,
        row,
    ]
    r = await client.post("/v1/signals", json=bad, headers=platform)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", 0, "period"], ["body", 1, "fill_rate"]]
    r = await client.post("/v1/signals", json=bad[2:], headers=platform)
    assert [e["loc"] for e in r.json()["errors"]] == [["body", 0, "occupation_code"], ["body", 2, "period"]]
    r = await client.post("/v1/signals", json=[row], headers=tokens.headers("university", org="u"))
    assert r.status_code == 403
    r = await client.get("/v1/recommendations", params={"period": "2026-Q3"}, headers=platform)
    assert (r.status_code, r.json()["title"]) == (403, "Forbidden")


async def test_a_new_rule_row_changes_the_weights(client, admin, demo):
    rule = {
        "source": "bureau-2026",
        "valid_from": "2026-10-01",
        "weights": {"vacancy_ratio": 1, "fill_rate": 0, "wage_growth": 0, "certificate_supply": 0},
        "caps": {"vacancy_ratio": "3", "wage_growth": "0.1", "certificates_per_vacancy": "1"},
        "thresholds": {"add_at": "0.5", "remove_below": "0.2"},
    }
    r = await client.post("/v1/recommendations/rules", json=rule, headers=admin)
    assert r.status_code == 201, r.text
    r = await client.get("/v1/recommendations", params={"period": "2026-Q3", "as_of": "2026-11-01"}, headers=admin)
    coffee = next(i for i in r.json()["items"] if i["occupation_code"] == "4-03-02-08")
    assert (r.json()["rule"]["source"], coffee["score"]) == ("bureau-2026", 0.1111)  # (300/900)/3
    r = await client.get("/v1/recommendations", params={"period": "2026-Q3", "as_of": "2026-09-01"}, headers=admin)
    assert r.json()["rule"]["source"] == "default"


async def test_proposals_approved_into_a_draft_or_rejected(client, admin, demo):
    draft = (await client.post("/v1/editions", json={"title": "2027 草案", "based_on": NEW}, headers=admin)).json()
    add = {
        "action": "add",
        "occupation_code": "2-02-38-12",
        "min_level": 3,
        "industries": ["electronic_information"],
        "shortage_level": 2,
        "reason": "数据安全人才缺口",
        "rationale": "2026-Q3 score 0.82",
        "period": "2026-Q3",
    }
    p1 = (await client.post("/v1/proposals", json=add, headers=admin)).json()
    assert (p1["status"], p1["changes"]["shortage_level"]) == ("pending", 2)
    remove = {"action": "remove", "occupation_code": "4-03-02-08", "rationale": "score 0.30"}
    p2 = (await client.post("/v1/proposals", json=remove, headers=admin)).json()
    change = {
        "action": "change",
        "occupation_code": "6-22-02-01",
        "shortage_level": 3,
        "rationale": "fill rate up",
    }
    p3 = (await client.post("/v1/proposals", json=change, headers=admin)).json()
    for p in (p1, p2):
        r = await client.post(
            f"/v1/proposals/{p['id']}/decision",
            json={"decision": "approve", "edition_id": draft["id"], "note": "同意"},
            headers=admin,
        )
        assert (r.json()["status"], r.json()["decided_by"], r.json()["applied_to"]) == (
            "approved",
            "admin-test",
            draft["id"],
        )
        assert r.json()["decided_at"] is not None
    r = await client.post(
        f"/v1/proposals/{p3['id']}/decision", json={"decision": "reject", "note": "证据不足"}, headers=admin
    )
    assert (r.json()["status"], r.json()["applied_to"], r.json()["decision_note"]) == (
        "rejected",
        None,
        "证据不足",
    )
    r = await client.post(f"/v1/proposals/{p3['id']}/decision", json={"decision": "reject"}, headers=admin)
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[-1]) == (409, "proposal-decided")
    diff = (await client.get(f"/v1/editions/{draft['id']}/diff", params={"against": NEW}, headers=admin)).json()
    assert [e["occupation_code"] for e in diff["added"]] == ["2-02-38-12"]
    assert [e["occupation_code"] for e in diff["removed"]] == ["4-03-02-08"]
    assert diff["changed"] == []
    # Approving into a published edition is refused and leaves the proposal pending.
    p4 = (await client.post("/v1/proposals", json={**change, "shortage_level": 1}, headers=admin)).json()
    r = await client.post(
        f"/v1/proposals/{p4['id']}/decision", json={"decision": "approve", "edition_id": NEW}, headers=admin
    )
    assert r.status_code == 409
    assert (await client.get(f"/v1/proposals/{p4['id']}", headers=admin)).json()["status"] == "pending"
    r = await client.get("/v1/proposals", params={"status": "approved"}, headers=admin)
    assert {p["id"] for p in r.json()["items"]} == {p1["id"], p2["id"]}


async def test_proposal_shape_is_checked(client, admin):
    r = await client.post(
        "/v1/proposals",
        json={"action": "add", "occupation_code": "2-02-38-12", "rationale": "x"},
        headers=admin,
    )
    assert r.status_code == 422
    assert "needs min_level, industries, shortage_level, reason" in r.json()["errors"][0]["msg"]
    r = await client.post(
        "/v1/proposals/00000000-0000-0000-0000-000000000000/decision",
        json={"decision": "approve"},
        headers=admin,
    )
    assert "names the draft edition_id" in r.json()["errors"][0]["msg"]
