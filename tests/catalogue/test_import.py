"""Bulk import: 2,000 rows with some bad ones report exactly those rows."""

from __future__ import annotations

import io

from openpyxl import Workbook


async def read_feed(client, headers) -> list[dict]:
    events, after = [], None
    while True:
        r = await client.get(
            "/v1/events", params={"limit": 1000, **({"after": after} if after else {})}, headers=headers
        )
        page = r.json()
        if not page["events"]:
            return events
        events += page["events"]
        after = page["next_cursor"]


def rows(n: int) -> list[dict]:
    # Synthetic codes in the right shape (major 8 = "other"), so they never collide with demo data.
    return [
        {"code": f"8-{i // 10000 % 100:02d}-{i // 100 % 100:02d}-{i % 100:02d}", "name": f"测试职业{i}"}
        for i in range(n)
    ]


async def test_2000_rows_with_bad_ones_reports_exactly_those(client, admin):
    data = rows(2000)
    data[7]["code"] = "9-01-01-01"  # major group 9 does not exist
    data[150]["name"] = ""
    data[999] = {"code": "8-00-09-99", "name": "重复", "unexpected": 1}
    data[1500]["code"] = data[1499]["code"]  # duplicate within the upload
    data[1999]["introduced_on"] = "2024-02-30"
    r = await client.post("/v1/occupations/import", json=data, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["received"], body["created"], body["rejected"], body["updated"], body["unchanged"]) == (
        2000,
        1995,
        5,
        0,
        0,
    )
    assert sorted({e["loc"][0] for e in body["errors"]}) == [7, 150, 999, 1500, 1999]
    by_row = {e["loc"][0]: e for e in body["errors"]}
    assert by_row[7]["loc"] == [7, "code"]
    assert by_row[150]["loc"] == [150, "name"]
    assert by_row[999]["loc"] == [999, "unexpected"]
    assert by_row[1500] == {"loc": [1500, "code"], "msg": "duplicate of row 1499"}
    assert by_row[1999]["loc"] == [1999, "introduced_on"]

    data = rows(2000)
    data[3]["name"] = "改名了"
    r = await client.post("/v1/occupations/import", json={"rows": data}, headers=admin)
    assert {k: r.json()[k] for k in ("created", "updated", "unchanged", "rejected")} == {
        "created": 5,
        "updated": 1,
        "unchanged": 1994,
        "rejected": 0,
    }
    types = [e["type"] for e in await read_feed(client, admin)]
    assert types.count("catalogue.occupation.created") == 2000
    assert types.count("catalogue.occupation.updated") == 1
    assert types.count("catalogue.classification.imported") == 2


async def test_xlsx_with_chinese_headers(client, admin):
    book = Workbook()
    sheet = book.active
    sheet.append(["职业编码", "职业名称", "工种"])
    sheet.append(["6-31-01-03", "电工", "维修电工;电气设备安装工"])
    sheet.append(["6-31-1-03", "坏编码", None])
    buf = io.BytesIO()
    book.save(buf)
    r = await client.post(
        "/v1/occupations/import",
        content=buf.getvalue(),
        headers={
            **admin,
            "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    )
    body = r.json()
    assert (body["created"], body["rejected"]) == (1, 1)
    assert body["errors"][0]["loc"] == [1, "code"]
    r = await client.get("/v1/occupations/6-31-01-03", headers=admin)
    assert r.json()["work_types"] == ["电气设备安装工", "维修电工"]


async def test_unreadable_body_and_too_many_rows(client, admin, catalogue_app):
    r = await client.post(
        "/v1/occupations/import", content=b"{not json", headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body"]
    limit = catalogue_app.state.settings.max_import_rows
    r = await client.post("/v1/occupations/import", json=[{}] * (limit + 1), headers=admin)
    assert (r.status_code, r.json()["title"]) == (413, "Payload too large")


async def test_a_former_code_claimed_twice_is_a_row_error_not_a_500(client, admin):
    r = await client.post(
        "/v1/occupations/import",
        json=[
            {"code": "8-99-01-01", "name": "甲", "former_codes": ["8-98-01-01", "8-98-01-01"]},
            {"code": "8-99-01-02", "name": "乙", "former_codes": ["8-98-01-01"]},
            {"code": "8-99-01-03", "name": "丙", "former_codes": ["8-98-01-03"], "former_classification": "x" * 11},
        ],
        headers=admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["rejected"]) == (1, 2)
    by_row = {e["loc"][0]: e for e in body["errors"]}
    assert by_row[1] == {"loc": [1, "former_codes"], "msg": "8-98-01-01 is already a former code of row 0"}
    assert by_row[2]["loc"] == [2, "former_classification"]
    r = await client.get("/v1/occupations/8-98-01-01", headers=admin)
    assert (r.json()["code"], r.json()["resolved_from"]) == ("8-99-01-01", "8-98-01-01")
