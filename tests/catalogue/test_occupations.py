from __future__ import annotations

CSV = "code,name,work_types,former_codes\n2-02-38-01,人工智能工程技术人员,,2-02-10-09\n6-31-01-03,电工,维修电工;电气设备安装工,\n"


async def test_import_csv_then_search_and_detail(client, admin):
    r = await client.post(
        "/v1/occupations/import", content=CSV.encode(), headers={**admin, "content-type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "received": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
    }
    r = await client.get("/v1/occupations", params={"q": "电工"}, headers=admin)
    assert [o["code"] for o in r.json()["items"]] == ["6-31-01-03"]
    r = await client.get("/v1/occupations/2-02-10-09", headers=admin)
    body = r.json()
    assert body["code"] == "2-02-38-01" and body["resolved_from"] == "2-02-10-09"
    assert body["aliases"] == [{"old_classification": "2015", "old_code": "2-02-10-09"}]
