"""Editions: as-of around a publication, immutability, diff, the previous edition's closing."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.catalogue.demo import demo_edition_id

OLD, NEW = str(demo_edition_id("demo-2024")), str(demo_edition_id("demo-2026"))


async def new_draft(client, admin, based_on=None, title="2027 草案") -> dict:
    r = await client.post(
        "/v1/editions", json={"title": title, **({"based_on": based_on} if based_on else {})}, headers=admin
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize(
    ("as_of", "edition", "count"),
    [
        ("2024-06-30", None, 0),
        ("2024-07-01", OLD, 29),
        ("2026-07-31", OLD, 29),
        ("2026-08-01", NEW, 32),
        ("2026-08-02", NEW, 32),
    ],
)
async def test_entries_as_of_around_publications(client, tokens, demo, as_of, edition, count):
    r = await client.get("/v1/entries", params={"as_of": as_of, "limit": 500}, headers=tokens.headers("platform"))
    body = r.json()
    assert (body["edition_id"], len(body["items"]), body["as_of"]) == (edition, count, as_of)


async def test_publish_closes_previous_and_lookups_follow_the_date(client, admin, demo):
    draft = await new_draft(client, admin, based_on=NEW)
    assert (draft["status"], draft["entry_count"], draft["based_on"]) == ("draft", 32, NEW)
    r = await client.get(
        "/v1/lookup",
        params={"occupation_code": "6-31-07-01", "level": 3, "as_of": "2027-03-01"},
        headers=admin,
    )
    assert (r.json()["in_catalogue"], r.json()["edition_id"]) == (True, NEW)
    entries = (await client.get(f"/v1/editions/{draft['id']}/entries", headers=admin)).json()
    robot = next(e for e in entries if e["occupation_code"] == "6-31-07-01")
    r = await client.delete(f"/v1/editions/{draft['id']}/entries/{robot['id']}", headers=admin)
    assert (r.status_code, r.content) == (204, b"")
    r = await client.post(f"/v1/editions/{draft['id']}/publish", json={"effective_from": "2027-03-01"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["effective_from"], r.json()["entry_count"]) == (
        "published",
        "2027-03-01",
        31,
    )
    previous = (await client.get(f"/v1/editions/{NEW}", headers=admin)).json()
    assert (previous["status"], previous["effective_to"]) == ("superseded", "2027-02-28")
    answers = {}
    for day in ("2027-02-28", "2027-03-01", "2027-03-02"):
        r = await client.get(
            "/v1/lookup", params={"occupation_code": "6-31-07-01", "level": 3, "as_of": day}, headers=admin
        )
        answers[day] = (r.json()["in_catalogue"], r.json()["edition_id"])
    assert answers == {
        "2027-02-28": (True, NEW),
        "2027-03-01": (False, draft["id"]),
        "2027-03-02": (False, draft["id"]),
    }
    r = await client.get("/v1/events", params={"limit": 1000}, headers=admin)
    published = [e for e in r.json()["events"] if e["type"] == "catalogue.edition.published"]
    assert published[-1]["data"]["edition_id"] == draft["id"]
    assert published[-1]["data"]["previous_edition_id"] == NEW


async def test_publish_must_follow_the_current_edition(client, admin, demo):
    draft = await new_draft(client, admin, based_on=NEW)
    r = await client.post(f"/v1/editions/{draft['id']}/publish", json={"effective_from": "2026-08-01"}, headers=admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "effective_from"]
    empty = await new_draft(client, admin)
    r = await client.post(f"/v1/editions/{empty['id']}/publish", json={"effective_from": "2027-01-01"}, headers=admin)
    assert (r.status_code, r.json()["errors"][0]["msg"]) == (422, "the edition has no entries")


async def test_published_edition_is_immutable(client, admin, demo, session):
    entries = (await client.get(f"/v1/editions/{NEW}/entries", headers=admin)).json()
    entry = entries[0]
    add = {
        "occupation_code": "2-02-38-12",
        "min_level": 3,
        "industries": ["electronic_information"],
        "shortage_level": 2,
        "reason": "数据安全",
    }
    for method, url, body in [
        ("POST", f"/v1/editions/{NEW}/entries", add),
        ("PATCH", f"/v1/editions/{NEW}/entries/{entry['id']}", {"shortage_level": 3}),
        ("DELETE", f"/v1/editions/{NEW}/entries/{entry['id']}", None),
        ("POST", f"/v1/editions/{NEW}/publish", {"effective_from": "2030-01-01"}),
    ]:
        r = await client.request(method, url, json=body, headers=admin)
        assert r.status_code == 409, (method, url, r.text)
        assert r.json()["type"].endswith("/edition-not-draft")
    after = (await client.get(f"/v1/editions/{NEW}/entries", headers=admin)).json()
    assert after == entries
    # The database itself refuses, whatever a future code path forgets.
    with pytest.raises(DBAPIError, match="immutable"):
        async with session.begin_nested():
            await (await session.connection()).execute(
                text("UPDATE catalogue.edition_entries SET shortage_level = 3 WHERE id = :id"),
                {"id": entry["id"]},
            )


async def test_diff_between_demo_editions(client, tokens, demo):
    r = await client.get(f"/v1/editions/{NEW}/diff", params={"against": OLD}, headers=tokens.headers("student"))
    body = r.json()
    assert [e["occupation_code"] for e in body["added"]] == [
        "2-02-38-05",
        "4-03-02-08",
        "4-04-05-10",
        "4-04-05-13",
        "6-31-07-02",
    ]
    assert [e["occupation_code"] for e in body["removed"]] == ["6-18-01-01", "6-18-01-02"]
    changed = {c["after"]["occupation_code"]: c["fields"] for c in body["changed"]}
    assert changed == {
        "4-04-05-05": ["shortage_level", "reason"],
        "4-10-01-05": ["min_level", "reason"],
        "6-22-02-01": ["reason", "review_by"],
        "6-25-02-05": ["shortage_level", "reason"],
    }
    chip = next(c for c in body["changed"] if c["after"]["occupation_code"] == "6-25-02-05")
    assert (chip["before"]["shortage_level"], chip["after"]["shortage_level"]) == (2, 1)
    r = await client.get(f"/v1/editions/{OLD}/diff", params={"against": NEW}, headers=tokens.headers("student"))
    assert [e["occupation_code"] for e in r.json()["removed"]] == [
        "2-02-38-05",
        "4-03-02-08",
        "4-04-05-10",
        "4-04-05-13",
        "6-31-07-02",
    ]


async def test_draft_entry_validation_and_conflicts(client, admin, demo):
    draft = await new_draft(client, admin)
    bad = {
        "occupation_code": "2-99-99-99",
        "min_level": 3,
        "industries": ["space_travel"],
        "shortage_level": 2,
        "reason": "x",
    }
    r = await client.post(f"/v1/editions/{draft['id']}/entries", json=bad, headers=admin)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "occupation_code"], ["body", "industries"]]
    r = await client.post(f"/v1/editions/{draft['id']}/entries", json={**bad, "shortage_level": 4}, headers=admin)
    assert r.json()["errors"][0]["loc"] == ["body", "shortage_level"]
    good = {
        "occupation_code": "2-02-10-09",
        "min_level": 3,
        "industries": ["artificial_intelligence"],
        "shortage_level": 1,
        "reason": "旧编码自动换成新编码",
    }
    r = await client.post(f"/v1/editions/{draft['id']}/entries", json=good, headers=admin)
    assert (r.status_code, r.json()["occupation_code"], r.json()["occupation_name"]) == (
        201,
        "2-02-38-01",
        "人工智能工程技术人员",
    )
    r = await client.post(f"/v1/editions/{draft['id']}/entries", json=good, headers=admin)
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[-1]) == (409, "entry-exists")
    r = await client.patch(f"/v1/editions/{draft['id']}/entries/{'0' * 32}", json={"min_level": 2}, headers=admin)
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[-1]) == (404, "entry-not-found")
    entry_id = (await client.get(f"/v1/editions/{draft['id']}/entries", headers=admin)).json()[0]["id"]
    r = await client.patch(f"/v1/editions/{draft['id']}/entries/{entry_id}", json={"min_level": 2}, headers=admin)
    assert (r.json()["min_level"], r.json()["reason"]) == (2, "旧编码自动换成新编码")


async def test_roles_on_edition_writes(client, tokens, demo):
    for role in ("student", "university", "platform", "service"):
        r = await client.post("/v1/editions", json={"title": "x"}, headers=tokens.headers(role, org="u1"))
        assert (r.status_code, r.json()["title"]) == (403, "Forbidden")
    r = await client.get(f"/v1/editions/{NEW}", headers=tokens.headers("university", org="u1"))
    assert r.json()["title"].startswith("上海市急需紧缺")


@pytest.mark.parametrize("path", ["/v1/editions", "/v1/proposals", "/v1/entries"])
async def test_a_cursor_of_another_shape_is_422_naming_it(client, admin, demo, path):
    for value in ("x", 5, ["a"], {"a": 1}, ["2026-01-01", "not-a-uuid"]):
        cursor = base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
        r = await client.get(path, params={"cursor": cursor}, headers=admin)
        assert r.status_code == 422, (value, r.text)
        assert r.json()["errors"] == [{"loc": ["query", "cursor"], "msg": "not a valid cursor"}]
