"""A database that is away (restarting) is a 503 problem with Retry-After, not a 500 trace."""

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.app import create_service_app
from services.kit.db import SessionDep
from services.kit.settings import ServiceSettings
from tests.support.fixtures import free_port, shared_settings_for_tests

router = APIRouter()


@router.get("/rows")
async def rows(session: SessionDep) -> dict:
    return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}


async def test_database_away_is_503_problem():
    import httpx

    url = f"postgresql+asyncpg://nobody:x@127.0.0.1:{free_port()}/none"
    settings = ServiceSettings(name="catalogue", database_url=url, shared=shared_settings_for_tests())
    app = create_service_app(settings, title="t", schema="catalogue", routers=[router], with_feed=False)
    engine = create_async_engine(url)
    app.state.sessionmaker = async_sessionmaker(engine, class_=AsyncSession)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/rows", headers={"X-Request-ID": "db-away"})
    await engine.dispose()
    assert r.status_code == 503, r.text
    assert r.json()["type"].endswith("/database-unavailable") and r.headers["retry-after"] == "1"
    assert r.headers["x-request-id"] == "db-away"
