"""OAuth 2.0 clients: registration with a secret shown once, and the client-credentials grant."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Literal

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Role, SigningKey, mint_token, role_needs_org
from services.kit.feed import emit
from services.kit.problems import Problem, Unauthorized

from .models import SCHEMA, Client

_hasher = PasswordHasher()
# Verifying against a fixed hash when the client is unknown keeps the timing the same.
_DUMMY_HASH = _hasher.hash("not-a-real-secret")


class ClientCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    org: str | None = Field(default=None, max_length=100)
    scopes: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _university_needs_org(self) -> ClientCreate:
        if role_needs_org(self.role) and not self.org:
            raise ValueError("a university client must name its org")
        return self


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str
    name: str
    role: str
    org: str | None
    scopes: list[str]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class InvalidClient(Problem):
    type_ = "invalid-client"
    title = "Client authentication failed"
    status = 401

    def body(self) -> dict[str, object]:
        return {**super().body(), "error": "invalid_client"}


class UnsupportedGrant(Problem):
    type_ = "unsupported-grant-type"
    title = "Only the client_credentials grant is supported"
    status = 400

    def body(self) -> dict[str, object]:
        return {**super().body(), "error": "unsupported_grant_type"}


async def register_client(
    session: AsyncSession, *, data: ClientCreate, client_id: str | None = None, client_secret: str | None = None
) -> ClientCreated:
    """Registers a machine client; the secret is returned once and stored only as an argon2 hash."""
    client_id = client_id or "cl_" + secrets.token_urlsafe(12)
    client_secret = client_secret or secrets.token_urlsafe(32)
    secret_hash = await anyio.to_thread.run_sync(_hasher.hash, client_secret)
    session.add(Client(client_id=client_id, secret_hash=secret_hash, **data.model_dump()))
    await emit(
        session,
        SCHEMA,
        "gateway.client.registered",
        f"client:{client_id}",
        {"client_id": client_id, "name": data.name, "role": data.role, "org": data.org},
    )
    await session.commit()
    return ClientCreated(client_id=client_id, client_secret=client_secret, **data.model_dump())


async def issue_token(
    session: AsyncSession,
    *,
    key: SigningKey,
    client_id: str,
    client_secret: str,
    issuer: str,
    audience: str,
    ttl_s: int,
) -> TokenResponse:
    client = await session.get(Client, client_id)
    try:
        await anyio.to_thread.run_sync(_hasher.verify, client.secret_hash if client else _DUMMY_HASH, client_secret)
    except (VerificationError, InvalidHashError) as exc:
        raise InvalidClient("unknown client or wrong secret") from exc
    if client is None or client.disabled:
        raise InvalidClient("unknown client or wrong secret")
    token = mint_token(
        key,
        sub=client.client_id,
        role=client.role,
        org=client.org,
        scopes=client.scopes,
        issuer=issuer,
        audience=audience,
        ttl_s=ttl_s,
        extra={"cid": client.client_id},
    )
    return TokenResponse(access_token=token, expires_in=ttl_s)


class ClientStatus:
    """Tokens of a disabled or deleted client stop working within ``ttl_s`` (not at their expiry):
    the gateway asks the client table, remembering each answer briefly (one lookup per client
    per ``ttl_s`` on the hot path)."""

    def __init__(self, sessionmaker: Callable[[], async_sessionmaker[AsyncSession]], ttl_s: float = 30.0) -> None:
        self.sessionmaker = sessionmaker  # read at each lookup: tests swap the app's sessionmaker
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[bool, float]] = {}

    async def require_active(self, client_id: str | None) -> None:
        if client_id is None:  # not issued to a registered client (an IdP's or the operator's CLI)
            return
        now = time.monotonic()
        hit = self._cache.get(client_id)
        if hit is None or hit[1] < now:
            async with self.sessionmaker()() as session:
                client = await session.get(Client, client_id)
            hit = (client is not None and not client.disabled, now + self.ttl_s)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[client_id] = hit
        if not hit[0]:
            raise Unauthorized("the client of this token is disabled or deleted")
