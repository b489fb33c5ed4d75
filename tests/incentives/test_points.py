"""POST /points/evaluate, simulate, list and re-run: evidence from assessment and the catalogue only."""

import copy
import json
from datetime import date
from pathlib import Path

DATA = Path(__file__).parents[2] / "services/incentives/data"
DECLARED = {"degree": "master", "school_tier": 1, "studied_in_shanghai": True, "class_rank_quartile": 1}  # 24+15+2+8


def items(answer):
    return {i["item"]: i["points"] for i in answer["items"]}


async def test_certificate_points_come_from_assessment_and_the_catalogue(loaded, tokens, assessment, catalogue):
    assessment.add("Y000031000123263000001", "lrn_a", level=3, issued_on="2026-05-10")  # in ed-2024
    assessment.add("Y000031000123263000002", "lrn_a", level=1, issued_on="2026-05-11", status="revoked")
    assessment.add("Y000031000123263000003", "lrn_b", level=1, issued_on="2026-05-11")  # someone else's
    r = await loaded.post(
        "/v1/points/evaluate",
        json={"learner_id": "lrn_a", "as_of": "2026-06-30", "declared": DECLARED},
        headers=tokens.headers("student", sub="lrn_a"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert items(body) == {
        "degree": 24,
        "school_tier": 15,
        "studied_in_shanghai": 2,
        "class_rank": 8,
        "skill_certificate": 5,
    }
    assert (body["total"], body["threshold"], body["passes"]) == (54, 72, False)
    (evidence,) = next(i for i in body["items"] if i["item"] == "skill_certificate")["evidence"]["certificates"]
    assert evidence["number"] == "Y000031000123263000001"
    assert (evidence["issued_on"], evidence["edition_id"], evidence["in_catalogue"]) == ("2026-05-10", "ed-2024", True)
    # one batched catalogue call for the learner's (valid) certificates; one call to assessment
    assert catalogue.calls == [1]
    assert assessment.calls == ["/v1/certificates/of-learners"]
    assert r.headers["server-timing"].startswith("assessment;dur=") and ", catalogue;dur=" in r.headers["server-timing"]
    listed = await loaded.get(
        "/v1/points/evaluations", params={"learner_id": "lrn_a"}, headers=tokens.headers("student", sub="lrn_a")
    )
    assert [(e["id"], e["total"]) for e in listed.json()["items"]] == [(body["id"], 54)]


async def test_certificates_cannot_be_declared_and_unknown_options_are_422(loaded, tokens):
    student = tokens.headers("student", sub="lrn_a")
    r = await loaded.post(
        "/v1/points/evaluate",
        json={"learner_id": "lrn_a", "declared": {"skill_certificate": {"level": 1}, "computer": "wizard"}},
        headers=student,
    )
    assert r.status_code == 422
    assert sorted(tuple(e["loc"]) for e in r.json()["errors"]) == [
        ("body", "declared", "computer"),
        ("body", "declared", "skill_certificate"),
    ]


async def test_a_certificate_issued_before_its_occupation_entered_the_catalogue(loaded, tokens, assessment):
    assessment.add("S000031000456264000001", "lrn_c", code="4-04-05-13", level=2, issued_on="2026-03-01")
    r = await loaded.post(
        "/v1/points/evaluate",
        json={"learner_id": "lrn_c", "as_of": "2026-09-01", "declared": {"degree": "bachelor"}},
        headers=tokens.headers("admin"),
    )
    item = next(i for i in r.json()["items"] if i["item"] == "skill_certificate")
    assert item["points"] == 5  # not 7.5 → 8: on 2026-03-01 the 2024 edition did not list 4-04-05-13
    assert item["evidence"]["certificates"][0]["edition_id"] == "ed-2024"
    assert item["evidence"]["certificates"][0]["in_catalogue"] is False


async def test_a_new_item_in_a_published_rule_set_scores_from_its_effective_date(loaded, tokens):
    admin = tokens.headers("admin")
    doc = json.loads((DATA / "settlement_points.json").read_text(encoding="utf-8"))
    new = copy.deepcopy(doc)
    new["effective_from"] = "2027-01-01"
    new["rules"]["items"].append({"id": "volunteer_service", "kind": "flag", "field": "volunteer_service", "points": 3})
    new["rules"]["items"][0]["points"]["associate"] = 15  # a new option for an existing item
    created = (await loaded.post("/v1/rulesets", json=new, headers=admin)).json()
    await loaded.post(f"/v1/rulesets/{created['id']}/publish", headers=admin)

    before = await loaded.post(
        "/v1/points/evaluate",
        json={"learner_id": "lrn_d", "as_of": "2026-12-31", "declared": {"degree": "bachelor"}},
        headers=admin,
    )
    assert before.json()["ruleset_id"] != created["id"] and before.json()["total"] == 21
    too_early = await loaded.post(
        "/v1/points/evaluate",
        json={"learner_id": "lrn_d", "as_of": "2026-12-31", "declared": {"volunteer_service": True}},
        headers=admin,
    )
    assert too_early.status_code == 422 and too_early.json()["errors"][0]["loc"] == [
        "body",
        "declared",
        "volunteer_service",
    ]
    after = await loaded.post(
        "/v1/points/evaluate",
        json={
            "learner_id": "lrn_d",
            "as_of": "2027-01-01",
            "declared": {"degree": "associate", "volunteer_service": True},
        },
        headers=admin,
    )
    assert after.json()["ruleset_id"] == created["id"]
    assert items(after.json()) == {"degree": 15, "volunteer_service": 3}


async def test_simulate_adds_hypothetical_certificates_and_stores_nothing(loaded, tokens, assessment):
    assessment.add("Y000031000123263000001", "lrn_a", level=3, issued_on="2026-05-10")
    student = tokens.headers("student", sub="lrn_a")
    r = await loaded.post(
        "/v1/points/simulate",
        json={
            "learner_id": "lrn_a",
            "as_of": "2026-06-30",
            "declared": DECLARED,
            "hypothetical_certificates": [{"occupation_code": "6-31-07-01", "level": 2}],
        },
        headers=student,
    )
    body = r.json()
    assert body["id"] is None and items(body)["skill_certificate"] == 8  # level 2 in catalogue: 7.5 → 8
    counted = next(i for i in body["items"] if i["item"] == "skill_certificate")["evidence"]
    assert counted["certificates"][0]["hypothetical"] is True
    assert counted["not_counted"] == ["Y000031000123263000001"]
    listed = await loaded.get("/v1/points/evaluations", params={"learner_id": "lrn_a"}, headers=student)
    assert listed.json()["items"] == []


async def test_rerun_shows_what_changed_item_by_item(loaded, tokens, assessment):
    student = tokens.headers("student", sub="lrn_a")
    first = (
        await loaded.post(
            "/v1/points/evaluate",
            json={"learner_id": "lrn_a", "as_of": "2026-06-30", "declared": DECLARED},
            headers=student,
        )
    ).json()
    assessment.add("Y000031000123263000009", "lrn_a", level=2, issued_on="2026-05-10")
    r = await loaded.post(f"/v1/points/evaluations/{first['id']}/rerun", headers=student)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total_change"] == 8 and body["current"]["rerun_of"] == first["id"]
    changed = {c["item"]: (c["before"], c["after"], c["change"]) for c in body["changes"]}
    assert changed["skill_certificate"] == (0, 8, "added")
    assert changed["degree"] == (24, 24, "unchanged")
    listed = await loaded.get("/v1/points/evaluations", params={"learner_id": "lrn_a"}, headers=student)
    assert [e["total"] for e in listed.json()["items"]] == [57, 49]  # newest first


async def test_tenancy(loaded, tokens):
    body = {"learner_id": "lrn_a", "as_of": "2026-06-30", "declared": {"degree": "bachelor"}}
    other = await loaded.post("/v1/points/evaluate", json=body, headers=tokens.headers("student", sub="lrn_z"))
    assert other.status_code == 404
    platform = await loaded.post("/v1/points/evaluate", json=body, headers=tokens.headers("platform"))
    assert platform.status_code == 403
    mine = (await loaded.post("/v1/points/evaluate", json=body, headers=tokens.headers("university", org="u-a"))).json()
    await loaded.post("/v1/points/evaluate", json=body, headers=tokens.headers("student", sub="lrn_a"))

    async def seen(headers):
        r = await loaded.get("/v1/points/evaluations", params={"learner_id": "lrn_a"}, headers=headers)
        return len(r.json()["items"])

    assert await seen(tokens.headers("university", org="u-a")) == 1
    assert await seen(tokens.headers("university", org="u-b")) == 0
    assert await seen(tokens.headers("student", sub="lrn_z")) == 0
    assert await seen(tokens.headers("platform")) == 2
    rerun = await loaded.post(
        f"/v1/points/evaluations/{mine['id']}/rerun", headers=tokens.headers("university", org="u-b")
    )
    assert rerun.status_code == 404


async def test_a_rule_set_of_the_old_shape_is_a_409_not_a_500(client, tokens):
    from services.incentives.models import RuleSet

    async with client.app.state.sessionmaker() as session:
        session.add(
            RuleSet(
                scheme="settlement_points",
                version=1,
                title="old",
                status="published",
                effective_from=date(2024, 6, 1),
                rules={"threshold": 72, "degree": {"master": 24}},
                source="default",
            )
        )
        await session.commit()
    r = await client.post(
        "/v1/points/evaluate", json={"learner_id": "lrn_a", "declared": {}}, headers=tokens.headers("admin")
    )
    assert r.status_code == 409 and r.json()["type"].endswith("/ruleset-outdated")
