"""Issue 11: public verification's limit is kept in PostgreSQL (assessment.rate_buckets), so a
client gets one burst across every replica, not one per replica."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import httpx
from sqlalchemy import text

from services.assessment.app import create_app
from services.assessment.settings import AssessmentSettings
from services.kit.auth import SigningKey
from tests.assessment.asm_support import FakeCatalogue
from tests.support.fixtures import app_client, shared_settings_for_tests


def _app(test_db: Any, **kw: Any) -> Any:
    settings = AssessmentSettings(
        database_url=test_db.role_urls["assessment"],
        shared=shared_settings_for_tests(),
        verify_burst=4,
        verify_rate_per_s=0.01,
        credential_key_pem=SigningKey.generate().private_pem.decode(),
        **kw,
    )
    return create_app(settings, catalogue_transport=httpx.MockTransport(FakeCatalogue().handler))


async def _alternate(test_db: Any, signing_key: Any, apps: list[Any], path: str, calls: int) -> tuple[list[int], str]:
    # The gateway's address for this client, as the trusted loopback hop tells it; a fresh one per
    # run, since these buckets are committed.
    address = f"198.18.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    answers = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(app_client(app, test_db.engine("assessment"), signing_key, rollback=False))
            for app in apps
        ]
        for i in range(calls):
            r = await clients[i % len(clients)].get(
                path, params={"number": "Y0000319999992640000001", "name": "x"}, headers={"X-Forwarded-For": address}
            )
            answers.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
                assert r.json()["type"].endswith("verify-rate-limited")
            else:
                assert r.json()["found"] is False
    return answers, address


async def test_the_verification_limit_holds_across_two_replicas(test_db, signing_key):
    apps = [_app(test_db), _app(test_db)]
    answers, address = await _alternate(test_db, signing_key, apps, "/v1/verify", 8)
    async with test_db.engine("assessment").begin() as conn:
        stored = (
            await conn.execute(text("SELECT tokens FROM assessment.rate_buckets WHERE key = :k"), {"k": address})
        ).scalar_one()
        await conn.execute(text("DELETE FROM assessment.rate_buckets WHERE key = :k"), {"k": address})
    assert answers == [200] * 4 + [429] * 4, answers
    assert stored < 1


async def test_the_memory_store_keeps_one_limit_per_replica(test_db, signing_key):
    """What the shared store fixes: in memory, each replica gives the client its own burst."""
    apps = [_app(test_db, verify_rate_limit_store="memory"), _app(test_db, verify_rate_limit_store="memory")]
    answers, _ = await _alternate(test_db, signing_key, apps, "/v1/verify", 10)
    assert answers == [200] * 8 + [429] * 2, answers
