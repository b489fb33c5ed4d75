"""Async engine and sessions: SQLModel's AsyncSession, ``expire_on_commit=False``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from .settings import ServiceSettings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    """Each service keeps its own MetaData so that migrations and tests see only its schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def make_engine(settings: ServiceSettings) -> AsyncEngine:
    connect_args: dict[str, object] = {"server_settings": {"application_name": f"skillpass-{settings.name}"}}
    if not settings.db_statement_cache:
        connect_args["statement_cache_size"] = 0
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        # Failed statements are logged and raised without their values (a secret's hash, a name).
        hide_parameters=True,
        connect_args=connect_args,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def sessionmaker_of(app: Starlette) -> async_sessionmaker[AsyncSession]:
    """The app's sessions (tests swap in one bound to their transaction), for work outside a request."""
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return maker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; use cases commit explicitly, this never commits."""
    async with sessionmaker_of(request.app)() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
