"""Fixtures: the assessment app on the real test database, a fake catalogue behind MockTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assessment.app import create_app
from services.assessment.settings import AssessmentSettings
from services.kit.auth import SigningKey
from tests.assessment.asm_support import FakeCatalogue, FakeCreditBank
from tests.support.fixtures import app_client, shared_settings_for_tests


@pytest.fixture(scope="session")
def catalogue() -> FakeCatalogue:
    return FakeCatalogue()


@pytest.fixture(scope="session")
def credit_bank() -> FakeCreditBank:
    return FakeCreditBank()


@pytest.fixture(scope="session")
def app(test_db: Any, catalogue: FakeCatalogue, credit_bank: FakeCreditBank) -> FastAPI:
    settings = AssessmentSettings(
        database_url=test_db.role_urls["assessment"],
        shared=shared_settings_for_tests(),
        verify_burst=5,
        verify_rate_per_s=0.01,
        # From settings, so tests never write a key under .data.
        credential_key_pem=SigningKey.generate().private_pem.decode(),
    )
    return create_app(
        settings,
        catalogue_transport=httpx.MockTransport(catalogue.handler),
        credit_bank_transport=httpx.MockTransport(credit_bank.handler),
    )


@pytest.fixture
async def client(
    app: FastAPI, test_db: Any, signing_key: Any, catalogue: FakeCatalogue, credit_bank: FakeCreditBank
) -> AsyncIterator[httpx.AsyncClient]:
    catalogue.reset()
    credit_bank.reset()
    app.state.assessment.catalogue._cache.clear()
    async with app_client(app, test_db.engine("assessment"), signing_key) as c:
        yield c
