"""Faults through the real processes (issue 11): a service down is a fast 503 problem and the
gateway recovers when it is back; a service killed mid-batch leaves the batch whole or absent and
the retry with the same Idempotency-Key completes it; SIGTERM finishes in-flight requests."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kit.auth import SigningKey, mint_token
from skillpass.bootstrap import bootstrap
from skillpass.local import DevSecrets, process_env
from skillpass.registry import ALL
from skillpass.seed import seed_service_clients
from tests.assessment.asm_support import make_id_number, make_uscc
from tests.support.fixtures import free_port

ISSUER, AUDIENCE = "https://skillpass.local/gateway", "skillpass"


class Platform:
    def __init__(self, envs: dict[str, dict[str, str]], urls: dict[str, str], logs: Path, key: SigningKey) -> None:
        self.envs, self.urls, self.logs, self.key = envs, urls, logs, key
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.database: Any = None

    def start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "skillpass.cli", "serve", name],
            env=self.envs[name],
            stdout=subprocess.DEVNULL,
            stderr=(self.logs / f"{name}.log").open("a"),
        )

    async def ready(self, name: str, within_s: float = 60) -> None:
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                try:
                    if (await client.get(self.urls[name] + "/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{name} not ready"
                await asyncio.sleep(0.2)

    def token(self, role: str, **kw: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint_token(self.key, role=role, issuer=ISSUER, audience=AUDIENCE, **kw)}


@pytest.fixture(scope="module")
async def platform(test_db, tmp_path_factory):
    """The five processes on their own PostgreSQL server, which a test restarts."""
    from services.catalogue.demo import load_demo
    from skillpass.devdb import EmbeddedPostgres
    from skillpass.seed import _with_session

    data_dir: Path = tmp_path_factory.mktemp("faults")
    server = EmbeddedPostgres(data_dir / "pg", free_port(), fast_unsafe=True)
    await asyncio.to_thread(server.start)
    passwords = test_db.passwords
    db_admin = await bootstrap(server.admin_url(), "skillpass_faults", passwords)
    dev = DevSecrets.load_or_create(data_dir)
    await seed_service_clients(db_admin, dev, passwords)
    await _with_session(db_admin, next(s for s in ALL if s.name == "catalogue"), load_demo, passwords)
    ports = {s.name: free_port() for s in ALL}
    envs = {
        spec.name: {
            **os.environ,
            **process_env(
                spec, db_admin, dev, gateway_port=ports["gateway"], ports=ports, data_dir=data_dir, passwords=passwords
            ),
            "SKILLPASS_LOG_LEVEL": "WARNING",
        }
        for spec in ALL
    }
    urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    p = Platform(envs, urls, data_dir, SigningKey.load_or_create(data_dir / "keys" / "signing-key.pem"))
    p.database = server
    for spec in ALL:
        p.start(spec.name)
    try:
        for name in urls:
            await p.ready(name)
        yield p
    finally:
        for proc in p.procs.values():
            proc.terminate()
        for proc in p.procs.values():
            proc.wait(10)
        await asyncio.to_thread(server.stop)


async def test_a_service_down_is_a_fast_503_and_the_gateway_recovers(platform):
    gw = platform.urls["gateway"]
    admin = platform.token("admin", sub="a")
    platform.procs["incentives"].kill()
    platform.procs["incentives"].wait(10)
    async with httpx.AsyncClient(base_url=gw, timeout=10) as client:
        started = time.monotonic()
        r = await client.get("/api/incentives/v1/rulesets", headers=admin)
        elapsed = time.monotonic() - started
        assert r.status_code == 503 and r.json()["type"].endswith("/upstream-unavailable")
        assert r.headers["content-type"] == "application/problem+json"
        assert elapsed < 1.0, elapsed
        platform.start("incentives")
        await platform.ready("incentives")
        assert (await client.get("/api/incentives/v1/rulesets", headers=admin)).status_code == 200


async def _body(client: httpx.AsyncClient, platform: Platform, org: str, n: int) -> str:
    admin = platform.token("admin", sub="a")
    body = (
        await client.post(
            "/api/assessment/v1/bodies",
            headers=admin,
            json={
                "name": f"Faults {org}",
                "uscc": make_uscc(n),
                "kind": "employer",
                "university_org": org,
                "district": "徐汇区",
            },
        )
    ).json()
    filing = await client.post(
        f"/api/assessment/v1/bodies/{body['id']}/filings",
        headers=admin,
        json={
            "filing_no": f"F-{org}",
            "scope": [{"occupation_code": "6-25-02-05", "levels": [3, 4]}],
            "valid_from": "2026-01-01",
            "valid_to": "2027-12-31",
        },
    )
    assert filing.status_code == 201, filing.text
    return str(body["id"])


def _records(org: str, start: int, count: int) -> list[dict]:
    return [
        {
            "external_id": f"{org}-{i}",
            "occupation_code": "6-25-02-05",
            "level": 3,
            "exam_date": "2026-11-20",
            "theory_score": 80,
            "practical_score": 75,
            "candidate": {
                "id_number": make_id_number(start + i),
                "name": "王小明",
                "student_no": f"S{i}",
                "school_org": org,
                "graduation_year": 2027,
                "major": "微电子",
            },
        }
        for i in range(count)
    ]


async def _stored(client: httpx.AsyncClient, platform: Platform, body_id: str) -> int:
    admin = platform.token("admin", sub="a")
    total, cursor = 0, None
    while True:
        params = {"body_id": body_id, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/assessment/v1/records", params=params, headers=admin)).json()
        total += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return total


async def test_a_service_killed_mid_batch_leaves_all_or_nothing_and_the_retry_completes(platform):
    org, count = "univ-kill", 3000
    univ = {**platform.token("university", sub="sis", org=org), "Idempotency-Key": "kill-1"}
    async with httpx.AsyncClient(base_url=platform.urls["gateway"], timeout=60) as client:
        body_id = await _body(client, platform, org, 515151)
        payload = {"body_id": body_id, "mode": "partial", "records": _records(org, 700_000, count)}
        upload = asyncio.create_task(client.post("/api/assessment/v1/batches", headers=univ, json=payload))
        await asyncio.sleep(0.4)
        platform.procs["assessment"].send_signal(signal.SIGKILL)
        platform.procs["assessment"].wait(10)
        first = await upload
        # 503 when the kill hit mid-batch (the usual case here: 3,000 rows take ~2 s), 201 if it was done.
        assert first.status_code in (201, 503, 504), first.text
        platform.start("assessment")
        await platform.ready("assessment")
        stored = await _stored(client, platform, body_id)
        assert stored in (0, count), stored  # never a part of the batch
        if first.status_code == 201:
            assert stored == count
        retry = await client.post("/api/assessment/v1/batches", headers=univ, json=payload)
        assert retry.status_code == 201, retry.text
        assert retry.json()["accepted"] + retry.json().get("duplicates", 0) == count
        assert await _stored(client, platform, body_id) == count
        again = await client.post("/api/assessment/v1/batches", headers=univ, json=payload)
        assert again.json() == retry.json()  # a replay, not a third run


async def test_sigterm_finishes_in_flight_requests(platform):
    org, count = "univ-term", 2000
    univ = platform.token("university", sub="sis", org=org)
    async with httpx.AsyncClient(base_url=platform.urls["gateway"], timeout=60) as client:
        body_id = await _body(client, platform, org, 525252)
        payload = {"body_id": body_id, "mode": "partial", "records": _records(org, 800_000, count)}
        upload = asyncio.create_task(client.post("/api/assessment/v1/batches", headers=univ, json=payload))
        await asyncio.sleep(0.4)
        platform.procs["assessment"].send_signal(signal.SIGTERM)
        r = await upload
        assert r.status_code == 201, r.text
        assert r.json()["accepted"] == count
        # uvicorn re-raises SIGTERM once drained: the conventional exit by that signal.
        assert platform.procs["assessment"].wait(30) in (0, -signal.SIGTERM)
        platform.start("assessment")
        await platform.ready("assessment")
        assert await _stored(client, platform, body_id) == count


async def test_postgresql_restarted_under_load_recovers_without_restarting_services(platform):
    """Eight clients read through the gateway while PostgreSQL stops and starts: every request gets
    an answer within its timeout (503 problems while the server is away), and afterwards every
    service answers 200 again on its old pool, with no process restarted."""
    admin = platform.token("admin", sub="a")
    paths = ["/api/catalogue/v1/occupations?limit=5", "/api/assessment/v1/bodies", "/api/incentives/v1/rulesets"]
    answers: list[int] = []
    hung: list[str] = []
    stop = asyncio.Event()

    async def reader(client: httpx.AsyncClient, n: int) -> None:
        # Eight clients, each with its own token: one token's rate limit (200/s) is not what is tested.
        mine = platform.token("admin", sub=f"reader-{n}")
        while not stop.is_set():
            path = paths[n % len(paths)]
            try:
                r = await client.get(path, headers=mine)
                answers.append(r.status_code)
                if r.status_code >= 500:
                    assert r.headers["content-type"] == "application/problem+json", r.text
            except httpx.TimeoutException:
                hung.append(path)
            n += 1

    pids = {name: proc.pid for name, proc in platform.procs.items()}
    async with httpx.AsyncClient(base_url=platform.urls["gateway"], timeout=15) as client:
        workers = [asyncio.create_task(reader(client, i)) for i in range(8)]
        await asyncio.sleep(1.0)
        await asyncio.to_thread(platform.database.stop)
        assert not platform.database.is_running()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(platform.database.start)
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*workers)
        assert not hung, hung
        during = set(answers)
        # 500s here were DBAPIError/ConnectionRefusedError traces; now a 503 problem with Retry-After.
        # (How many calls meet the outage varies: 0 to ~70 of ~150 in trial runs.)
        assert during <= {200, 503}, {c: answers.count(c) for c in sorted(during)}
        after = [(await client.get(p, headers=admin)).status_code for p in paths for _ in range(3)]
    assert after == [200] * len(after)
    assert {name: proc.pid for name, proc in platform.procs.items()} == pids
    assert all(proc.poll() is None for proc in platform.procs.values())


async def test_sigterm_with_postgresql_down_still_stops_every_process(platform):
    """Seen in test and bench teardowns: a gateway told to stop while its database was gone kept
    running for minutes. Every process must exit soon after SIGTERM even then, and start again."""
    await asyncio.to_thread(platform.database.stop)
    try:
        await asyncio.sleep(1.5)  # the feed followers and the webhook dispatcher meet the outage
        started = time.monotonic()
        for proc in platform.procs.values():
            proc.send_signal(signal.SIGTERM)
        late = []
        for name, proc in platform.procs.items():
            try:
                await asyncio.to_thread(proc.wait, max(0.1, 30 - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                late.append(name)
                proc.kill()
        assert not late, f"still running 30 s after SIGTERM: {late}"
    finally:
        await asyncio.to_thread(platform.database.start)
    for name in platform.urls:
        platform.start(name)
    for name in platform.urls:
        await platform.ready(name)
