from __future__ import annotations

from services.catalogue.demo import demo_edition_id, load_demo


async def test_demo_loads_once_and_is_idempotent(client, admin, session, demo):
    assert demo == {
        "occupations": 88,
        "occupations_created": 88,
        "occupations_updated": 0,
        "industry_taxonomies_created": 1,
        "editions_created": 2,
        "signals_created": 13,
        "signals_updated": 0,
    }
    again = await load_demo(session)
    assert again == {
        "occupations": 88,
        "occupations_created": 0,
        "occupations_updated": 0,
        "industry_taxonomies_created": 0,
        "editions_created": 0,
        "signals_created": 0,
        "signals_updated": 0,
    }
    r = await client.get("/v1/editions", headers=admin)
    by_id = {e["id"]: e for e in r.json()["items"]}
    old, new = by_id[str(demo_edition_id("demo-2024"))], by_id[str(demo_edition_id("demo-2026"))]
    assert (old["status"], old["effective_from"], old["effective_to"], old["entry_count"]) == (
        "superseded",
        "2024-07-01",
        "2026-07-31",
        29,
    )
    assert (new["status"], new["effective_from"], new["effective_to"], new["entry_count"]) == (
        "published",
        "2026-08-01",
        None,
        32,
    )
    r = await client.get("/v1/industries", headers=admin)
    assert r.json()["version"] == "2024"
    assert [i["group"] for i in r.json()["industries"]].count("livelihood") == 3


async def test_demo_covers_the_3_plus_6_industries(client, tokens, demo):
    student = tokens.headers("student", sub="learner-1")
    seen = set()
    cursor = None
    while True:
        r = await client.get(
            "/v1/entries",
            params={"as_of": "2026-09-01", "limit": 10, **({"cursor": cursor} if cursor else {})},
            headers=student,
        )
        body = r.json()
        seen |= {i for e in body["items"] for i in e["industries"]}
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == {
        "integrated_circuits",
        "biomedicine",
        "artificial_intelligence",
        "electronic_information",
        "life_health",
        "automobiles",
        "high_end_equipment",
        "advanced_materials",
        "fashion_consumer_goods",
        "elderly_care",
        "housekeeping",
        "infant_care",
    }
