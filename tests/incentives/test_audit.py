"""Issue 11, audit log: admin and university changes recorded with who, what, when, before and
after; readable by admins only; append-only (kit/audit.py, one table per service)."""

import pytest
from sqlalchemy import text

from tests.incentives.test_rulesets import RULESET


async def test_admin_changes_are_audited_with_before_and_after(client, tokens):
    admin = {**tokens.headers("admin", sub="adm-1"), "X-Request-ID": "audit-rid"}
    created = (await client.post("/v1/rulesets", json=RULESET, headers=admin)).json()
    await client.post(f"/v1/rulesets/{created['id']}/publish", headers=admin)
    entries = (await client.get("/v1/audit", headers=tokens.headers("admin"))).json()["items"]
    mine = [e for e in entries if e["entity_id"] == str(created["id"])]
    assert [(e["action"], e["actor_sub"], e["actor_role"], e["request_id"]) for e in mine] == [
        ("update", "adm-1", "admin", "audit-rid"),
        ("insert", "adm-1", "admin", "audit-rid"),
    ]
    update, insert = mine
    assert insert["before"] is None and insert["after"]["status"] == "draft"
    assert (update["before"]["status"], update["after"]["status"]) == ("draft", "published")
    assert update["entity"] == "rulesets" and update["at"]


@pytest.mark.parametrize("role", ["university", "student", "platform", "service"])
async def test_only_admins_read_the_audit_log(client, tokens, role):
    r = await client.get(
        "/v1/audit", headers=tokens.headers(role, org="u") if role == "university" else tokens.headers(role)
    )
    assert r.status_code == 403


async def test_reads_and_other_roles_leave_no_entry(client, tokens):
    before = (await client.get("/v1/audit", headers=tokens.headers("admin"))).json()["items"]
    await client.get("/v1/rulesets", headers=tokens.headers("admin"))
    after = (await client.get("/v1/audit", headers=tokens.headers("admin"))).json()["items"]
    assert after == before


async def test_the_audit_log_is_append_only(client, tokens):
    await client.post("/v1/rulesets", json=RULESET, headers=tokens.headers("admin"))
    async with client.app.state.sessionmaker() as session:
        for statement in ("UPDATE incentives.audit_log SET actor_sub = 'x'", "DELETE FROM incentives.audit_log"):
            with pytest.raises(Exception, match="append-only"):
                await session.execute(text(statement))
            await session.rollback()
