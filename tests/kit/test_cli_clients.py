"""`skillpass clients create` registers a client whose secret is stored only as an argon2 hash."""

import asyncio
import json
import uuid

import asyncpg
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from skillpass.cli import app as cli


def test_clients_create_stores_a_hash_and_prints_the_secret_once(pg_server, test_db, monkeypatch):
    database = "skillpass_cli_" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("SKILLPASS_ADMIN_DATABASE_URL", pg_server)
    monkeypatch.setenv("SKILLPASS_DATABASE_NAME", database)
    for name, password in test_db.passwords.items():  # roles are cluster-wide: keep their passwords
        monkeypatch.setenv(f"SKILLPASS_{name.upper()}_DB_PASSWORD", password)
    monkeypatch.setattr("skillpass.local.DATABASE_NAME", database)
    result = CliRunner().invoke(
        cli,
        [
            "clients",
            "create",
            "--name",
            "Univ A SIS",
            "--role",
            "university",
            "--org",
            "univ-a",
            "--scope",
            "batches:write",
        ],
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert (created["role"], created["org"], created["scopes"]) == ("university", "univ-a", ["batches:write"])

    async def stored() -> asyncpg.Record:
        url = make_url(pg_server).set(drivername="postgresql", database=database)
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            return await conn.fetchrow("SELECT * FROM gateway.clients WHERE client_id = $1", created["client_id"])
        finally:
            await conn.close()

    row = asyncio.run(stored())
    assert created["client_secret"] not in row["secret_hash"]
    assert PasswordHasher().verify(row["secret_hash"], created["client_secret"])
