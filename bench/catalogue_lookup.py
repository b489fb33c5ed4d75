"""GET /lookup throughput through the gateway against the same call made directly to the catalogue.

Self-contained: a throw-away embedded PostgreSQL under /tmp, bootstrap and migrations, the demo
data, then the catalogue and the gateway as uvicorn subprocesses on loopback. The load is a bounded
loop (``--concurrency`` workers for ``--seconds``) on aiohttp's client; both targets are measured
in the same run, alternating, and the ratio gateway / direct is printed.

    python -m bench.catalogue_lookup [--seconds 10] [--concurrency 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit.auth import SigningKey, mint_token
from services.kit.db import make_sessionmaker
from services.kit.testing import free_port
from skillpass.bootstrap import bootstrap, role_url
from skillpass.devdb import EmbeddedPostgres
from skillpass.registry import GATEWAY, SERVICES

CATALOGUE = next(s for s in SERVICES if s.name == "catalogue")
ISSUER, AUDIENCE = "https://skillpass.local/gateway", "skillpass"
QUERY = "occupation_code=2-02-10-09&level=3&as_of=2026-09-01"  # alias + edition in force: the full path


@dataclass
class Stack:
    direct: str
    gateway: str
    token: str


async def _load_demo(url: str) -> dict[str, int]:
    from services.catalogue.demo import load_demo

    engine = create_async_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await load_demo(session)
    finally:
        await engine.dispose()


def _uvicorn(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout_s}s")


@contextmanager
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="skillpass-bench-catalogue-", dir="/tmp"))
    server = EmbeddedPostgres(root / "pg", free_port())
    procs: list[subprocess.Popen[bytes]] = []
    server.start()
    try:
        db_admin = asyncio.run(bootstrap(server.admin_url(), "bench_catalogue"))
        cat_url, gw_url = role_url(db_admin, CATALOGUE), role_url(db_admin, GATEWAY)
        print("demo data:", asyncio.run(_load_demo(cat_url)))
        key_path = root / "keys" / "signing-key.pem"
        key = SigningKey.load_or_create(key_path)
        cport, gport = free_port(), free_port()
        shared = {"SKILLPASS_ENV": "dev", "SKILLPASS_LOG_LEVEL": "WARNING",
                  "SKILLPASS_JWKS_URL": f"http://127.0.0.1:{gport}/.well-known/jwks.json"}
        procs.append(_uvicorn(GATEWAY.app, gport, {
            **shared, "SKILLPASS_GATEWAY_DATABASE_URL": gw_url,
            "SKILLPASS_GATEWAY_SIGNING_KEY_PATH": str(key_path),
            "SKILLPASS_GATEWAY_CATALOGUE_URL": f"http://127.0.0.1:{cport}",
            # The bench measures proxying, not the rate limiter.
            "SKILLPASS_GATEWAY_RATE_LIMIT_PER_S": "1000000", "SKILLPASS_GATEWAY_RATE_LIMIT_BURST": "1000000"},
            root / "gateway.log"))
        procs.append(_uvicorn(CATALOGUE.app, cport, {**shared, "SKILLPASS_CATALOGUE_DATABASE_URL": cat_url},
                              root / "catalogue.log"))
        _wait_ready(f"http://127.0.0.1:{cport}", procs[1])
        _wait_ready(f"http://127.0.0.1:{gport}", procs[0])
        token = mint_token(key, sub="bench-admin", role="admin", issuer=ISSUER, audience=AUDIENCE, ttl_s=7200)
        yield Stack(direct=f"http://127.0.0.1:{cport}/v1/lookup?{QUERY}",
                    gateway=f"http://127.0.0.1:{gport}/api/catalogue/v1/lookup?{QUERY}", token=token)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def measure(url: str, token: str, seconds: float, concurrency: int) -> tuple[float, int, float]:
    """(requests per second, errors, p99 latency ms) of ``concurrency`` workers for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async with session.get(url) as warm:  # one checked call: the answer is what we think it is
            body = await warm.json()
            if warm.status != 200 or body.get("in_catalogue") is not True:
                raise RuntimeError(f"unexpected lookup answer {warm.status}: {body}")
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    return len(latencies) / elapsed, errors, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with stack() as s:
        asyncio.run(measure(s.direct, s.token, 2, args.concurrency))  # warm both processes' pools and caches
        asyncio.run(measure(s.gateway, s.token, 2, args.concurrency))
        direct, via = [], []
        for n in range(args.rounds):
            for label, url, sink in (("direct ", s.direct, direct), ("gateway", s.gateway, via)):
                rps, errors, p99 = asyncio.run(measure(url, s.token, args.seconds, args.concurrency))
                sink.append(rps)
                print(f"round {n + 1} {label}: {rps:8.1f} req/s  p99 {p99:6.1f} ms  errors {errors}")
        d, g = sum(direct) / len(direct), sum(via) / len(via)
        print(f"GET /lookup  direct {d:.1f} req/s  gateway {g:.1f} req/s  ratio gateway/direct {g / d:.2f} "
              f"(cpus {os.cpu_count()}, concurrency {args.concurrency}, {args.seconds:.0f}s x {args.rounds})")


if __name__ == "__main__":
    main()
