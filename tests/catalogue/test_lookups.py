"""Lookups by date, level, alias; the bulk call for assessment in one statement."""

from __future__ import annotations

from services.catalogue.demo import demo_edition_id

OLD, NEW = str(demo_edition_id("demo-2024")), str(demo_edition_id("demo-2026"))


async def test_single_lookup_resolves_the_alias(client, tokens, demo):
    r = await client.get(
        "/v1/lookup",
        params={"occupation_code": "2-02-10-09", "level": 2, "as_of": "2026-09-01"},
        headers=tokens.headers("student"),
    )
    body = r.json()
    assert {k: body[k] for k in ("exists", "resolved_code", "name", "in_catalogue", "edition_id")} == {
        "exists": True,
        "resolved_code": "2-02-38-01",
        "name": "人工智能工程技术人员",
        "in_catalogue": True,
        "edition_id": NEW,
    }
    assert body["entry"]["min_level"] == 3
    assert body["entry"]["industries"] == ["artificial_intelligence"]


async def test_level_must_reach_the_minimum(client, admin, demo):
    answers = []
    for level in (5, 4, 3, 1):
        r = await client.get(
            "/v1/lookup",
            params={"occupation_code": "4-10-01-05", "level": level, "as_of": "2025-01-01"},
            headers=admin,
        )
        answers.append(r.json()["in_catalogue"])
    assert answers == [False, True, True, True]  # min_level 4 in the 2024 edition
    r = await client.get(
        "/v1/lookup",
        params={"occupation_code": "4-10-01-05", "level": 4, "as_of": "2026-08-01"},
        headers=admin,
    )
    assert r.json()["in_catalogue"] is False  # raised to level 3 in 2026


async def test_bulk_lookup_in_query_order(client, tokens, demo):
    queries = [
        {"occupation_code": "6-18-01-01", "level": 3, "as_of": "2025-05-01"},  # in 2024 only
        {"occupation_code": "6-18-01-01", "level": 3, "as_of": "2026-09-01"},
        {"occupation_code": "2-02-10-09", "level": 3, "as_of": "2024-07-01"},  # alias
        {"occupation_code": "4-04-05-13", "level": 4, "as_of": "2024-07-30"},  # not yet in the classification
        {"occupation_code": "4-04-05-13", "level": 4, "as_of": "2026-09-01"},
        {"occupation_code": "9-99-99-99", "level": 3, "as_of": "2026-09-01"},
        {"occupation_code": "6-31-07-01", "level": 3, "as_of": "2020-01-01"},  # before any edition
    ]
    r = await client.post("/v1/lookups", json={"queries": queries}, headers=tokens.headers("service"))
    assert r.status_code == 200, r.text
    got = [
        (x["occupation_code"], x["exists"], x["resolved_code"], x["in_catalogue"], x["edition_id"])
        for x in r.json()["results"]
    ]
    assert got == [
        ("6-18-01-01", True, "6-18-01-01", True, OLD),
        ("6-18-01-01", True, "6-18-01-01", False, NEW),
        ("2-02-10-09", True, "2-02-38-01", True, OLD),
        ("4-04-05-13", False, "4-04-05-13", False, OLD),
        ("4-04-05-13", True, "4-04-05-13", True, NEW),
        ("9-99-99-99", False, None, False, NEW),
        ("6-31-07-01", True, "6-31-07-01", False, None),
    ]
    assert r.json()["results"][0]["name"] == "车工"


async def test_bulk_lookup_limits_and_roles(client, tokens, demo):
    one = {"occupation_code": "6-31-07-01", "level": 3, "as_of": "2026-09-01"}
    r = await client.post(
        "/v1/lookups", json={"queries": [one] * 10_000}, headers=tokens.headers("university", org="u")
    )
    assert r.status_code == 200
    assert len(r.json()["results"]) == 10_000
    assert all(x["in_catalogue"] for x in r.json()["results"])
    r = await client.post("/v1/lookups", json={"queries": [one] * 10_001}, headers=tokens.headers("platform"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "queries"]
    r = await client.post("/v1/lookups", json={"queries": [{**one, "level": 6}]}, headers=tokens.headers("admin"))
    assert r.json()["errors"][0]["loc"] == ["body", "queries", 0, "level"]
    r = await client.post("/v1/lookups", json={"queries": [one]}, headers=tokens.headers("student"))
    assert (r.status_code, r.json()["title"]) == (403, "Forbidden")


async def test_entries_filters(client, admin, demo):
    r = await client.get(
        "/v1/entries", params={"as_of": "2026-09-01", "industry": "elderly_care", "limit": 500}, headers=admin
    )
    assert [e["occupation_code"] for e in r.json()["items"]] == ["4-10-01-05", "4-14-01-02"]
    r = await client.get("/v1/entries", params={"as_of": "2026-09-01", "min_level": 4, "q": "4-10"}, headers=admin)
    assert [e["occupation_code"] for e in r.json()["items"]] == ["4-10-01-03", "4-10-01-06"]
    r = await client.get("/v1/entries", params={"as_of": "2026-09-01", "q": "护理"}, headers=admin)
    assert [e["occupation_name"] for e in r.json()["items"]] == ["养老护理员", "医疗护理员"]
