"""Idempotency-Key for retried POSTs: the same key and body give the first answer again.

The key is claimed with an INSERT inside the use case's transaction, so a concurrent duplicate
waits on the unique index until the first commits (then replays its answer) or rolls back
(then proceeds itself). Same key with another body is 422.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import Column, DateTime, Integer, MetaData, PrimaryKeyConstraint, String, Table, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel.ext.asyncio.session import AsyncSession

from .auth import Principal
from .problems import InvalidInput, field_error

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("principal", "key"),
    )


def scope(principal: Principal) -> str:
    """Whose keys these are: role, organisation and subject together. ``sub`` alone was shared by
    every CLI-made university token, so one university could replay another's answer."""
    raw = f"{principal.role}|{principal.org or '-'}|{principal.sub}"
    return raw if len(raw) <= 200 else "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def request_hash(payload: Any) -> str:
    """A fingerprint of the request. Pass the parsed content, not the raw bytes, so that the
    same JSON sent again with other whitespace or key order is the same request."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


async def claim(
    session: AsyncSession, schema: str, *, principal: Principal, key: str, body_hash: str
) -> tuple[int, Any] | None:
    """Claims ``key`` for ``principal`` (by :func:`scope`) in the current transaction; returns a
    stored ``(status, body)`` to replay. Taking the principal, not a string, keeps every caller on
    the same scope: a route passing ``sub`` alone let one university replay another's answer."""
    owner = scope(principal)
    inserted = (
        await session.execute(
            text(
                f"INSERT INTO {schema}.idempotency_keys (principal, key, request_hash) VALUES (:p, :k, :h) "
                "ON CONFLICT DO NOTHING RETURNING 1"
            ),
            {"p": owner, "k": key, "h": body_hash},
        )
    ).first()
    if inserted is not None:
        return None
    row = (
        await session.execute(
            text(
                f"SELECT request_hash, status_code, response FROM {schema}.idempotency_keys "
                "WHERE principal = :p AND key = :k"
            ),
            {"p": owner, "k": key},
        )
    ).one()
    if row.request_hash != body_hash:
        raise InvalidInput(
            "This Idempotency-Key was used with another request body",
            errors=[field_error(["header", "Idempotency-Key"], "reused with a different body")],
        )
    return int(row.status_code), row.response


async def complete(
    session: AsyncSession, schema: str, *, principal: Principal, key: str, status: int, body: Any
) -> None:
    await session.execute(
        text(
            f"UPDATE {schema}.idempotency_keys SET status_code = :s, response = CAST(:b AS jsonb) "
            "WHERE principal = :p AND key = :k"
        ),
        {"s": status, "b": json.dumps(body, default=str, ensure_ascii=False), "p": scope(principal), "k": key},
    )
