import pytest

from services.credit_bank.app import create_app
from services.credit_bank.settings import CreditBankSettings
from tests.support.fixtures import app_client, shared_settings_for_tests


@pytest.fixture
async def client(test_db, signing_key):
    app = create_app(
        CreditBankSettings(database_url=test_db.role_urls["credit_bank"], shared=shared_settings_for_tests())
    )
    async with app_client(app, test_db.engine("credit_bank"), signing_key) as c:
        yield c


PROGRAMME = {"university_org": "univ-a", "code": "EE-01", "name": "电气工程及其自动化", "graduation_credits": "165"}


async def test_university_registers_its_own_programme_with_default_cap(client, tokens):
    r = await client.post("/v1/programmes", json=PROGRAMME, headers=tokens.headers("university", org="univ-a"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["code"], body["graduation_credits"], body["max_converted_ratio"]) == ("EE-01", "165.0", "0.500")
    again = await client.post("/v1/programmes", json=PROGRAMME, headers=tokens.headers("admin"))
    assert again.status_code == 409 and again.json()["type"].endswith("/duplicate-programme")
    events = (await client.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    assert [(e["type"], e["data"]["code"]) for e in events] == [("credit_bank.programme.created", "EE-01")]


async def test_tenants_cannot_see_or_write_each_other(client, tokens):
    r = await client.post("/v1/programmes", json=PROGRAMME, headers=tokens.headers("university", org="univ-b"))
    assert r.status_code == 404
    pid = (await client.post("/v1/programmes", json=PROGRAMME, headers=tokens.headers("admin"))).json()["id"]
    assert (
        await client.get(f"/v1/programmes/{pid}", headers=tokens.headers("university", org="univ-b"))
    ).status_code == 404
    listing = (await client.get("/v1/programmes", headers=tokens.headers("university", org="univ-b"))).json()
    assert listing == {"items": [], "next_cursor": None}
    assert (await client.get(f"/v1/programmes/{pid}", headers=tokens.headers("university", org="univ-a"))).json()[
        "id"
    ] == pid


async def test_invalid_programme_names_fields(client, tokens):
    bad = {**PROGRAMME, "graduation_credits": "-1", "max_converted_ratio": "1.5"}
    r = await client.post("/v1/programmes", json=bad, headers=tokens.headers("admin"))
    assert r.status_code == 422
    assert sorted(e["loc"][-1] for e in r.json()["errors"]) == ["graduation_credits", "max_converted_ratio"]


async def test_a_cursor_of_another_shape_is_422(client, tokens):
    from services.kit.pages import encode_cursor

    r = await client.get("/v1/programmes", params={"cursor": encode_cursor([1, 2])}, headers=tokens.headers("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "cursor"]
