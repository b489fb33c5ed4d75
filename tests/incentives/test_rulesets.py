import json
from pathlib import Path

from services.incentives.demo import load_demo

DATA = Path(__file__).parents[2] / "services/incentives/data"
SUBSIDY_RULES = json.loads((DATA / "skill_subsidy.json").read_text(encoding="utf-8"))["rules"]
RULESET = {
    "scheme": "skill_subsidy",
    "title": "t",
    "effective_from": "2026-01-01",
    "rules": {**SUBSIDY_RULES, "amount_by_level": {"3": "2000"}},
    "source": "default",
}


async def test_versions_publish_and_immutability(client, tokens):
    admin = tokens.headers("admin")
    first = (await client.post("/v1/rulesets", json=RULESET, headers=admin)).json()
    second = (await client.post("/v1/rulesets", json=RULESET, headers=admin)).json()
    assert (first["version"], second["version"], first["status"]) == (1, 2, "draft")
    published = await client.post(f"/v1/rulesets/{first['id']}/publish", headers=admin)
    assert published.json()["status"] == "published" and published.json()["published_at"]
    again = await client.post(f"/v1/rulesets/{first['id']}/publish", headers=admin)
    assert again.status_code == 409
    listing = (
        await client.get(
            "/v1/rulesets", params={"scheme": "skill_subsidy"}, headers=tokens.headers("student", sub="lrn_x")
        )
    ).json()
    assert [(r["version"], r["status"]) for r in listing["items"]] == [(1, "published"), (2, "draft")]


async def test_only_admin_writes_and_unknown_scheme_is_422(client, tokens):
    assert (
        await client.post("/v1/rulesets", json=RULESET, headers=tokens.headers("university", org="u"))
    ).status_code == 403
    r = await client.post("/v1/rulesets", json={**RULESET, "scheme": "lottery"}, headers=tokens.headers("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "scheme"]


async def test_default_rulesets_load_once_with_sources(client, tokens):
    async with client.app.state.sessionmaker() as session:
        assert await load_demo(session) == {"rulesets": 5}
        assert await load_demo(session) == {"rulesets": 0}
    items = (await client.get("/v1/rulesets", headers=tokens.headers("admin"))).json()["items"]
    assert sorted(r["scheme"] for r in items) == [
        "district_funding",
        "residence_points",
        "settlement_points",
        "skill_subsidy",
        "university_performance",
    ]
    points = next(r for r in items if r["scheme"] == "settlement_points")
    assert points["rules"]["threshold"] == 72
    skill = next(i for i in points["rules"]["items"] if i["id"] == "skill_certificate")
    assert skill["source"] == "default"
    assert skill["points_by_level"] == {"3": 3, "2": 5, "1": 8}
    assert (skill["catalogue_multiplier"], skill["rounding"], skill["count"], skill["cap"]) == (
        "1.5",
        "up",
        "highest_one",
        8,
    )
    residence = next(r for r in items if r["scheme"] == "residence_points")
    assert next(i for i in residence["rules"]["items"] if i["id"] == "skill_certificate")["kind"] == "certificate"


async def test_a_cursor_of_another_shape_is_422(client, tokens):
    from services.kit.pages import encode_cursor

    r = await client.get(
        "/v1/rulesets", params={"cursor": encode_cursor("not-a-pair")}, headers=tokens.headers("admin")
    )
    assert r.status_code == 422 and r.json()["errors"] == [{"loc": ["query", "cursor"], "msg": "not a valid cursor"}]


async def test_each_scheme_document_is_checked_by_its_json_schema(client, tokens):
    admin = tokens.headers("admin")
    bad_subsidy = {**RULESET, "rules": {**SUBSIDY_RULES, "catalogue_uplift": 0.2, "extra": 1}}
    r = await client.post("/v1/rulesets", json=bad_subsidy, headers=admin)
    assert r.status_code == 422
    assert sorted(tuple(e["loc"]) for e in r.json()["errors"]) == [
        ("body", "rules"),
        ("body", "rules", "catalogue_uplift"),
    ]
    points = json.loads((DATA / "settlement_points.json").read_text(encoding="utf-8"))
    points["rules"]["items"][0]["kind"] = "lottery"
    points["rules"]["items"][1]["points"]["1"] = -3
    r = await client.post("/v1/rulesets", json=points, headers=admin)
    assert r.status_code == 422
    assert {tuple(e["loc"][:4]) for e in r.json()["errors"]} == {
        ("body", "rules", "items", 0),
        ("body", "rules", "items", 1),
    }
    performance = {
        "scheme": "university_performance",
        "title": "t",
        "effective_from": "2026-01-01",
        "source": "default",
        "rules": {"indicators": {"vibes": {"weight": "1"}}},
    }
    r = await client.post("/v1/rulesets", json=performance, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][:3] == ["body", "rules", "indicators"]


async def test_duplicate_item_ids_are_422(client, tokens):
    points = json.loads((DATA / "settlement_points.json").read_text(encoding="utf-8"))
    points["rules"]["items"].append({**points["rules"]["items"][2], "field": "other_flag"})
    r = await client.post("/v1/rulesets", json=points, headers=tokens.headers("admin"))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"loc": ["body", "rules", "items", 14, "id"], "msg": "duplicate item id"}]
