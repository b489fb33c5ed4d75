"""Issue 11, audit log: a university's change is recorded with its organisation."""

from tests.credit_bank.test_programmes import client  # noqa: F401


async def test_university_changes_are_audited(client, tokens):  # noqa: F811
    univ = tokens.headers("university", org="univ-aud", sub="sis")
    created = await client.post(
        "/v1/programmes",
        headers=univ,
        json={"university_org": "univ-aud", "code": "AU-1", "name": "Audit", "graduation_credits": "150"},
    )
    assert created.status_code == 201, created.text
    entries = (await client.get("/v1/audit", headers=tokens.headers("admin"))).json()["items"]
    entry = next(e for e in entries if e["entity_id"] == str(created.json()["id"]))
    assert (entry["action"], entry["actor_role"], entry["actor_org"], entry["actor_sub"]) == (
        "insert",
        "university",
        "univ-aud",
        "sis",
    )
    assert entry["after"]["code"] == "AU-1" and entry["before"] is None
