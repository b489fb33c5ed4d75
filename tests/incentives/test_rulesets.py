import pytest

from services.incentives.app import create_app
from services.incentives.demo import load_demo
from services.incentives.settings import IncentivesSettings
from tests.support.fixtures import app_client, shared_settings_for_tests


@pytest.fixture
async def client(test_db, signing_key):
    app = create_app(
        IncentivesSettings(database_url=test_db.role_urls["incentives"], shared=shared_settings_for_tests())
    )
    async with app_client(app, test_db.engine("incentives"), signing_key) as c:
        c.app = app
        yield c


RULESET = {
    "scheme": "skill_subsidy",
    "title": "t",
    "effective_from": "2026-01-01",
    "rules": {"amount_by_level": {"3": "2000"}},
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
        assert await load_demo(session) == {"rulesets": 2}
        assert await load_demo(session) == {"rulesets": 0}
    items = (await client.get("/v1/rulesets", headers=tokens.headers("admin"))).json()["items"]
    points = next(r for r in items if r["scheme"] == "settlement_points")
    assert points["rules"]["threshold"] == 72
    assert points["rules"]["skill_certificate"]["source"] == "default"
    assert points["rules"]["skill_certificate"]["points_by_level"] == {"3": 3, "2": 5, "1": 8}


async def test_a_cursor_of_another_shape_is_422(client, tokens):
    from services.kit.pages import encode_cursor

    r = await client.get(
        "/v1/rulesets", params={"cursor": encode_cursor("not-a-pair")}, headers=tokens.headers("admin")
    )
    assert r.status_code == 422 and r.json()["errors"] == [{"loc": ["query", "cursor"], "msg": "not a valid cursor"}]
