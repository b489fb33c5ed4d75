"""Pytest fixtures: a real throw-away PostgreSQL built by the migrations, rolled back per test,
apps called in-process with real signed tokens. Loaded with ``pytest_plugins``."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import KeySource, SigningKey, Verifier, mint_token
from services.kit.settings import SharedSettings

TEST_ISSUER = "https://skillpass.local/gateway"
TEST_AUDIENCE = "skillpass"
TEST_SECRET = "test-secret-0123456789abcdef0123456789abcdef"

# Ports for the tests' own servers come from below the kernel's ephemeral range (32768 and up on
# Linux), each pytest-xdist worker from its own slice, starting at a random place in it: a port
# that bind(0) just answered can be answered again at once (two servers of one platform got the
# same port, and one worker's PostgreSQL start once "succeeded" against the other worker's), and
# other programs' outgoing connections never take a port from this range.
_PORTS_FROM, _PORTS_TO = 20000, 32000
_handed_out: set[int] = set()
_next_port: int | None = None


def _port_slice() -> tuple[int, int]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    size = (_PORTS_TO - _PORTS_FROM) // count
    start = _PORTS_FROM + size * ((int(worker) if worker.isdigit() else 0) % count)
    return start, start + size


def free_port() -> int:
    """A TCP port on loopback that is free now and not handed out before in this test run."""
    global _next_port
    low, high = _port_slice()
    if _next_port is None:
        _next_port = random.randrange(low, high)
    for _ in range(high - low):
        port, _next_port = _next_port, low + (_next_port + 1 - low) % (high - low)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port left in {low}-{high}")


def shared_settings_for_tests(**overrides: Any) -> SharedSettings:
    values: dict[str, Any] = {
        "env": "test",
        "learner_id_key": TEST_SECRET,
        "pii_key": TEST_SECRET,
        "token_issuer": TEST_ISSUER,
        "token_audience": TEST_AUDIENCE,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return SharedSettings(**values)


@dataclass
class DatabaseUnderTest:
    admin_url: str
    role_urls: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)
    engines: dict[str, AsyncEngine] = field(default_factory=dict)

    def engine(self, name: str) -> AsyncEngine:
        if name not in self.engines:
            self.engines[name] = create_async_engine(self.role_urls[name], pool_size=5, max_overflow=20)
        return self.engines[name]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """An admin URL: ``TEST_DATABASE_URL``, or a throw-away embedded PostgreSQL under /tmp."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external.replace("postgresql://", "postgresql+asyncpg://", 1)
        return
    from skillpass.devdb import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="skillpass-test-pg-", dir="/tmp"))
    server = EmbeddedPostgres(root, free_port(), fast_unsafe=True)
    server.start()
    try:
        yield server.admin_url()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def test_db(pg_server: str) -> AsyncIterator[DatabaseUnderTest]:
    from skillpass.bootstrap import bootstrap, role_url
    from skillpass.registry import ALL

    name = "skillpass_test_" + uuid.uuid4().hex[:8]
    passwords = {s.name: secrets.token_urlsafe(16) for s in ALL}
    db_admin = await bootstrap(pg_server, name, passwords)
    db = DatabaseUnderTest(
        admin_url=db_admin,
        passwords=passwords,
        role_urls={s.name: role_url(db_admin, s, passwords[s.name]) for s in ALL},
    )
    yield db
    for engine in db.engines.values():
        await engine.dispose()


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.generate()


@dataclass
class Tokens:
    key: SigningKey

    def __call__(
        self,
        role: str,
        *,
        sub: str | None = None,
        org: str | None = None,
        scopes: tuple[str, ...] = (),
        ttl_s: int = 600,
        **extra: Any,
    ) -> str:
        return mint_token(
            self.key,
            sub=sub or f"{role}-test",
            role=role,
            org=org,
            scopes=scopes,
            issuer=TEST_ISSUER,
            audience=TEST_AUDIENCE,
            ttl_s=ttl_s,
            extra=extra or None,
        )

    def headers(self, role: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self(role, **kwargs)}"}


@pytest.fixture(scope="session")
def tokens(signing_key: SigningKey) -> Tokens:
    return Tokens(signing_key)


def verifier_for_tests(key: SigningKey) -> Verifier:
    return Verifier(audience=TEST_AUDIENCE, issuers={TEST_ISSUER: KeySource(static=[key.public_jwk])})


@asynccontextmanager
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A sessionmaker whose every session joins one outer transaction that is rolled back."""
    async with engine.connect() as conn:
        trans = await conn.begin()
        maker = async_sessionmaker(
            bind=conn, class_=AsyncSession, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield maker
        finally:
            if trans.is_active:
                await trans.rollback()


@asynccontextmanager
async def app_client(
    app: FastAPI, engine: AsyncEngine, key: SigningKey, *, rollback: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """Calls ``app`` in-process, its sessions inside a rolled-back transaction (or committing)."""
    app.state.verifier = verifier_for_tests(key)
    if rollback:
        async with rolled_back(engine) as maker:
            app.state.sessionmaker = maker
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                yield client
    else:
        app.state.sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client


def run_sync(fn: Callable[..., Any], *args: Any) -> Any:
    return asyncio.to_thread(fn, *args)


@pytest.fixture(scope="session")
async def shared_platform(
    pg_server: str, test_db: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Any]]:
    """One platform of real processes per session (per xdist worker) for the modules that tolerate
    each other's data: starting the six processes costs ~9 s of CPU each time."""
    from tests.support.platform import running_platform

    async with running_platform(pg_server, test_db, tmp_path_factory.mktemp("shared-e2e")) as plat:
        yield plat
