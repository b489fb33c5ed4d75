from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.catalogue.app import create_app
from services.catalogue.settings import CatalogueSettings
from tests.support.fixtures import app_client, shared_settings_for_tests


@pytest.fixture(scope="session")
def catalogue_app(test_db):
    return create_app(
        CatalogueSettings(database_url=test_db.role_urls["catalogue"], shared=shared_settings_for_tests())
    )


@pytest.fixture
async def client(catalogue_app, test_db, signing_key) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process; everything a test writes is rolled back after it."""
    async with app_client(catalogue_app, test_db.engine("catalogue"), signing_key) as c:
        yield c


@pytest.fixture
async def session(catalogue_app, client):
    """A session inside the same rolled-back transaction as ``client``."""
    async with catalogue_app.state.sessionmaker() as s:
        yield s


@pytest.fixture
def admin(tokens) -> dict[str, str]:
    return tokens.headers("admin")


@pytest.fixture
async def demo(session) -> dict[str, int]:
    from services.catalogue.demo import load_demo

    return await load_demo(session)
