"""The five services and the gateway as real processes on a database of their own (bootstrapped
on the session's PostgreSQL server), with the catalogue's demo data: the e2e, browser and dashboard
tests' platform. ``tests/e2e/test_platform.py`` (and the dashboard) start one of their own;
modules whose tests tolerate other modules' data share one per session (``shared_platform``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.fixtures import DatabaseUnderTest, free_port


@asynccontextmanager
async def running_platform(pg_server: str, test_db: DatabaseUnderTest, data_dir: Path) -> AsyncIterator[dict[str, Any]]:
    from services.catalogue.demo import load_demo
    from services.kit.auth import SigningKey
    from skillpass.bootstrap import bootstrap
    from skillpass.local import DevSecrets, process_env
    from skillpass.registry import ALL
    from skillpass.seed import _with_session, seed_service_clients

    # Roles are cluster-wide: reuse the session's passwords so other tests keep connecting.
    passwords = test_db.passwords
    db_admin = await bootstrap(pg_server, "skillpass_e2e_" + uuid.uuid4().hex[:8], passwords)
    dev = DevSecrets.load_or_create(data_dir)
    await seed_service_clients(db_admin, dev, passwords)
    # The catalogue's demo classification and editions, so assessment has real occupations to ask about.
    await _with_session(db_admin, next(s for s in ALL if s.name == "catalogue"), load_demo, passwords)
    ports = {s.name: free_port() for s in ALL}
    procs = {}
    for spec in ALL:
        env = {
            **os.environ,
            **process_env(
                spec, db_admin, dev, gateway_port=ports["gateway"], ports=ports, data_dir=data_dir, passwords=passwords
            ),
            "SKILLPASS_LOG_LEVEL": "WARNING",
            "SKILLPASS_CATALOGUE_FEED_POLL_INTERVAL_S": "0.5",
            "SKILLPASS_CREDIT_BANK_FEED_POLL_INTERVAL_S": "0.5",
            # Incentives follows assessment's and the credit bank's feeds: tests wait on what it read, not a 5 s tick.
            "SKILLPASS_INCENTIVES_FEED_POLL_INTERVAL_S": "0.5",
            "SKILLPASS_GATEWAY_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]',  # docs/integration.md's local receiver
        }
        cmd = [sys.executable, "-m", "skillpass.cli", "serve", spec.name]
        procs[spec.name] = subprocess.Popen(  # noqa: ASYNC220 (start-up only)
            cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(data_dir / f"{spec.name}.log").open("w"),
        )
    urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                try:
                    if (await client.get(urls["gateway"] + "/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "platform not ready in 60 s"
                assert all(p.poll() is None for p in procs.values()), "a process died at start"
                await asyncio.sleep(0.3)
        key = SigningKey.load_or_create(data_dir / "keys" / "signing-key.pem")
        yield {"urls": urls, "key": key, "dev": dev, "data_dir": data_dir, "db_admin": db_admin, "passwords": passwords}
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(10)
