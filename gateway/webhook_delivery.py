"""Webhook deliveries: signing, the address check, and the dispatcher that feeds and sends them.

The dispatcher reads every service's change feed (with a service token the gateway signs
itself), writes one delivery row per matching active subscription together with its cursor in
one transaction (so no event is skipped or queued twice), and sends due deliveries with
exponential backoff and jitter. Only one gateway replica dispatches at a time (a PostgreSQL
advisory lock per round).

Signature (documented in docs/integration.md): header ``Skillpass-Signature: t=<unix seconds>,v1=<hex>``
where ``<hex>`` is HMAC-SHA256 with the subscription's secret over ``"<t>." + raw body``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.kit.auth import Principal, SigningKey, mint_token, parse_role
from services.kit.pii import Sealer

from .models import webhook_cursors_table as cursors
from .models import webhook_deliveries_table as deliveries
from .models import webhooks_table as webhooks

log = logging.getLogger("skillpass.gateway.webhooks")
SIGNATURE_HEADER = "Skillpass-Signature"
ORG_KEYS = ("university_org", "school_org", "org")
_LOCK_KEY = 0x5B1_11_9A55  # pg advisory lock: one dispatching gateway replica per round


class WebhookSettings(BaseSettings):
    """``SKILLPASS_GATEWAY_WEBHOOK_*``."""

    model_config = SettingsConfigDict(env_prefix="SKILLPASS_GATEWAY_WEBHOOK_", extra="ignore")

    enabled: bool = True
    poll_interval_s: float = 1.0
    timeout_s: float = 5.0
    retry_base_s: float = 5.0
    retry_cap_s: float = 3600.0
    # A delivery is given up after this many attempts (1.2-2.4 h of waits with the defaults) ...
    max_attempts: int = 12
    # ... and a subscription is disabled after this many failed attempts in a row (re-approve to resume).
    disable_after_failures: int = 50
    # Networks a subscription may point at although private, loopback or link-local (CIDRs).
    allow_networks: list[str] = Field(default_factory=list)
    batch_size: int = 100
    # Events read per feed request (the feeds answer up to 1,000): a 5,000-record upload is 5 reads, not 50.
    feed_page_size: int = Field(default=1000, ge=1, le=1000)


class RefusedAddress(ValueError):
    """The URL resolves to an address that webhooks may not reach."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (the same code is printed in docs/integration.md)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any((ip.is_private, ip.is_loopback, ip.is_link_local, ip.is_multicast, ip.is_reserved, ip.is_unspecified))


async def resolve_checked(url: str, allow_networks: Iterable[str]) -> str:
    """The first address ``url``'s host resolves to, refusing loopback, link-local and private ranges
    (and any other address of the host in such a range) unless an allowed network contains it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress("the URL must be http(s)://host/…")
    allowed = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise RefusedAddress(f"{parts.hostname} does not resolve") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for ip in addresses:
        if _blocked(ip) and not any(ip in net for net in allowed):
            raise RefusedAddress(f"{parts.hostname} resolves to {ip}, a private, loopback or link-local address")
    return str(addresses[0])


def _pinned(url: str, ip: str) -> tuple[str, str]:
    """The URL with its host replaced by the checked address (no second DNS answer can differ)."""
    parts = urlsplit(url)
    host = f"[{ip}]" if ":" in ip else ip
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), parts.netloc


def retry_delay(attempts: int, settings: WebhookSettings) -> float:
    """Exponential backoff with jitter: base * 2^(n-1), capped, times a random factor in [0.5, 1]."""
    raw = min(settings.retry_cap_s, settings.retry_base_s * 2 ** max(0, attempts - 1))
    return float(raw * random.uniform(0.5, 1.0))


def matches(event_types: list[str], event_type: str) -> bool:
    """``*``, an exact type, or a prefix pattern such as ``assessment.certificate.*``."""
    for pattern in event_types:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def visible_to(sub: dict[str, Any], event: dict[str, Any]) -> bool:
    """A university's subscription gets only events that name its own org; others get every event."""
    role = parse_role(sub["owner_role"])
    if role is None:
        return False
    owner = Principal(sub=str(sub["owner_sub"]), role=role, org=sub["owner_org"])
    if owner.reads_all_tenants:
        return True
    data = event.get("data") or {}
    return any(owner.may_read_org(data.get(k)) for k in ORG_KEYS)


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        feeds: dict[str, str],
        signing_key: SigningKey,
        issuer: str,
        audience: str,
        sealer: Sealer,
        settings: WebhookSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.engine, self.feeds, self.settings, self.sealer = engine, feeds, settings, sealer
        self._key, self._issuer, self._audience = signing_key, issuer, audience
        self._feed_http = httpx.AsyncClient(timeout=10.0, transport=transport)
        # Deliveries never follow redirects: a redirect could point anywhere the check refused.
        self._send_http = httpx.AsyncClient(timeout=settings.timeout_s, follow_redirects=False)
        self._task: asyncio.Task[None] | None = None
        self._minted: tuple[str, float] = ("", 0.0)

    def _token(self) -> str:
        """One service token for every feed read until it is 4 minutes old (it lives 5): a fresh token
        per page cost a signature here and a verification in each service (their cache is by token)."""
        token, at = self._minted
        if not token or time.monotonic() - at > 240:
            token = mint_token(
                self._key,
                sub="gateway-webhooks",
                role="service",
                issuer=self._issuer,
                audience=self._audience,
                ttl_s=300,
            )
            self._minted = (token, time.monotonic())
        return token

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._feed_http.aclose()
        await self._send_http.aclose()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatcher round failed")
            await asyncio.sleep(self.settings.poll_interval_s)

    async def round(self) -> tuple[int, int]:
        """One pass: queue new events, then send what is due. Skipped while another replica holds the lock."""
        async with self.engine.connect() as conn:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY})).scalar()
            await conn.commit()
            if not got:
                return 0, 0
            try:
                queued = 0
                for feed, base in self.feeds.items():
                    queued += await self.scan(conn, feed, base)
                sent = await self.send_due(conn)
                return queued, sent
            finally:
                await self._unlock(conn)

    async def _unlock(self, conn: AsyncConnection) -> None:
        """Releases the round's lock. After a failed statement the transaction must be rolled back
        first (else the unlock itself fails and hides the round's own error); if even that fails,
        the connection is dropped, and the session-level lock goes with its backend."""
        try:
            await conn.rollback()
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            await conn.commit()
        except Exception:
            log.warning("webhook dispatcher could not release its lock; dropping the connection")
            await conn.invalidate()

    async def _active_subscriptions(self, conn: AsyncConnection) -> int:
        stmt = select(func.count()).select_from(webhooks).where(webhooks.c.status == "active")
        return int((await conn.execute(stmt)).scalar() or 0)

    async def _skip_to_head(self, conn: AsyncConnection, feed: str, base: str) -> bool:
        """With no active subscription, nothing of the feed so far can be delivered: move the cursor to
        the feed's head instead of reading every event (the events of a 50,000-record upload cost the
        gateway, the service and PostgreSQL more CPU than the upload's own writes, issue 15 B4).
        The subscriptions are counted again after the head is read, so an event committed after a
        subscription became active lies after the cursor. True when the feed was skipped."""
        if await self._active_subscriptions(conn):
            await conn.rollback()
            return False  # the usual case with subscribers: no request for the head
        await conn.rollback()
        try:
            resp = await self._feed_http.get(
                base.rstrip("/") + "/v1/events/head", headers={"Authorization": f"Bearer {self._token()}"}
            )
        except httpx.HTTPError:
            return False
        if resp.status_code != 200:
            return False  # an older service without the route: read the feed as before
        head = resp.json().get("cursor")
        if await self._active_subscriptions(conn):
            await conn.rollback()
            return False
        cursor = (await conn.execute(select(cursors.c.cursor).where(cursors.c.feed == feed))).scalar()
        if head and (cursor is None or _cursor_key(head) > _cursor_key(cursor)):
            await self._set_cursor(conn, feed, head)
        await conn.commit()
        return True

    async def scan(self, conn: AsyncConnection, feed: str, base: str) -> int:
        """Reads one feed forward, queueing a delivery per matching subscription, cursor in the same commit."""
        if await self._skip_to_head(conn, feed, base):
            return 0
        queued = 0
        page_size = self.settings.feed_page_size
        while True:
            cursor = (await conn.execute(select(cursors.c.cursor).where(cursors.c.feed == feed))).scalar()
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["after"] = cursor
            try:
                resp = await self._feed_http.get(
                    base.rstrip("/") + "/v1/events", params=params, headers={"Authorization": f"Bearer {self._token()}"}
                )
            except httpx.HTTPError:
                await conn.rollback()
                return queued
            if resp.status_code == 410:  # history pruned past us: start again from what is kept
                await self._set_cursor(conn, feed, None)
                await conn.commit()
                continue
            if resp.status_code != 200:
                await conn.rollback()
                return queued
            page = resp.json()
            subs = (await conn.execute(select(webhooks).where(webhooks.c.status == "active"))).mappings().all()
            rows = [
                {
                    "id": uuid.uuid4(),
                    "webhook_id": sub["id"],
                    "feed": feed,
                    "event_id": int(event["id"]),
                    "event_type": event["type"],
                    "occurred_at": datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")),
                    "event": event,
                    "status": "pending",
                }
                for event in page["events"]
                for sub in subs
                if matches(list(sub["event_types"]), event["type"]) and visible_to(dict(sub), event)
            ]
            if rows:
                await conn.execute(insert(deliveries).values(rows).on_conflict_do_nothing())
            if page.get("next_cursor") and page["next_cursor"] != cursor:
                await self._set_cursor(conn, feed, page["next_cursor"])
            await conn.commit()
            queued += len(rows)
            if len(page["events"]) < page_size:
                return queued

    async def _set_cursor(self, conn: AsyncConnection, feed: str, cursor: str | None) -> None:
        stmt = insert(cursors).values(feed=feed, cursor=cursor)
        await conn.execute(stmt.on_conflict_do_update(index_elements=[cursors.c.feed], set_={"cursor": cursor}))

    async def send_due(self, conn: AsyncConnection) -> int:
        due = (
            (
                await conn.execute(
                    select(deliveries, webhooks.c.url, webhooks.c.secret_sealed, webhooks.c.status.label("wh_status"))
                    .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
                    .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= func.now())
                    .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
                    .limit(self.settings.batch_size)
                )
            )
            .mappings()
            .all()
        )
        due = [d for d in due if d["wh_status"] == "active"]
        results = await asyncio.gather(*(self._send(dict(d)) for d in due))
        for d, (status_code, error) in zip(due, results, strict=True):
            await self._record(conn, dict(d), status_code, error)
        await conn.commit()
        return sum(1 for code, _ in results if code is not None and 200 <= code < 300)

    def body(self, d: dict[str, Any]) -> bytes:
        return json.dumps(
            {"id": f"{d['feed']}:{d['event_id']}", "feed": d["feed"], "event": d["event"], "replay": d["replay"]},
            separators=(",", ":"),
            ensure_ascii=False,
            sort_keys=True,
        ).encode()

    async def _send(self, d: dict[str, Any]) -> tuple[int | None, str | None]:
        try:
            ip = await resolve_checked(d["url"], self.settings.allow_networks)  # again: DNS may have changed
        except RefusedAddress as exc:
            return None, str(exc)
        url, host = _pinned(d["url"], ip)
        body = self.body(d)
        secret = self.sealer.open(d["secret_sealed"], context=b"webhook")
        headers = {
            "Content-Type": "application/json",
            "Host": host,
            "User-Agent": "skillpass-webhooks/1",
            "Skillpass-Event-Id": f"{d['feed']}:{d['event_id']}",
            "Skillpass-Event-Type": d["event_type"],
            "Skillpass-Delivery-Id": str(d["id"]),
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
        }
        extensions = {"sni_hostname": urlsplit(d["url"]).hostname} if url.startswith("https") else {}
        try:
            resp = await self._send_http.post(url, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        return resp.status_code, None if 200 <= resp.status_code < 300 else f"answered {resp.status_code}"

    async def _record(self, conn: AsyncConnection, d: dict[str, Any], code: int | None, error: str | None) -> None:
        attempts = d["attempts"] + 1
        now = datetime.now(UTC)
        if error is None:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == d["id"])
                .values(status="delivered", attempts=attempts, last_status_code=code, last_error=None, delivered_at=now)
            )
            await conn.execute(update(webhooks).where(webhooks.c.id == d["webhook_id"]).values(consecutive_failures=0))
            return
        gave_up = attempts >= self.settings.max_attempts
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id == d["id"])
            .values(
                status="failed" if gave_up else "pending",
                attempts=attempts,
                last_status_code=code,
                last_error=error,
                next_attempt_at=now + timedelta(seconds=retry_delay(attempts, self.settings)),
            )
        )
        failures = (
            await conn.execute(
                update(webhooks)
                .where(webhooks.c.id == d["webhook_id"])
                .values(consecutive_failures=webhooks.c.consecutive_failures + 1)
                .returning(webhooks.c.consecutive_failures)
            )
        ).scalar_one()
        if failures >= self.settings.disable_after_failures:
            await conn.execute(
                update(webhooks)
                .where(webhooks.c.id == d["webhook_id"], webhooks.c.status == "active")
                .values(status="disabled", disabled_reason=f"{failures} failed deliveries in a row; last: {error}")
            )


def _cursor_key(cursor: str) -> tuple[int, int]:
    """A feed cursor ``<transaction>-<id>`` in feed order."""
    txid, _, event_id = cursor.partition("-")
    return int(txid), int(event_id)


def replay_filter(event_ids: list[str] | None, since: datetime | None, until: datetime | None) -> Any:
    conds = []
    if event_ids:
        pairs = [tuple(e.rsplit(":", 1)) for e in event_ids]
        conds.append(or_(*(and_(deliveries.c.feed == f, deliveries.c.event_id == int(i)) for f, i in pairs)))
    if since is not None:
        conds.append(deliveries.c.occurred_at >= since)
    if until is not None:
        conds.append(deliveries.c.occurred_at < until)
    return and_(*conds)
