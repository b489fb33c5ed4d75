"""The statistics app on the test database; its sources are fakes or other apps in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.statistics.app import create_app
from services.statistics.settings import StatisticsSettings
from tests.support.fixtures import app_client, shared_settings_for_tests

URLS = {f"{n}_url": f"http://{n}.test" for n in ("assessment", "catalogue", "credit_bank", "incentives")}


@pytest.fixture
def statistics(test_db: Any, signing_key: Any, tokens: Any) -> Callable[..., Any]:
    """``async with statistics(transports) as (app, client)``: the app reads its sources through them."""

    @asynccontextmanager
    async def make(
        transports: dict[str, httpx.AsyncBaseTransport], engine: AsyncEngine | None = None
    ) -> AsyncIterator[tuple[FastAPI, Any]]:
        engine = engine or test_db.engine("statistics")
        settings = StatisticsSettings(
            database_url=str(engine.url),
            shared=shared_settings_for_tests(),
            **{k: v for k, v in URLS.items() if k[: -len("_url")] in transports},
        )

        async def token() -> str:
            return str(tokens("service", sub="svc-statistics"))

        app = create_app(settings, transports=transports, poll=False, token_provider=token)
        async with app_client(app, engine, signing_key) as client:
            yield app, client

    return make
