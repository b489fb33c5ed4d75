"""Bodies and filings: checked credit codes, scope occupations from the catalogue, suspend/revoke, tenancy."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.assessment.asm_support import FakeCatalogue, events, make_body, make_uscc


async def test_body_gets_a_sequence_and_shows_its_filing(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    r = await client.get(f"/v1/bodies/{body['id']}", headers=tokens.headers("university", org="univ-a"))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["sequence"] == body["sequence"] > 0
    assert got["kind"] == "employer"
    assert got["university_org"] == "univ-a"
    assert [f["filing_no"] for f in got["filings"]] == [body["filing"]["filing_no"]]
    assert got["filings"][0]["scope"][0] == {
        "occupation_code": "6-25-02-05",
        "work_type": None,
        "levels": [3, 4, 5],
    }
    assert got["filings"][0]["status"] == "active"


async def test_bad_credit_code_and_employer_without_university_are_422(client: Any, tokens: Any) -> None:
    good = make_uscc(4242)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    r = await client.post(
        "/v1/bodies",
        headers=tokens.headers("admin"),
        json={"name": "坏代码", "uscc": bad, "kind": "social", "district": "徐汇区"},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "uscc"]
    r = await client.post(
        "/v1/bodies",
        headers=tokens.headers("admin"),
        json={"name": "无大学", "uscc": good, "kind": "employer", "district": "徐汇区"},
    )
    assert r.status_code == 422
    assert "university_org" in r.json()["errors"][0]["msg"]


async def test_duplicate_credit_code_is_409(client: Any, tokens: Any) -> None:
    code = make_uscc(777)
    data = {"name": "重复机构", "uscc": code, "kind": "social", "district": "浦东新区"}
    assert (await client.post("/v1/bodies", headers=tokens.headers("admin"), json=data)).status_code == 201
    r = await client.post("/v1/bodies", headers=tokens.headers("admin"), json=data)
    assert r.status_code == 409
    assert r.json()["type"].endswith("duplicate-body")


async def test_only_admin_files_bodies(client: Any, tokens: Any) -> None:
    r = await client.post(
        "/v1/bodies",
        headers=tokens.headers("university", org="univ-a"),
        json={"name": "自建", "uscc": make_uscc(778), "kind": "social", "district": "浦东新区"},
    )
    assert r.status_code == 403


async def test_filing_with_unknown_occupation_is_422_and_asks_catalogue(
    client: Any, tokens: Any, catalogue: FakeCatalogue
) -> None:
    body = await make_body(client, tokens)
    catalogue.calls.clear()
    r = await client.post(
        f"/v1/bodies/{body['id']}/filings",
        headers=tokens.headers("admin"),
        json={
            "filing_no": "沪评备-X1",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "scope": [
                {"occupation_code": "4-10-01-05", "levels": [4]},
                {"occupation_code": "9-99-99-99", "levels": [3, 4]},
            ],
        },
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {"loc": ["body", "scope", 1, "occupation_code"], "msg": "9-99-99-99 is not an occupation"}
    ]
    assert len(catalogue.calls) == 1
    assert len(catalogue.calls[0]) == 3


async def test_scope_answers_are_cached(client: Any, tokens: Any, catalogue: FakeCatalogue) -> None:
    await make_body(client, tokens)
    await make_body(client, tokens)
    assert len(catalogue.calls) == 1  # the second body's identical scope came from the cache


async def test_catalogue_down_is_503(client: Any, tokens: Any, catalogue: FakeCatalogue) -> None:
    body = await make_body(client, tokens, scope=[{"occupation_code": "4-04-05-05", "levels": [4]}])
    catalogue.down = True
    r = await client.post(
        f"/v1/bodies/{body['id']}/filings",
        headers=tokens.headers("admin"),
        json={
            "filing_no": "沪评备-DOWN",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "scope": [{"occupation_code": "4-10-01-05", "levels": [5]}],
        },
    )
    assert r.status_code == 503
    assert r.json()["type"].endswith("upstream-unavailable")


async def test_suspend_then_revoke_filing_with_events(client: Any, tokens: Any, app: Any) -> None:
    body = await make_body(client, tokens)
    fid = body["filing"]["id"]
    admin = tokens.headers("admin")
    r = await client.post(f"/v1/bodies/{body['id']}/filings/{fid}/suspend", headers=admin, json={"reason": "整改"})
    assert r.status_code == 200
    assert r.json()["status"] == "suspended"
    assert r.json()["status_reason"] == "整改"
    r = await client.post(f"/v1/bodies/{body['id']}/filings/{fid}/suspend", headers=admin, json={"reason": "again"})
    assert r.status_code == 409
    r = await client.post(f"/v1/bodies/{body['id']}/filings/{fid}/revoke", headers=admin, json={"reason": "违规"})
    assert r.json()["status"] == "revoked"
    types = [e["type"] for e in await events(app) if e["subject"] in (f"body:{body['id']}", f"filing:{fid}")]
    assert types == [
        "assessment.body.filed",
        "assessment.filing.filed",
        "assessment.filing.suspended",
        "assessment.filing.revoked",
    ]


async def test_university_sees_only_its_bodies(client: Any, tokens: Any) -> None:
    mine = await make_body(client, tokens, org="univ-a")
    theirs = await make_body(client, tokens, org="univ-b")
    a = tokens.headers("university", org="univ-a")
    assert (await client.get(f"/v1/bodies/{theirs['id']}", headers=a)).status_code == 404
    r = await client.get("/v1/bodies?university_org=univ-b", headers=a)
    ids = [b["id"] for b in r.json()["items"]]
    assert mine["id"] in ids
    assert theirs["id"] not in ids
    r = await client.get("/v1/bodies?university_org=univ-b", headers=tokens.headers("admin"))
    assert [b["id"] for b in r.json()["items"]] == [theirs["id"]]


async def test_a_cursor_of_another_shape_is_422_naming_it(client: Any, tokens: Any) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(["x"]).encode()).decode().rstrip("=")
    for path in ("/v1/bodies", "/v1/records"):
        r = await client.get(path, params={"cursor": cursor}, headers=tokens.headers("admin"))
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"loc": ["query", "cursor"], "msg": "not a valid cursor"}]
