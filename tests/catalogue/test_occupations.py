from __future__ import annotations

CSV = (
    "code,name,work_types,former_codes\n"
    "2-02-38-01,人工智能工程技术人员,,2-02-10-09\n"
    "6-31-01-03,电工,维修电工;电气设备安装工,\n"
)


async def test_import_csv_then_search_and_detail(client, admin, tokens):
    r = await client.post("/v1/occupations/import", content=CSV.encode(), headers={**admin, "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "received": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
    }
    any_role = tokens.headers("student", sub="learner-1")
    r = await client.get("/v1/occupations", params={"q": "电工"}, headers=any_role)
    assert [o["code"] for o in r.json()["items"]] == ["6-31-01-03"]
    r = await client.get("/v1/occupations", params={"q": "2-02"}, headers=any_role)
    assert [o["code"] for o in r.json()["items"]] == ["2-02-38-01"]
    r = await client.get("/v1/occupations/2-02-10-09", headers=any_role)
    body = r.json()
    assert (body["code"], body["resolved_from"], body["minor"]) == ("2-02-38-01", "2-02-10-09", "2-02-38")
    assert body["aliases"] == [{"old_classification": "2015", "old_code": "2-02-10-09"}]
    r = await client.get("/v1/occupations/6-31-01-03", headers=any_role)
    assert r.json()["work_types"] == ["电气设备安装工", "维修电工"]


async def test_search_by_name_substring_and_major(client, admin, demo):
    r = await client.get("/v1/occupations", params={"q": "机器人", "major": "6"}, headers=admin)
    assert [o["name"] for o in r.json()["items"]] == ["工业机器人系统运维员", "工业机器人系统操作员"]
    r = await client.get("/v1/occupations", params={"q": "%"}, headers=admin)
    assert r.json() == {"items": [], "next_cursor": None}


async def test_pagination_is_clamped_and_follows_cursor(client, admin, demo):
    codes, cursor = [], None
    while True:
        r = await client.get(
            "/v1/occupations", params={"limit": 30, **({"cursor": cursor} if cursor else {})}, headers=admin
        )
        codes += [o["code"] for o in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(codes) == 88
    assert codes == sorted(codes)
    r = await client.get("/v1/occupations", params={"limit": 100000}, headers=admin)
    assert len(r.json()["items"]) == 88


async def test_unknown_occupation_is_a_problem(client, admin):
    r = await client.get("/v1/occupations/9-99-99-99", headers=admin)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/occupation-not-found")


async def test_import_needs_admin_and_a_token(client, tokens):
    r = await client.post("/v1/occupations/import", json=[], headers=tokens.headers("platform"))
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[-1]) == (403, "forbidden")
    r = await client.get("/v1/occupations")
    assert (r.status_code, r.json()["title"]) == (401, "Not authenticated")


async def test_openapi_lists_the_contract_paths(client):
    r = await client.get("/openapi.json")
    paths = r.json()["paths"]
    for path in (
        "/v1/occupations",
        "/v1/occupations/{code}",
        "/v1/occupations/import",
        "/v1/industries",
        "/v1/editions",
        "/v1/editions/{edition_id}",
        "/v1/editions/{edition_id}/entries",
        "/v1/editions/{edition_id}/entries/{entry_id}",
        "/v1/editions/{edition_id}/publish",
        "/v1/editions/{edition_id}/diff",
        "/v1/entries",
        "/v1/lookup",
        "/v1/lookups",
        "/v1/signals",
        "/v1/recommendations",
        "/v1/proposals",
        "/v1/proposals/{proposal_id}/decision",
        "/v1/events",
    ):
        assert path in paths, path
    assert set(paths["/v1/editions/{edition_id}/entries/{entry_id}"]) == {"patch", "delete"}
