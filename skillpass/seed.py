"""Demo data for ``make run``: service clients, and each service's own demo loader."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway import clients as gw_clients
from gateway.models import Client

from .bootstrap import role_url
from .local import DevSecrets, role_passwords
from .registry import GATEWAY, SERVICES, ProcessSpec


async def _with_session(db_admin_url: str, spec: ProcessSpec, fn: Any, passwords: dict[str, str] | None = None) -> Any:
    engine = create_async_engine(role_url(db_admin_url, spec, (passwords or role_passwords())[spec.name]))
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await fn(session)
    finally:
        await engine.dispose()


async def seed_service_clients(db_admin_url: str, dev: DevSecrets, passwords: dict[str, str] | None = None) -> int:
    async def run(session: AsyncSession) -> int:
        made = 0
        for name, (client_id, secret) in dev.service_clients.items():
            if await session.get(Client, client_id) is None:
                await gw_clients.register_client(
                    session,
                    data=gw_clients.ClientCreate(name=f"{name} service", role="service"),
                    client_id=client_id,
                    client_secret=secret,
                )
                made += 1
        return made

    return int(await _with_session(db_admin_url, GATEWAY, run, passwords))


async def demo_certificates(db_admin_url: str, passwords: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Assessment's demo certificates, read with assessment's own role, for loaders that build on them
    (the credit bank deposits and converts some): no service reads another's schema."""
    spec = next(s for s in SERVICES if s.name == "assessment")

    async def run(session: AsyncSession) -> list[dict[str, Any]]:
        conn = await session.connection()  # Core on the session's connection: SQLModel warns on execute()
        rows = await conn.execute(
            text(
                "SELECT number, learner_id, occupation_code, level, issued_on, status, status_reason, university_org "
                "FROM assessment.certificates WHERE status = 'valid' ORDER BY number LIMIT 500"
            )
        )
        return [dict(r._mapping) for r in rows]

    result: list[dict[str, Any]] = await _with_session(db_admin_url, spec, run, passwords)
    return result


async def seed_all(db_admin_url: str, dev: DevSecrets) -> dict[str, Any]:
    report: dict[str, Any] = {"gateway": {"service_clients": await seed_service_clients(db_admin_url, dev)}}
    for spec in SERVICES:
        try:
            module = importlib.import_module(f"services.{spec.name}.demo")
        except ModuleNotFoundError:
            continue
        loader = module.load_demo
        kwargs: dict[str, Any] = {}
        params = inspect.signature(loader).parameters
        if "learner_key" in params:
            kwargs["learner_key"] = dev.learner_id_key
        if "pii_key" in params:
            kwargs["pii_key"] = dev.pii_key
        if "certificates" in params:
            kwargs["certificates"] = await demo_certificates(db_admin_url)
        report[spec.name] = await _with_session(db_admin_url, spec, lambda s, f=loader, k=kwargs: f(s, **k))
    return report
