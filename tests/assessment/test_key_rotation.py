"""Credential key rotation: a next key signs from its date, retired keys stay published."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assessment.app import create_app
from services.assessment.keys import CredentialKeySpec
from services.assessment.settings import AssessmentSettings
from services.kit.auth import SigningKey
from tests.assessment.asm_support import FakeCatalogue, record
from tests.assessment.vc_support import b64u_decode, credential_jwt, independent_verify, issue, jwks
from tests.support.fixtures import rolled_back, shared_settings_for_tests, verifier_for_tests

OLD, NEW = SigningKey.generate(), SigningKey.generate()


def _app(test_db: Any, catalogue: FakeCatalogue, first: SigningKey, more: list[CredentialKeySpec]) -> FastAPI:
    settings = AssessmentSettings(
        database_url=test_db.role_urls["assessment"],
        shared=shared_settings_for_tests(),
        credential_key_pem=first.private_pem.decode(),
        credential_keys=more,
    )
    return create_app(settings, catalogue_transport=httpx.MockTransport(catalogue.handler))


@asynccontextmanager
async def _clients(test_db: Any, signing_key: SigningKey, apps: list[FastAPI]) -> Any:
    """One client per app, all in one rolled-back transaction (they see each other's writes)."""
    async with rolled_back(test_db.engine("assessment")) as maker:
        clients = []
        for app in apps:
            app.state.verifier = verifier_for_tests(signing_key)
            app.state.sessionmaker = maker
            clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"))
        try:
            yield clients
        finally:
            for c in clients:
                await c.aclose()


def _kid(token: str) -> str:
    return str(json.loads(b64u_decode(token.split(".")[0]))["kid"])


async def _verified(client: httpx.AsyncClient, token: str) -> bool:
    r = await client.post(
        "/v1/credentials/verify", json={"credential": token}, headers={"X-Forwarded-For": token[-12:]}
    )
    assert r.status_code == 200, r.text
    return bool(r.json()["verified"])


async def test_rotation_signs_with_the_next_key_and_both_generations_verify(
    test_db: Any, signing_key: SigningKey, tokens: Any
) -> None:
    catalogue = FakeCatalogue()
    now = datetime.now(UTC)
    before = _app(
        test_db, catalogue, OLD, [CredentialKeySpec(pem=NEW.private_pem.decode(), signs_from=now + timedelta(days=30))]
    )
    after = _app(
        test_db,
        catalogue,
        OLD,
        [CredentialKeySpec(pem=NEW.private_pem.decode(), signs_from=now - timedelta(seconds=1))],
    )
    # Later still: the old private key is destroyed; only its public JWK stays published.
    retired = _app(test_db, catalogue, NEW, [CredentialKeySpec(public_jwk=OLD.public_jwk)])
    async with _clients(test_db, signing_key, [before, after, retired]) as (c_before, c_after, c_retired):
        rec = record("rot")
        _, [number] = await issue(c_before, tokens, [rec])
        old_token = await credential_jwt(c_before, tokens, rec, number)
        new_token = await credential_jwt(c_after, tokens, rec, number)
        assert _kid(old_token) == OLD.kid  # the next key is published ahead but does not sign yet
        assert _kid(new_token) == NEW.kid
        assert {k["kid"] for k in (await jwks(c_before))["keys"]} == {OLD.kid, NEW.kid}
        for client in (c_before, c_after, c_retired):
            keys = await jwks(client)
            assert {k["kid"] for k in keys["keys"]} == {OLD.kid, NEW.kid}
            assert all("d" not in k for k in keys["keys"])  # public parts only
            # Both generations verify: independently, and through our endpoint.
            old_vc, new_vc = independent_verify(old_token, keys), independent_verify(new_token, keys)
            assert old_vc["awardedDate"] == new_vc["awardedDate"]
            assert await _verified(client, old_token)
            assert await _verified(client, new_token)
        assert _kid(await credential_jwt(c_retired, tokens, rec, number)) == NEW.kid
        # Status lists are signed by the current key too.
        path = old_vc["credentialStatus"]["statusListCredential"].split("/api/assessment", 1)[1]
        assert _kid((await c_after.get(path)).text) == NEW.kid


def test_a_key_spec_names_one_source_and_a_time_zone() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        CredentialKeySpec(pem=OLD.private_pem.decode(), public_jwk=OLD.public_jwk)
    with pytest.raises(ValueError, match="time zone"):
        CredentialKeySpec(pem=OLD.private_pem.decode(), signs_from=datetime(2027, 1, 1))
