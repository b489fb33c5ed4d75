"""Core statements on the session's own connection (same transaction, no ORM in the way)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.feed import emit_many

from .models import SCHEMA


async def run(session: AsyncSession, stmt: Executable, params: dict[str, Any] | None = None) -> CursorResult[Any]:
    conn = await session.connection()
    return await conn.execute(stmt, params or {})


async def emit_event(session: AsyncSession, type_: str, subject: str, data: dict[str, Any]) -> None:
    """The kernel's outbox write, on the session's connection: SQLModel warns on ``session.execute``."""
    await emit_many(await session.connection(), SCHEMA, [(type_, subject, data)])
