"""POST /points/evaluate/batch: the single route's answers for many learners, with one call to each other service."""

from __future__ import annotations

import pytest

from .test_engine import PROFILES
from .test_points import DECLARED

BATCH = "/v1/points/evaluate/batch"
AS_OF = "2026-09-30"
# (level, issued_on, occupation) per learner, cycled: in ed-2024, in ed-2026 only (4-04-05-13 entered then),
# issued before the occupation entered the catalogue, several where only the highest counts, none.
CERTIFICATES = [
    [(3, "2026-05-10", "6-31-07-01")],
    [(2, "2026-08-15", "4-04-05-13")],
    [(1, "2026-05-10", "4-04-05-13")],
    [(4, "2025-03-01", "6-22-02-01"), (2, "2026-06-01", "6-31-07-01"), (1, "2026-09-01", "9-99-99-99")],
    [],
    [(5, "2026-10-01", "6-31-07-01")],  # issued after as_of: not counted
]


async def _feed(client, assessment):
    """Incentives reads assessment's feed: whose students the learners are (tenancy.py)."""
    from services.incentives import feed_sync

    async with client.app.state.sessionmaker() as session:
        await feed_sync.sync_assessment_feed(session, client.app.state.incentives.assessment)


def _strip(answer):
    """What must be equal between two evaluations of the same learner (not the stored row's id and time)."""
    return {k: v for k, v in answer.items() if k not in ("id", "created_at")}


def _learners(assessment, org="u-a"):
    bodies = []
    for n, (_name, declared, *_rest) in enumerate(PROFILES):
        learner = f"lrn_p{n:02d}"
        for m, (level, issued_on, code) in enumerate(CERTIFICATES[n % len(CERTIFICATES)]):
            number = f"Y0000310001232630{n:03d}{m:02d}"
            assessment.add(number, learner, code=code, level=level, issued_on=issued_on, org=org, school_org=org)
        bodies.append({"learner_id": learner, "as_of": AS_OF, "declared": declared})
    return bodies


async def test_batch_answers_equal_the_single_routes_for_every_profile(loaded, tokens, assessment, catalogue):
    bodies = _learners(assessment)
    assessment.add("Y000031000123263999999", "lrn_p00", level=2, issued_on="2026-05-11", status="revoked")
    admin = tokens.headers("admin")
    batch = await loaded.post(BATCH, json={"items": bodies}, headers=admin)
    assert batch.status_code == 200, batch.text
    answers = batch.json()["items"]
    assert [a["learner_id"] for a in answers] == [b["learner_id"] for b in bodies]
    singles = []
    for body in bodies:
        r = await loaded.post("/v1/points/evaluate", json=body, headers=admin)
        assert r.status_code == 200, r.text
        singles.append(r.json())
    assert [_strip(a) for a in answers] == [_strip(s) for s in singles]
    assert len({a["id"] for a in answers + singles}) == 2 * len(bodies)  # every one stored on its own
    # the declared part of each total is the engine tests' hand-computed figure; certificates come from assessment
    for (name, _declared, _certificates, total, expected), answer in zip(PROFILES, answers, strict=True):
        assert answer["total"] - _skill(answer) == total - expected.get("skill_certificate", 0), name
    by_learner = {a["learner_id"]: a for a in answers}
    evidence = next(i for i in by_learner["lrn_p01"]["items"] if i["item"] == "skill_certificate")["evidence"]
    assert [(c["edition_id"], c["in_catalogue"]) for c in evidence["certificates"]] == [("ed-2026", True)]
    assert not [i for i in by_learner["lrn_p02"]["items"] if i["item"] == "skill_certificate" and i["points"] > 8]
    assert not [i for i in by_learner["lrn_p04"]["items"] if i["item"] == "skill_certificate"]
    assert not [i for i in by_learner["lrn_p05"]["items"] if i["item"] == "skill_certificate"]  # issued after as_of


def _skill(answer):
    return sum(i["points"] for i in answer["items"] if i["item"] == "skill_certificate")


async def test_one_call_to_assessment_and_one_to_the_catalogue_per_batch(loaded, tokens, assessment, catalogue):
    bodies = _learners(assessment)
    assessment.calls.clear()
    r = await loaded.post(BATCH, json={"items": bodies}, headers=tokens.headers("admin"))
    assert r.status_code == 200, r.text
    certificates = sum(len(CERTIFICATES[n % len(CERTIFICATES)]) for n in range(len(bodies)))
    assert certificates > len(bodies)  # more certificates than learners, and more learners than calls
    assert assessment.calls == ["/v1/certificates/of-learners"]
    assert len(catalogue.calls) == 1  # one lookup call for every distinct (occupation, level, issue date)
    timing = dict(part.strip().split(";dur=") for part in r.headers["server-timing"].split(","))
    assert set(timing) == {"assessment", "catalogue", "total"}
    assert float(timing["total"]) >= float(timing["assessment"]) + float(timing["catalogue"])


async def test_a_university_evaluates_only_its_own_students(loaded, tokens, assessment):
    bodies = _learners(assessment, org="u-a")[:3]
    assessment.add("Y000031000123263888888", "lrn_b1", level=3, issued_on="2026-05-10", org="u-b")
    theirs = {"learner_id": "lrn_b1", "as_of": AS_OF, "declared": DECLARED}
    unknown = {"learner_id": "lrn_nobody", "as_of": AS_OF, "declared": DECLARED}
    await _feed(loaded, assessment)

    r = await loaded.post(
        BATCH, json={"items": [*bodies, theirs, unknown]}, headers=tokens.headers("university", org="u-a")
    )
    assert r.status_code == 404
    assert r.json()["type"].endswith("/learner-not-found")
    assert [e["loc"] for e in r.json()["errors"]] == [[3, "learner_id"], [4, "learner_id"]]
    other = await loaded.post(BATCH, json={"items": bodies}, headers=tokens.headers("university", org="u-b"))
    assert other.status_code == 404
    assert [e["loc"] for e in other.json()["errors"]] == [[0, "learner_id"], [1, "learner_id"], [2, "learner_id"]]
    listed = await loaded.get(
        "/v1/points/evaluations", params={"learner_id": "lrn_p00"}, headers=tokens.headers("admin")
    )
    assert listed.json()["items"] == []  # a refused batch stores nothing

    mine = await loaded.post(BATCH, json={"items": bodies}, headers=tokens.headers("university", org="u-a"))
    assert mine.status_code == 200, mine.text
    seen = await loaded.get(
        "/v1/points/evaluations", params={"learner_id": "lrn_p00"}, headers=tokens.headers("university", org="u-a")
    )
    assert [e["id"] for e in seen.json()["items"]] == [mine.json()["items"][0]["id"]]
    hidden = await loaded.get(
        "/v1/points/evaluations", params={"learner_id": "lrn_p00"}, headers=tokens.headers("university", org="u-b")
    )
    assert hidden.status_code == 404  # not u-b's student (tenancy.py)


@pytest.mark.parametrize("role", ["student", "platform"])
async def test_students_and_the_platform_may_not_use_the_batch(loaded, tokens, assessment, role):
    bodies = _learners(assessment)[:1]
    headers = tokens.headers(role, sub="lrn_p00") if role == "student" else tokens.headers(role)
    r = await loaded.post(BATCH, json={"items": bodies}, headers=headers)
    assert r.status_code == 403


async def test_the_size_limit_and_bad_items_name_the_field(loaded, tokens):
    admin = tokens.headers("admin")
    too_many = [{"learner_id": f"lrn_{n}", "declared": {}} for n in range(1_001)]
    r = await loaded.post(BATCH, json={"items": too_many}, headers=admin)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "items"]]
    empty = await loaded.post(BATCH, json={"items": []}, headers=admin)
    assert [e["loc"] for e in empty.json()["errors"]] == [["body", "items"]]
    bad = [
        {"learner_id": "lrn_a", "declared": DECLARED},
        {"learner_id": "lrn_b", "declared": {"degree": "emperor", "astrology": 1}},
        {"learner_id": "lrn_c", "declared": {"school_tier": 9}},
    ]
    r = await loaded.post(BATCH, json={"items": bad}, headers=admin)
    assert r.status_code == 422
    assert sorted(e["loc"] for e in r.json()["errors"]) == [
        [1, "declared", "astrology"],
        [1, "declared", "degree"],
        [2, "declared", "school_tier"],
    ]


async def test_one_event_per_evaluation(loaded, tokens, assessment):
    bodies = _learners(assessment)
    r = await loaded.post(BATCH, json={"items": bodies}, headers=tokens.headers("admin"))
    answers = r.json()["items"]
    feed = (await loaded.get("/v1/events", params={"limit": 1000}, headers=tokens.headers("platform"))).json()
    recorded = [e for e in feed["events"] if e["type"] == "incentives.evaluation.recorded"]
    assert [(e["subject"], e["data"]["id"], e["data"]["learner_id"], e["data"]["total"]) for e in recorded] == [
        (f"evaluation:{a['id']}", a["id"], a["learner_id"], a["total"]) for a in answers
    ]
    assert [e["data"]["skill_points"] for e in recorded] == [_skill(a) for a in answers]
    assert any(_skill(a) for a in answers)


async def test_a_batch_is_audited_like_single_evaluations(loaded, tokens, assessment):
    bodies = _learners(assessment)[:3]
    await _feed(loaded, assessment)
    headers = {**tokens.headers("university", sub="u-a-officer", org="u-a"), "X-Request-ID": "batch-rid"}
    answers = (await loaded.post(BATCH, json={"items": bodies}, headers=headers)).json()["items"]
    entries = (await loaded.get("/v1/audit", params={"limit": 500}, headers=tokens.headers("admin"))).json()["items"]
    mine = {e["entity_id"]: e for e in entries if e["entity"] == "evaluations"}
    assert set(mine) == {a["id"] for a in answers}
    entry = mine[answers[0]["id"]]
    assert (entry["action"], entry["actor_sub"], entry["actor_org"], entry["request_id"]) == (
        "insert",
        "u-a-officer",
        "u-a",
        "batch-rid",
    )
    assert entry["before"] is None
    assert (entry["after"]["learner_id"], entry["after"]["total"]) == (answers[0]["learner_id"], answers[0]["total"])


async def test_a_batch_stored_in_chunks_answers_and_stores_as_one(loaded, tokens, assessment, monkeypatch):
    """Chunked storing (points_batch.CHUNK) changes nothing but memory: the same answer, bytes and
    all but ids and times, as one chunk and as the single route; every event and audit entry, in
    order; and one transaction, so a failure in a later chunk stores nothing."""
    from services.incentives import points_batch

    bodies = _learners(assessment)
    admin = tokens.headers("admin")
    monkeypatch.setattr(points_batch, "CHUNK", points_batch.MAX_BATCH)
    whole = await loaded.post(BATCH, json={"items": bodies}, headers=admin)
    monkeypatch.setattr(points_batch, "CHUNK", 3)
    chunked = await loaded.post(BATCH, json={"items": bodies}, headers=admin)
    assert whole.status_code == chunked.status_code == 200, chunked.text
    assert len(bodies) > 2 * 3 and chunked.content.startswith(b'{"items":[{"id":"')
    assert [_strip(a) for a in chunked.json()["items"]] == [_strip(a) for a in whole.json()["items"]]
    singles = [(await loaded.post("/v1/points/evaluate", json=b, headers=admin)).json() for b in bodies]
    assert [_strip(a) for a in chunked.json()["items"]] == [_strip(s) for s in singles]
    # the chunked answer is the JSON the whole-batch code wrote for the same evaluations
    import json

    assert chunked.content == json.dumps(chunked.json(), ensure_ascii=False, separators=(",", ":")).encode()
    feed = (await loaded.get("/v1/events", params={"limit": 1000}, headers=tokens.headers("platform"))).json()
    recorded = [e["data"]["id"] for e in feed["events"] if e["type"] == "incentives.evaluation.recorded"]
    ids = [a["id"] for a in chunked.json()["items"]]
    assert recorded[len(bodies) : 2 * len(bodies)] == ids
    entries = (await loaded.get("/v1/audit", params={"limit": 500}, headers=admin)).json()["items"]
    assert set(ids) <= {e["entity_id"] for e in entries if e["entity"] == "evaluations"}

    calls = []
    real = points_batch.store_many

    async def failing_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away mid-batch")
        return await real(*args, **kwargs)

    monkeypatch.setattr(points_batch, "store_many", failing_second)
    before = await loaded.get("/v1/points/evaluations", params={"learner_id": bodies[0]["learner_id"]}, headers=admin)
    assert (await loaded.post(BATCH, json={"items": bodies}, headers=admin)).status_code == 500
    assert len(calls) == 2
    after = await loaded.get("/v1/points/evaluations", params={"learner_id": bodies[0]["learner_id"]}, headers=admin)
    assert after.json()["items"] == before.json()["items"]  # the first chunk was not kept
