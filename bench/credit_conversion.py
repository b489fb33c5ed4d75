"""Deposit + conversion through the gateway vs. a raw asyncpg INSERT of the same ledger rows, in one run.

    python -m bench.credit_conversion [--learners 20000] [--batch-size 1000] [--batches-in-flight 4]
                                      [--concurrency 32]

Starts a throw-away embedded PostgreSQL, the gateway, the credit bank and a stand-in assessment
(bench/fake_assessment.py, loopback only). A university information system deposits every learner's
certificate with ``POST /outcomes/batch`` (the bank checks each batch's certificates with
"assessment" in one call) and converts them into one programme with ``POST /conversions/batch``,
``--batch-size`` learners a request. Then the same ledger rows (a deposit and a convert entry per
learner, one transaction per learner, ``--concurrency`` connections) are INSERTed with asyncpg.
Prints learners/s and conversions/s, the baseline's learners/s and the ratio. The gateway's
per-client rate limit is lifted for the run: this measures the pipeline, not the limiter.
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

from .harness import cpu_s, platform

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


async def through_gateway(
    gw: str, token: str, learners: int, batch_size: int, batches_in_flight: int
) -> tuple[float, int]:
    """Seconds to deposit and convert every learner's certificate with the bulk routes, and how many
    conversions the bank answered ``converted``."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=batches_in_flight, max_keepalive_connections=batches_in_flight)
    async with httpx.AsyncClient(base_url=gw, headers=headers, timeout=300, limits=limits) as client:
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
        converted = [0]

        async def post(path: str, body: dict[str, object], key: str) -> httpx.Response:
            return await post_retrying(client, path, body, key, retries)

        async def one_batch(b: int) -> None:
            first = b * batch_size
            numbers = range(first, min(first + batch_size, learners))
            deposits = [
                {"learner_id": f"bench-{n}", "kind": "certificate", "certificate_number": f"CB{n}"} for n in numbers
            ]
            deposited = await post("/api/credit-bank/v1/outcomes/batch", {"items": deposits}, f"d-{b}")
            if deposited.status_code != 200:
                failures.append(f"deposit batch {b}: {deposited.status_code} {deposited.text[:200]}")
                return
            rows = deposited.json()["items"]
            bad = [r for r in rows if r["status"] == "rejected"]
            failures.extend(f"deposit {first + r['index']}: {r['problem']}" for r in bad[:3])
            items = [
                {
                    "learner_id": f"bench-{first + r['index']}",
                    "outcome_id": r["outcome"]["outcome_id"],
                    "programme_id": pid,
                }
                for r in rows
                if r["status"] != "rejected"
            ]
            conversions = await post("/api/credit-bank/v1/conversions/batch", {"items": items}, f"c-{b}")
            if conversions.status_code != 200:
                failures.append(f"conversion batch {b}: {conversions.status_code} {conversions.text[:200]}")
                return
            answer = conversions.json()
            converted[0] += answer["converted"]
            failures.extend(f"conversion: {r['problem']}" for r in answer["items"] if r["status"] == "rejected")

        batches = -(-learners // batch_size)
        elapsed = await run_pool(batches, batches_in_flight, one_batch)
        if retries[0]:
            print(f"retried with the same Idempotency-Key: {retries[0]}")
        if failures:
            raise SystemExit(f"{len(failures)} failures, e.g. {failures[:3]}")
        return elapsed, converted[0]


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
    parser.add_argument("--concurrency", type=int, default=32, help="connections of the raw INSERT baseline")
    parser.add_argument("--batch-size", type=int, default=1000, help="items per bulk request (at most 1,000)")
    parser.add_argument("--batches-in-flight", type=int, default=4, help="bulk requests at a time")
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
            pids = {name: plat.procs[name].pid for name in ("gateway", "credit_bank")}
            cpu_before = {name: cpu_s(pid) for name, pid in pids.items()}
            service, converted = asyncio.run(
                through_gateway(plat.url("gateway"), token, args.learners, args.batch_size, args.batches_in_flight)
            )
            cpu = {name: cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
            url = role_url(plat.db_admin, CREDIT_BANK, role_passwords()["credit_bank"])
            raw = asyncio.run(raw_inserts(url, args.learners, args.concurrency))
            # Printed before the processes stop: a slow shutdown on a loaded machine loses no figure.
            report(args, service, converted, raw, cpu)
    finally:
        fake.terminate()
        fake.wait(10)


def report(args: argparse.Namespace, service: float, converted: int, raw: float, cpu: dict[str, float]) -> None:
    if converted != args.learners:
        raise SystemExit(f"{converted} conversions for {args.learners} learners")
    service_rate, raw_rate = args.learners / service, args.learners / raw
    print(
        f"learners: {args.learners}; bulk routes: {args.batch_size} items a request, "
        f"{args.batches_in_flight} requests in flight; baseline: {args.concurrency} connections"
    )
    print(
        f"deposit + conversion through the gateway: {service_rate:8.1f} learners/s, "
        f"{converted / service:8.1f} conversions/s ({service:.1f} s)"
    )
    per = ", ".join(f"{name} {1000 * seconds / args.learners:.2f}" for name, seconds in cpu.items())
    print(f"  CPU ms per learner (deposit + conversion): {per}")
    print(f"raw asyncpg INSERT of the same ledger rows: {raw_rate:8.1f} learners/s ({raw:.1f} s)")
    print(f"ratio: {service_rate / raw_rate:.2f}x", flush=True)


if __name__ == "__main__":
    main()
