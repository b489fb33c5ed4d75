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


async def _students(client, assessment):
    """lrn_a: certified by u-a's employer body; lrn_s: by u-b's social body, a student of u-a (the
    record's school); lrn_z: by u-b only. Incentives learns it from assessment's feed."""
    from services.incentives import feed_sync

    assessment.add("Y000031000123263000001", "lrn_a", org="u-a", school_org="u-a", graduation_year=2026)
    assessment.add("S000031000223264000002", "lrn_s", org="u-b", school_org="u-a", graduation_year=2026)
    assessment.add("Y000031000223264000003", "lrn_z", org="u-b", school_org="u-b", graduation_year=2026)
    async with client.app.state.sessionmaker() as session:
        await feed_sync.sync_assessment_feed(session, client.app.state.incentives.assessment)


async def test_tenancy(loaded, tokens, assessment):
    await _students(loaded, assessment)
    u_a, u_b = tokens.headers("university", org="u-a"), tokens.headers("university", org="u-b")

    def body(learner):
        return {"learner_id": learner, "as_of": "2026-06-30", "declared": {"degree": "bachelor"}}

    async def status(path, learner, headers):
        return (await loaded.post(path, json=body(learner), headers=headers)).status_code

    for path in ("/v1/points/evaluate", "/v1/points/simulate"):
        # a student only for themself
        assert await status(path, "lrn_a", tokens.headers("student", sub="lrn_z")) == 404
        assert await status(path, "lrn_a", tokens.headers("student", sub="lrn_a")) == 200
        # a university for its own students: certified by its bodies, or its school on the record
        assert await status(path, "lrn_a", u_a) == 200
        assert await status(path, "lrn_s", u_a) == 200
        assert await status(path, "lrn_z", u_a) == 404
        assert await status(path, "lrn_a", u_b) == 404
        assert await status(path, "lrn_s", u_b) == 200  # u-b's social body certified lrn_s
        assert await status(path, "lrn_unknown", u_a) == 404  # not (yet) seen in assessment's feed
        # the platform only reads; admin acts for anyone
        assert await status(path, "lrn_a", tokens.headers("platform")) == 403
        assert await status(path, "lrn_unknown", tokens.headers("admin")) == 200

    async def seen(headers, learner="lrn_a"):
        r = await loaded.get("/v1/points/evaluations", params={"learner_id": learner}, headers=headers)
        return r.status_code, len(r.json().get("items", []))

    # lrn_a's evaluations: one the student asked for, one u-a asked for
    assert await seen(u_a) == (200, 2)  # its own student's, whoever asked
    assert await seen(u_b) == (404, 0)  # not its student
    assert await seen(tokens.headers("student", sub="lrn_z")) == (200, 0)
    assert await seen(tokens.headers("student", sub="lrn_a")) == (200, 2)
    assert await seen(tokens.headers("platform")) == (200, 2)
    assert await seen(u_b, learner="lrn_s") == (200, 2)
    student_eval = (
        await loaded.post("/v1/points/evaluate", json=body("lrn_a"), headers=tokens.headers("student", sub="lrn_a"))
    ).json()
    rerun = f"/v1/points/evaluations/{student_eval['id']}/rerun"
    assert (await loaded.post(rerun, headers=u_b)).status_code == 404
    assert (await loaded.post(rerun, headers=tokens.headers("student", sub="lrn_z"))).status_code == 404
    assert (await loaded.post(rerun, headers=tokens.headers("platform"))).status_code == 403
    assert (await loaded.post(rerun, headers=u_a)).status_code == 200


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


async def test_the_list_pages_newest_first_with_its_cursor(loaded, tokens):
    """Paging one at a time gives the whole list, newest first, each item as in the whole list."""
    student = tokens.headers("student", sub="lrn_a")
    made = []
    for _ in range(3):
        r = await loaded.post(
            "/v1/points/evaluate",
            json={"learner_id": "lrn_a", "as_of": "2026-06-30", "declared": DECLARED},
            headers=student,
        )
        made.append(r.json()["id"])
    whole = (await loaded.get("/v1/points/evaluations", params={"learner_id": "lrn_a"}, headers=student)).json()
    assert [e["id"] for e in whole["items"]] == made[::-1] and whole["next_cursor"] is None
    paged, params = [], {"learner_id": "lrn_a", "limit": 1}
    while True:
        page = (await loaded.get("/v1/points/evaluations", params=params, headers=student)).json()
        paged += page["items"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert paged == whole["items"]
    bad = await loaded.get(
        "/v1/points/evaluations", params={"learner_id": "lrn_a", "cursor": "bm9wZQ"}, headers=student
    )
    assert bad.status_code == 422
