"""Audit log (issue 11): every change an admin or a university makes through the ORM is recorded
in the service's own ``audit_log`` — who (sub, role, org, request id), what (table, key, action),
when, and the row before and after. Append-only: a trigger refuses UPDATE and DELETE. Admins read
it at ``GET /v1/audit``.

Recorded in the same transaction as the change (SQLAlchemy ``after_flush``), so a rolled-back
change leaves no entry.

Writes made with SQL statements rather than the ORM (``text`` or Core ``insert``/``update``/
``delete``, one statement or many rows: an edition copied, an import, an upsert per row) are seen
by an engine hook: one summary entry per statement — the verb, the table, the number of rows and
the statement's text (its values are parameters, never in the text), ``bulk: true``. Writes that
bypass SQLAlchemy (asyncpg ``COPY``) are recorded by the code that makes them, with
:func:`record_bulk`. Bookkeeping tables (outbox, idempotency keys, rate buckets, the log itself)
are not entries.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from .auth import Principal, Role, current_principal, require_roles
from .db import SessionDep
from .obs import request_id_var
from .pages import Page, PageDep, cursor_key, make_page

AUDITED_ROLES: frozenset[Role] = frozenset({"admin", "university"})
# Bookkeeping, not the business's data: no entries for writes to these.
NOT_AUDITED = frozenset({"audit_log", "events", "events_horizon", "idempotency_keys", "rate_buckets"})
_WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?\"?(\w+)\"?\.\"?(\w+)", re.IGNORECASE)
# Execution option for a statement whose rows the caller audits itself, entry by entry (a set-based
# INSERT that writes the same per-row entries the ORM hook would): the statement hook skips it.
AUDITED_BY_CALLER = "skillpass_audited_by_caller"
_WRITE_START = re.compile(r"^\s*(?:INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_log",
        metadata,
        Column("id", BigInteger, Identity(), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor_sub", String(200), nullable=False),
        Column("actor_role", String(20), nullable=False),
        Column("actor_org", String(100), nullable=True),
        Column("request_id", String(128), nullable=True),
        Column("action", String(10), nullable=False),
        Column("entity", String(100), nullable=False),
        Column("entity_id", String(200), nullable=True),
        Column("before", JSONB, nullable=True),
        Column("after", JSONB, nullable=True),
        PrimaryKeyConstraint("id"),
    )


def create_audit_log(bind: Connection, schema: str) -> None:
    """For a migration: the table and the trigger that makes it append-only."""
    md = MetaData(schema=schema)
    audit_table(md).create(bind)
    bind.execute(
        text(
            f"CREATE FUNCTION {schema}.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
    )
    bind.execute(
        text(
            f"CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {schema}.audit_log "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_append_only()"
        )
    )


def drop_audit_log(bind: Connection, schema: str) -> None:
    bind.execute(text(f"DROP TABLE {schema}.audit_log"))
    bind.execute(text(f"DROP FUNCTION {schema}.audit_log_append_only()"))


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _row(obj: Any, *, before: bool) -> dict[str, Any]:
    state = inspect(obj)
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        hist = state.attrs[attr.key].history
        if before and hist.deleted:
            out[attr.key] = hist.deleted[0]
        else:
            out[attr.key] = getattr(obj, attr.key, None)
    plain: dict[str, Any] = _plain(out)
    return plain


def _who() -> dict[str, Any] | None:
    """The acting admin or university, or None when the change is nobody's to audit."""
    actor = current_principal.get()
    if actor is None or not actor.has_role(*AUDITED_ROLES):
        return None
    return {
        "actor_sub": actor.sub,
        "actor_role": actor.role,
        "actor_org": actor.org,
        "request_id": request_id_var.get(),
    }


def _entries(session: Session) -> list[tuple[str, dict[str, Any]]]:
    who = _who()
    if who is None:
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    changes = [("insert", o) for o in session.new] + [("update", o) for o in session.dirty]
    changes += [("delete", o) for o in session.deleted]
    for action, obj in changes:
        table = getattr(obj, "__table__", None)
        if table is None or table.schema is None or table.name == "audit_log":
            continue
        if action == "update" and not session.is_modified(obj, include_collections=False):
            continue
        key = inspect(obj).mapper.primary_key_from_instance(obj)  # new rows have no identity yet
        entry = {
            **who,
            "action": action,
            "entity": table.name,
            "entity_id": ",".join(str(k) for k in key) if any(k is not None for k in key) else None,
            "before": None if action == "insert" else json.dumps(_row(obj, before=True), ensure_ascii=False),
            "after": None if action == "delete" else json.dumps(_row(obj, before=False), ensure_ascii=False),
        }
        out.append((str(table.schema), entry))
    return out


def _insert(schema: str) -> Any:
    return text(
        f"INSERT INTO {schema}.audit_log (actor_sub, actor_role, actor_org, request_id, action, entity, "
        "entity_id, before, after) VALUES (:actor_sub, :actor_role, :actor_org, :request_id, :action, "
        ":entity, :entity_id, CAST(:before AS jsonb), CAST(:after AS jsonb))"
    )


@event.listens_for(Session, "after_flush")
def _record(session: Session, _flush_context: Any) -> None:
    for schema, entry in _entries(session):
        session.connection().execute(_insert(schema), entry)


def _bulk_entry(
    who: dict[str, Any], action: str, entity: str, summary: dict[str, Any], entity_id: str | None = None
) -> dict[str, Any]:
    after = json.dumps(_plain({"bulk": True, **summary}), ensure_ascii=False)
    return {**who, "action": action, "entity": entity, "entity_id": entity_id, "before": None, "after": after}


@event.listens_for(Engine, "after_cursor_execute")
def _record_statement(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    """A write made with a SQL statement (not an ORM flush, which ``_record`` sees row by row)."""
    options = context.execution_options
    if not _WRITE_START.match(statement) or "compiled_cache" in options or options.get(AUDITED_BY_CALLER):
        return  # a read, the ORM's own flush (it passes its mapper's statement cache), or audited by its caller
    match = _WRITE.search(statement)
    if match is None or match.group(3) in NOT_AUDITED:
        return
    who = _who()
    if who is None:
        return
    verb, schema, table = match.group(1).split()[0].lower(), match.group(2), match.group(3)
    rows = len(parameters) if executemany else cursor.rowcount
    summary = {"rows": rows, "statement": " ".join(statement.split())[:300]}
    conn.execute(_insert(schema), _bulk_entry(who, verb, table, summary))


async def record_bulk(
    session: AsyncSession, schema: str, action: str, entity: str, entity_id: str | None = None, **summary: Any
) -> None:
    """One entry for a write SQLAlchemy does not see (asyncpg ``COPY``), in the session's
    transaction; nothing when the actor is not an admin or a university."""
    who = _who()
    if who is not None:
        await session.execute(_insert(schema), _bulk_entry(who, action, entity, summary, entity_id))


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_sub: str
    actor_role: str
    actor_org: str | None
    request_id: str | None
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def audit_router(schema: str) -> APIRouter:
    """``GET /v1/audit``: newest first, admin only."""
    router = APIRouter(tags=["audit"])
    table = audit_table(MetaData(schema=schema))

    @router.get("/v1/audit", response_model=Page[AuditEntry], summary="Who changed what, newest first")
    async def audit(
        session: SessionDep, page: PageDep, _: Annotated[Principal, require_roles("admin")]
    ) -> Page[AuditEntry]:
        query = select(table).order_by(table.c.id.desc()).limit(page.limit + 1)
        after = cursor_key(page, int)
        if after is not None:
            query = query.where(table.c.id < after)
        rows = [AuditEntry.model_validate(dict(r._mapping)) for r in (await session.execute(query)).all()]
        return make_page(rows, page, key=lambda e: e.id)

    return router
