"""``skillpass sync`` against the real processes: writes in all four services while two sync clients
(a PostgreSQL target and a JSON-lines target) follow the feeds and are SIGKILLed and restarted at
random moments; afterwards each mirror equals the services' feeds, event for event, and
``skillpass reconcile`` is clean."""

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.kit.auth import mint_token
from skillpass.apiclient import ApiClient, default_feeds
from skillpass.mirror import open_target
from tests.assessment.asm_support import make_uscc
from tests.e2e.test_platform import AUDIENCE, ISSUER
from tests.incentives.test_rulesets import SUBSIDY_RULES

KILLS = 6


@pytest.fixture(scope="module")
def platform(shared_platform):
    """The session's shared platform: the mirrors are compared with the whole feeds as they are,
    whatever else wrote to them."""
    return shared_platform


async def _platform_client(gw: str, admin: dict[str, str]) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=gw, timeout=10) as client:
        r = await client.post(
            "/api/gateway/v1/clients", headers=admin, json={"name": "City data platform", "role": "platform"}
        )
        assert r.status_code == 201, r.text
        return r.json()["client_id"], r.json()["client_secret"]


async def _writer(gw: str, admin: dict[str, str], service: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Writes one feed event at a time into ``service`` until ``stop``."""
    n = 0
    async with httpx.AsyncClient(base_url=gw, timeout=20) as client:
        while not stop.is_set():
            n += 1
            tag = f"{uuid.uuid4().hex[:6]}-{n}"
            if service == "catalogue":
                r = await client.post("/api/catalogue/v1/editions", headers=admin, json={"title": f"sync {tag}"})
            elif service == "assessment":
                r = await client.post(
                    "/api/assessment/v1/bodies",
                    headers=admin,
                    json={
                        "name": f"机构 {tag}",
                        "uscc": make_uscc(random.randrange(10**8, 10**9)),
                        "kind": "social",
                        "district": "徐汇区",
                    },
                )
            elif service == "credit-bank":
                r = await client.post(
                    "/api/credit-bank/v1/programmes",
                    headers=admin,
                    json={"university_org": "univ-sync", "code": f"P{tag}", "name": "x", "graduation_credits": "120"},
                )
            else:
                r = await client.post(
                    "/api/incentives/v1/rulesets",
                    headers=admin,
                    json={
                        "scheme": "skill_subsidy",
                        "title": f"sync {tag}",
                        "effective_from": "2026-01-01",
                        # A valid skill_subsidy document (issue 10 validates each scheme's rules).
                        "rules": SUBSIDY_RULES,
                        "source": "default",
                    },
                )
            assert r.status_code == 201, (service, r.text)
            counts[service] = counts.get(service, 0) + 1


def _start_sync(target: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "skillpass.cli", "sync", "--follow", "--page-size", "7", "--poll-interval", "0.2"],
        env={**env, "SKILLPASS_SYNC_TARGET": target},
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
    )


async def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "skillpass.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _full_feed(client: ApiClient, feed) -> list[dict]:
    out, cursor = [], None
    while True:
        events, cursor = await client.events(feed, cursor, 1000)
        out.extend(events)
        if len(events) < 1000:
            return out


async def test_sync_killed_at_random_loses_and_duplicates_nothing(platform, pg_server, tmp_path):
    gw, key = platform["urls"]["gateway"], platform["key"]
    admin = {"Authorization": "Bearer " + mint_token(key, sub="a", role="admin", issuer=ISSUER, audience=AUDIENCE)}
    client_id, secret = await _platform_client(gw, admin)

    mirror_db = "mirror_" + uuid.uuid4().hex[:8]
    admin_dsn = pg_server.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{mirror_db}"')
    await conn.close()
    base, _, _ = admin_dsn.rpartition("/")
    targets = {"pg": f"{base}/{mirror_db}?schema=city", "file": f"file://{tmp_path / 'jsonl'}"}
    env = {
        **os.environ,
        "SKILLPASS_GATEWAY_URL": gw,
        "SKILLPASS_SYNC_CLIENT_ID": client_id,
        "SKILLPASS_SYNC_CLIENT_SECRET": secret,
    }
    procs = {name: _start_sync(t, env, tmp_path / f"sync-{name}.log") for name, t in targets.items()}

    stop, counts = asyncio.Event(), {}
    writers = [asyncio.create_task(_writer(gw, admin, f.path.split("/")[2], stop, counts)) for f in default_feeds()]
    rng = random.Random(os.environ.get("SYNC_KILL_SEED"))
    kills = 0
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.8, 2.0))
            for name, proc in procs.items():
                assert proc.poll() is None, (tmp_path / f"sync-{name}.log").read_text()
                proc.send_signal(signal.SIGKILL)
                proc.wait(5)
                kills += 1
                await asyncio.sleep(rng.uniform(0, 0.3))
                procs[name] = _start_sync(targets[name], env, tmp_path / f"sync-{name}.log")
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*writers)
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
    assert kills >= 2 * 5 and all(counts.get(f.path.split("/")[2], 0) >= 3 for f in default_feeds()), counts

    # Drain what the last kill left, then compare every mirror with the feeds, event for event.
    for target in targets.values():
        done = await _cli(["sync", "--once"], {**env, "SKILLPASS_SYNC_TARGET": target})
        assert done.returncode == 0, done.stderr
    async with ApiClient(gw, client_id, secret) as client:
        upstream = {f.name: await _full_feed(client, f) for f in default_feeds()}
        for name, target in targets.items():
            mirror = open_target(target)
            await mirror.open([f.name for f in default_feeds()], writer=False)
            try:
                for feed, events in upstream.items():
                    mirrored = await mirror.events(feed)
                    ids = [int(e["id"]) for e in mirrored]
                    assert len(ids) == len(set(ids)), f"{name}/{feed}: duplicates"
                    assert sorted(ids) == sorted(int(e["id"]) for e in events), f"{name}/{feed}: lost events"
                    by_id = {int(e["id"]): e for e in mirrored}
                    for e in events:
                        m = by_id[int(e["id"])]
                        assert (m["type"], m["subject"], m["data"]) == (e["type"], e["subject"], e["data"])
            finally:
                await mirror.close()
    assert sum(len(v) for v in upstream.values()) >= sum(counts.values())

    for target in targets.values():
        rec = await _cli(["reconcile"], {**env, "SKILLPASS_SYNC_TARGET": target, "COLUMNS": "200"})
        assert rec.returncode == 0, rec.stdout + rec.stderr
        assert "DRIFT" not in rec.stdout and "credit_bank" in rec.stdout
    # A fresh mirror from scratch, timed (process start included), for the figures in docs/integration.md.
    total = sum(len(v) for v in upstream.values())
    for name, target in {"pg": f"{base}/{mirror_db}?schema=fresh", "file": f"file://{tmp_path / 'fresh'}"}.items():
        started = time.monotonic()
        done = await _cli(["sync", "--once"], {**env, "SKILLPASS_SYNC_TARGET": target})
        assert done.returncode == 0, done.stderr
        print(f"fresh {name} mirror: {total} events in {time.monotonic() - started:.2f} s")
    # The JSON-lines mirror is plain files a platform can read with anything.
    lines = (tmp_path / "jsonl" / "incentives.jsonl").read_text().splitlines()
    created = [json.loads(x) for x in lines if json.loads(x)["type"] == "incentives.ruleset.created"]
    assert len(created) >= counts["incentives"]
    print(f"sync e2e: {kills} kills, writes {counts}, events {[len(v) for v in upstream.values()]}")
