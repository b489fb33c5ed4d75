"""Issue 11: graduating-student counts go in with one statement for every item (5,000 items, one
round trip each, took schemathesis past its 10 s timeout); the bureau's write is one audit entry."""

from __future__ import annotations

from typing import Any


async def test_graduate_counts_are_one_statement_and_one_audit_entry(statistics: Any, tokens: Any) -> None:
    admin = tokens.headers("admin", sub="bureau-2")
    items = [
        {"university_org": f"univ-{i}", "graduation_year": 2027, "graduating_students": i, "source": "教委(测试)"}
        for i in range(5000)
    ]
    async with statistics({}) as (_, client):
        r = await client.put("/v1/graduates", headers=admin, json={"items": items})
        assert r.json() == {"stored": 5000}
        stored = (await client.get("/v1/graduates", params={"year": 2027}, headers=admin)).json()
        assert {(g["university_org"], g["graduating_students"]) for g in stored} >= {("univ-4999", 4999)}
        entries = (await client.get("/v1/audit", headers=tokens.headers("admin"))).json()["items"]
    mine = [e for e in entries if e["actor_sub"] == "bureau-2"]
    assert [(e["entity"], e["action"], e["after"]["bulk"], e["after"]["rows"]) for e in mine] == [
        ("graduates", "insert", True, 5000)
    ]
