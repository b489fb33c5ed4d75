"""GET /lookup throughput through the gateway against the same call made directly to the catalogue.

    python -m bench.catalogue_lookup [--seconds 10] [--connections 32] [--rounds 2]

A throw-away embedded PostgreSQL, the catalogue's demo data, the catalogue and the gateway as real
processes on loopback (bench/harness.py); load from `hey` (apt-get install -y hey), both targets
measured in the same run, alternating; prints the ratio gateway / direct.
"""

from __future__ import annotations

import argparse
import asyncio

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from services.kit.db import make_sessionmaker
from skillpass.bootstrap import role_url
from skillpass.registry import SERVICES

from .harness import hey, platform

CATALOGUE = next(s for s in SERVICES if s.name == "catalogue")
# An old code (alias) and a date with an edition in force: the lookup's full path.
QUERY = "occupation_code=2-02-10-09&level=3&as_of=2026-09-01"


async def _load_demo(db_admin: str) -> dict[str, int]:
    from services.catalogue.demo import load_demo

    engine = create_async_engine(role_url(db_admin, CATALOGUE))
    try:
        async with make_sessionmaker(engine)() as session:
            return await load_demo(session)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    # The bench measures proxying, not the per-client rate limit.
    with platform(
        ("gateway", "catalogue"),
        {"SKILLPASS_GATEWAY_RATE_LIMIT_PER_S": "1000000", "SKILLPASS_GATEWAY_RATE_LIMIT_BURST": "1000000"},
    ) as plat:
        print("demo data:", asyncio.run(_load_demo(plat.db_admin)))
        token = plat.token("admin")
        targets = {
            "direct": f"{plat.url('catalogue')}/v1/lookup?{QUERY}",
            "gateway": f"{plat.url('gateway')}/api/catalogue/v1/lookup?{QUERY}",
        }
        for url in targets.values():  # one checked call: the answer is what we think it is
            body = httpx.get(url, headers={"Authorization": f"Bearer {token}"}).json()
            if body.get("in_catalogue") is not True:
                raise SystemExit(f"unexpected lookup answer: {body}")
        for url in targets.values():
            hey(url, token=token, seconds=2, connections=args.connections)  # warm pools and caches
        sums = dict.fromkeys(targets, 0.0)
        for n in range(args.rounds):
            for name, url in targets.items():
                r = hey(url, token=token, seconds=args.seconds, connections=args.connections)
                sums[name] += r.rps
                print(
                    f"round {n + 1} {name:<8} {r.rps:8.1f} req/s  p50 {r.p50_ms:6.1f} ms  "
                    f"p99 {r.p99_ms:6.1f} ms  non-2xx {r.non_2xx}"
                )
    d, g = sums["direct"] / args.rounds, sums["gateway"] / args.rounds
    print(
        f"GET /lookup  direct {d:.1f} req/s  gateway {g:.1f} req/s  ratio gateway/direct {g / d:.2f} "
        f"({args.connections} connections, {args.seconds}s x {args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
