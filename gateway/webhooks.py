"""Webhooks beside the pull feeds: subscriptions (admin-approved), the delivery log, replays.

A platform or university client registers ``{url, event_types, secret}``; an admin approves it
(an admin's own subscription is active at once). Deliveries are queued and sent by the
dispatcher in ``webhook_delivery.py``. Another owner's subscription answers 404.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, insert, select, tuple_, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal, require_roles
from services.kit.context import context_of
from services.kit.db import SessionDep
from services.kit.pii import Sealer
from services.kit.problems import InvalidInput, NotFound, field_error

from .deps import NAME, Context, context
from .models import webhook_deliveries_table as deliveries
from .models import webhooks_table as webhooks
from .webhook_delivery import Dispatcher, RefusedAddress, WebhookSettings, replay_filter, resolve_checked

router = APIRouter(prefix="/api/gateway/v1/webhooks", tags=["webhooks"])
Owner = Annotated[Principal, require_roles("platform", "university", "admin")]
Admin = Annotated[Principal, require_roles("admin")]
_TYPE = r"^(\*|[a-z_]+(\.[a-z_]+){0,2}(\.\*)?)$"


class WebhookCreate(BaseModel):
    url: str = Field(max_length=2000, examples=["https://platform.example.org/skillpass/hooks"])
    event_types: list[Annotated[str, Field(pattern=_TYPE, max_length=100)]] = Field(
        min_length=1, max_length=50, examples=[["assessment.certificate.*", "credit_bank.conversion.posted"]]
    )
    secret: str = Field(min_length=24, max_length=200, description="used to sign deliveries; not shown again")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


class WebhookRead(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    status: Literal["pending", "active", "disabled", "deleted"]
    owner_sub: str
    owner_org: str | None
    consecutive_failures: int
    disabled_reason: str | None
    created_at: datetime
    approved_at: datetime | None


class ReplayRequest(BaseModel):
    event_ids: list[str] | None = Field(default=None, max_length=1000, examples=[["assessment:42"]])
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None

    @field_validator("event_ids")
    @classmethod
    def _ids(cls, value: list[str] | None) -> list[str] | None:
        for v in value or []:
            feed, _, num = v.rpartition(":")
            if not feed or not num.isdigit():
                raise ValueError("event ids look like '<feed>:<id>', e.g. 'assessment:42'")
        return value


class ReplayAnswer(BaseModel):
    replayed: int
    delivery_ids: list[uuid.UUID]


class DeliveryRead(BaseModel):
    id: uuid.UUID
    event_id: str
    event_type: str
    replay: bool
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None


class WebhookNotFound(NotFound):
    type_ = "webhook-not-found"
    title = "Webhook not found"


def _sealer(request: Request) -> Sealer:
    return Sealer(context(request).settings.shared.pii_key)


def _settings(request: Request) -> WebhookSettings:
    settings: WebhookSettings = getattr(request.app.state, "webhook_settings", None) or WebhookSettings()
    return settings


async def _owned(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> dict[str, Any]:
    row = (await session.execute(select(webhooks).where(webhooks.c.id == webhook_id))).mappings().first()
    if row is None or row["status"] == "deleted" or not (principal.is_admin or row["owner_sub"] == principal.sub):
        raise WebhookNotFound()
    return dict(row)


async def register_webhook(
    session: AsyncSession, *, principal: Principal, data: WebhookCreate, sealer: Sealer, allow_networks: list[str]
) -> WebhookRead:
    """A subscription is pending until an admin approves it (an admin's own is active at once); a URL
    that resolves to a private, loopback or link-local address is refused unless allowed."""
    try:
        await resolve_checked(data.url, allow_networks)
    except RefusedAddress as exc:
        raise InvalidInput("URL refused", errors=[field_error(["body", "url"], str(exc))]) from exc
    now = datetime.now(UTC)
    values = {
        "id": uuid.uuid4(),
        "owner_sub": principal.sub,
        "owner_role": principal.role,
        "owner_org": principal.org,
        "url": data.url,
        "event_types": data.event_types,
        "secret_sealed": sealer.seal(data.secret, context=b"webhook"),
        "status": "active" if principal.is_admin else "pending",
        "approved_at": now if principal.is_admin else None,
        "created_at": now,
    }
    await session.execute(insert(webhooks).values(values))
    await session.commit()
    return WebhookRead(**values, consecutive_failures=0, disabled_reason=None)


async def list_webhooks(session: AsyncSession, *, principal: Principal) -> list[WebhookRead]:
    stmt = select(webhooks).where(webhooks.c.status != "deleted").order_by(webhooks.c.created_at)
    if not principal.is_admin:
        stmt = stmt.where(webhooks.c.owner_sub == principal.sub)
    return [WebhookRead.model_validate(dict(r)) for r in (await session.execute(stmt)).mappings()]


async def set_status(session: AsyncSession, *, principal: Principal, webhook_id: uuid.UUID, status: str) -> WebhookRead:
    """``active`` (admin's approval; also re-enables a disabled one) or ``deleted`` (the log stays)."""
    await _owned(session, principal, webhook_id)
    values: dict[str, Any] = {"status": status}
    if status == "active":
        values |= {"approved_at": func.now(), "consecutive_failures": 0, "disabled_reason": None}
    stmt = update(webhooks).where(webhooks.c.id == webhook_id).values(values).returning(webhooks)
    row = (await session.execute(stmt)).mappings().one()
    await session.commit()
    return WebhookRead.model_validate(dict(row))


async def replay_deliveries(
    session: AsyncSession, *, principal: Principal, webhook_id: uuid.UUID, data: ReplayRequest
) -> ReplayAnswer:
    """Queues logged events again, by id or by when they occurred, as new deliveries (same event ids)."""
    await _owned(session, principal, webhook_id)
    if not data.event_ids and data.from_ is None and data.to is None:
        raise InvalidInput("Nothing to replay", errors=[field_error(["body"], "give event_ids, from or to")])
    stmt = (
        select(deliveries)
        .where(deliveries.c.webhook_id == webhook_id, ~deliveries.c.replay)
        .where(replay_filter(data.event_ids, data.from_, data.to))
        .order_by(deliveries.c.occurred_at, deliveries.c.event_id)
        .limit(10_000)
    )
    copied = ("feed", "event_id", "event_type", "occurred_at", "event")
    rows = [
        {"id": uuid.uuid4(), "webhook_id": webhook_id, "replay": True, "status": "pending", **{k: o[k] for k in copied}}
        for o in (await session.execute(stmt)).mappings()
    ]
    if rows:
        await session.execute(insert(deliveries).values(rows))
    await session.commit()
    return ReplayAnswer(replayed=len(rows), delivery_ids=[r["id"] for r in rows])


def _log_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, _, did = cursor.partition("_")
    try:
        return datetime.fromisoformat(at), uuid.UUID(did)
    except ValueError as exc:
        raise InvalidInput("Malformed cursor", errors=[field_error(["query", "cursor"], "bad cursor")]) from exc


async def delivery_log(
    session: AsyncSession,
    *,
    principal: Principal,
    webhook_id: uuid.UUID,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> DeliveryPage:
    """The delivery log, newest first, keyset-paged on (created_at, id)."""
    await _owned(session, principal, webhook_id)
    stmt = select(deliveries).where(deliveries.c.webhook_id == webhook_id)
    if status:
        stmt = stmt.where(deliveries.c.status == status)
    if cursor:
        stmt = stmt.where(tuple_(deliveries.c.created_at, deliveries.c.id) < tuple_(*_log_cursor(cursor)))
    limit = min(limit, 500)
    stmt = stmt.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit + 1)
    rows = (await session.execute(stmt)).mappings().all()
    items = [DeliveryRead(**{**dict(r), "event_id": f"{r['feed']}:{r['event_id']}"}) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return DeliveryPage(items=items, next_cursor=f"{last['created_at'].isoformat()}_{last['id']}" if last else None)


@router.post("", response_model=WebhookRead, status_code=201)
async def create_webhook(data: WebhookCreate, request: Request, session: SessionDep, principal: Owner) -> WebhookRead:
    """Registers a subscription: pending until an admin approves it (an admin's own is active)."""
    allowed = _settings(request).allow_networks
    return await register_webhook(
        session, principal=principal, data=data, sealer=_sealer(request), allow_networks=allowed
    )


@router.get("", response_model=list[WebhookRead])
async def get_webhooks(session: SessionDep, principal: Owner) -> list[WebhookRead]:
    """Own subscriptions; admin sees all (to approve them)."""
    return await list_webhooks(session, principal=principal)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: uuid.UUID, session: SessionDep, principal: Owner) -> None:
    """Stops deliveries; the delivery log is kept."""
    await set_status(session, principal=principal, webhook_id=webhook_id, status="deleted")


@router.post("/{webhook_id}/approve", response_model=WebhookRead)
async def approve_webhook(webhook_id: uuid.UUID, session: SessionDep, principal: Admin) -> WebhookRead:
    """Admin: activates a pending subscription, or re-enables a disabled one."""
    return await set_status(session, principal=principal, webhook_id=webhook_id, status="active")


@router.post("/{webhook_id}/replay", response_model=ReplayAnswer, status_code=202)
async def replay(webhook_id: uuid.UUID, data: ReplayRequest, session: SessionDep, principal: Owner) -> ReplayAnswer:
    """Queues the logged events again (by id, or by when they occurred), as new signed deliveries."""
    return await replay_deliveries(session, principal=principal, webhook_id=webhook_id, data=data)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
async def get_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: Owner,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> DeliveryPage:
    """The delivery log, newest first."""
    return await delivery_log(
        session, principal=principal, webhook_id=webhook_id, status=status, limit=limit, cursor=cursor
    )


async def start(app: FastAPI) -> None:
    """Starts the dispatcher in the gateway process (``SKILLPASS_GATEWAY_WEBHOOK_ENABLED=false`` to skip)."""
    settings: WebhookSettings = getattr(app.state, "webhook_settings", None) or WebhookSettings()
    app.state.webhook_settings = settings
    ctx = context_of(app, NAME, Context)
    gw = ctx.settings
    app.state.webhook_dispatcher = Dispatcher(
        app.state.engine,
        feeds={name.replace("-", "_"): base for name, base in gw.upstreams().items()},
        signing_key=ctx.signing_key,
        issuer=gw.shared.token_issuer,
        audience=gw.shared.token_audience,
        sealer=Sealer(gw.shared.pii_key),
        settings=settings,
    )
    if settings.enabled:
        app.state.webhook_dispatcher.start()


async def stop(app: FastAPI) -> None:
    dispatcher: Dispatcher | None = getattr(app.state, "webhook_dispatcher", None)
    if dispatcher is not None:
        await dispatcher.close()
