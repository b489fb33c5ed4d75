"""Deposit + conversion through the gateway vs. a raw asyncpg INSERT of the same ledger rows, in one run.

    python -m bench.credit_conversion [--learners 20000] [--concurrency 32]

Starts a throw-away embedded PostgreSQL, the gateway, the credit bank and a stand-in assessment
(bench/fake_assessment.py, loopback only). For every learner a university deposits one certificate
(the bank checks it with "assessment") and converts it into one programme. Then the same ledger rows
(a deposit and a convert entry per learner, one transaction per learner) are INSERTed with asyncpg
at the same concurrency. Prints learners/s for both and the ratio. The gateway's per-client rate
limit is lifted for the run: this measures the pipeline, not the limiter.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import asyncpg
import httpx

from skillpass.bootstrap import role_url
from skillpass.devdb import free_port
from skillpass.local import role_passwords
from skillpass.registry import SERVICES

from .harness import platform

ORG = "bench-univ"
CREDIT_BANK = next(s for s in SERVICES if s.name == "credit_bank")


async def run_pool(count: int, concurrency: int, work: Callable[[int], Awaitable[None]]) -> float:
    """Seconds to run ``work(0..count-1)`` with ``concurrency`` workers."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def post_retrying(
    client: httpx.AsyncClient, path: str, body: dict[str, object], key: str, retries: list[int]
) -> httpx.Response:
    """Retries a 5xx or a dropped connection with the same Idempotency-Key, as a client should."""
    for attempt in range(3):
        try:
            resp = await client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            if attempt == 2:
                raise
        else:
            if resp.status_code < 500 or attempt == 2:
                return resp
        retries[0] += 1
    raise AssertionError("unreachable")


async def through_gateway(gw: str, token: str, learners: int, concurrency: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=gw, headers=headers, timeout=60, limits=limits) as client:
        programme = await client.post(
            "/api/credit-bank/v1/programmes",
            json={"university_org": ORG, "code": "BENCH", "name": "基准专业", "graduation_credits": "160"},
        )
        pid = programme.raise_for_status().json()["id"]
        rule = {
            "programme_id": pid,
            "occupation_code": "6-25-02-05",
            "min_level": 4,
            "credits": "4",
            "course_codes": ["B-201"],
            "valid_from": "2026-01-01",
        }
        (await client.post("/api/credit-bank/v1/rules", json=rule)).raise_for_status()
        failures: list[str] = []
        retries = [0]

        async def post(path: str, body: dict[str, object], key: str) -> httpx.Response:
            return await post_retrying(client, path, body, key, retries)

        async def one(n: int) -> None:
            learner = f"bench-{n}"
            deposit = await post(
                "/api/credit-bank/v1/outcomes",
                {"learner_id": learner, "kind": "certificate", "certificate_number": f"CB{n}"},
                f"d-{n}",
            )
            if deposit.status_code != 201:
                failures.append(f"deposit {n}: {deposit.status_code} {deposit.text[:200]}")
                return
            converted = await post(
                "/api/credit-bank/v1/conversions",
                {"learner_id": learner, "outcome_id": deposit.json()["outcome_id"], "programme_id": pid},
                f"c-{n}",
            )
            if converted.status_code != 201:
                failures.append(f"conversion {n}: {converted.status_code} {converted.text[:200]}")

        elapsed = await run_pool(learners, concurrency, one)
        if retries[0]:
            print(f"retried with the same Idempotency-Key: {retries[0]}")
        if failures:
            raise SystemExit(f"{len(failures)} learners failed, e.g. {failures[:3]}")
        return elapsed


async def raw_inserts(url: str, learners: int, concurrency: int) -> float:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    insert = (
        "INSERT INTO credit_bank.ledger_entries (learner_id, kind, credits, outcome_id, conversion_id, "
        "programme_id, rule_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    programme, rule = uuid.uuid4(), uuid.uuid4()
    try:

        async def one(n: int) -> None:
            outcome = uuid.uuid4()
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(insert, f"raw-{n}", "deposit", Decimal(0), outcome, None, None, None, "deposit")
                await conn.execute(
                    insert, f"raw-{n}", "convert", Decimal(4), outcome, uuid.uuid4(), programme, rule, "convert"
                )

        return await run_pool(learners, concurrency, one)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    fake_port = free_port()
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.fake_assessment:app",
            "--port",
            str(fake_port),
            "--log-level",
            "warning",
        ]
    )
    try:
        extra = {
            "SKILLPASS_CREDIT_BANK_ASSESSMENT_URL": f"http://127.0.0.1:{fake_port}",
            "SKILLPASS_GATEWAY_RATE_LIMIT_PER_S": "1000000",
            "SKILLPASS_GATEWAY_RATE_LIMIT_BURST": "1000000",
        }
        with platform(("gateway", "credit_bank"), extra_env=extra) as plat:
            token = plat.token("university", org=ORG)
            service = asyncio.run(through_gateway(plat.url("gateway"), token, args.learners, args.concurrency))
            url = role_url(plat.db_admin, CREDIT_BANK, role_passwords()["credit_bank"])
            raw = asyncio.run(raw_inserts(url, args.learners, args.concurrency))
    finally:
        fake.terminate()
        fake.wait(10)
    service_rate, raw_rate = args.learners / service, args.learners / raw
    print(f"learners: {args.learners}, concurrency: {args.concurrency}")
    print(f"deposit + conversion through the gateway: {service_rate:8.1f} conversions/s ({service:.1f} s)")
    print(f"raw asyncpg INSERT of the same ledger rows: {raw_rate:8.1f} learners/s ({raw:.1f} s)")
    print(f"ratio: {service_rate / raw_rate:.2f}x")


if __name__ == "__main__":
    main()
