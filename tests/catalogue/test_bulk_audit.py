"""Issue 11, audit of writes made with SQL statements rather than the ORM: an edition copied with
one INSERT … SELECT is one summary entry (who, the verb, the table, how many rows)."""

from __future__ import annotations

from tests.catalogue.test_editions import NEW, new_draft


async def test_an_edition_copied_with_one_statement_is_audited(client, admin, demo, tokens):
    before = await client.get("/v1/entries", params={"edition_id": NEW, "limit": 500}, headers=admin)
    draft = await new_draft(client, {**admin, "X-Request-ID": "copy-rid"}, based_on=NEW)
    entries = (await client.get("/v1/audit", params={"limit": 100}, headers=admin)).json()["items"]
    bulk = [e for e in entries if e["entity"] == "edition_entries" and (e["after"] or {}).get("bulk")]
    assert len(bulk) == 1, bulk
    copy = bulk[0]
    assert (copy["action"], copy["actor_role"], copy["actor_sub"], copy["request_id"]) == (
        "insert",
        "admin",
        "admin-test",
        "copy-rid",
    )
    assert copy["after"]["rows"] == draft["entry_count"] == 32 == len(before.json()["items"])
    assert copy["after"]["statement"].startswith("INSERT INTO catalogue.edition_entries")
    assert copy["before"] is None and copy["at"]
    # The edition row itself came through the ORM: one row entry with its values, not a second one.
    own = [e for e in entries if e["entity"] == "editions" and e["entity_id"] == draft["id"]]
    assert [(e["action"], e["after"]["title"]) for e in own] == [("insert", draft["title"])]


ROW = {
    "occupation_code": "6-31-01-03",
    "period": "2026-Q4",
    "vacancies": 500,
    "job_seekers": 250,
    "median_wage": "9000",
    "wage_growth": "0.05",
    "fill_rate": "0.6",
}


async def test_signals_upserted_in_bulk_are_audited_for_admins_only(client, admin, demo, tokens):
    """Only admin and university changes are audited: the platform's signals are its feed."""
    before = (await client.get("/v1/audit", headers=admin)).json()["items"]
    r = await client.post("/v1/signals", json=[ROW], headers=tokens.headers("platform"))
    assert r.status_code == 200, r.text
    assert (await client.get("/v1/audit", headers=admin)).json()["items"] == before
    rows = [ROW, {**ROW, "occupation_code": "6-25-02-05"}]
    r = await client.post("/v1/signals", json=rows, headers=tokens.headers("admin", sub="bureau-1"))
    assert r.status_code == 200, r.text
    new = (await client.get("/v1/audit", headers=admin)).json()["items"][: -len(before) or None]
    assert {(e["entity"], e["action"], e["actor_sub"], e["after"]["bulk"]) for e in new} == {
        ("signals", "insert", "bureau-1", True)
    }
    # The rows the statement changed: the first signal was already there as sent.
    assert sum(e["after"]["rows"] for e in new) == 1
