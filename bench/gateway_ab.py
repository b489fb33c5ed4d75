"""A/B of gateway builds in one run: CPU per proxied request of each, interleaved round by round.

    python -m bench.gateway_ab --variant a: --variant b:SKILLPASS_GATEWAY_UPSTREAM_CLIENT=aiohttp \
        [--seconds 4] [--rounds 5] [--connections 32]

Starts PostgreSQL, the catalogue and one gateway per ``--variant NAME:ENV=VALUE,ENV=VALUE``
(same code, the variant's environment on top), loads ``GET /api/catalogue/v1/lookup`` on each in
turn with hey and prints, per variant, the median req/s, p50/p99 and the gateway's CPU per request
(user + system from /proc over the round ÷ answers). The catalogue is shared, so the variants see
the same upstream; the figure to compare is the gateway's CPU per request, which the machine's
other load moves far less than req/s. Webhook delivery is off in the variants (it polls feeds).
``--nginx`` adds nginx in front of the same catalogue (its worker's CPU) as the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from skillpass.devdb import free_port
from skillpass.local import DevSecrets, process_env
from skillpass.registry import GATEWAY

from .__main__ import RAISED_LIMITS, start_nginx
from .catalogue_lookup import QUERY, _load_demo
from .harness import Platform, hey, platform, stop_all


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process and its children (nginx's worker; Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) / tick, int(fields[12]) / tick
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        u, s = cpu_split(int(child))
        user, system = user + u, system + s
    return user, system


def _parse(spec: str) -> tuple[str, dict[str, str]]:
    name, _, rest = spec.partition(":")
    env = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    return name, env


def _start_gateway(
    plat: Platform, dev: DevSecrets, name: str, extra: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        **process_env(
            GATEWAY,
            plat.db_admin,
            dev,
            gateway_port=plat.ports["gateway"],
            ports={**plat.ports, "gateway": port},
            data_dir=plat.root,
        ),
        "SKILLPASS_LOG_LEVEL": "WARNING",
        "SKILLPASS_GATEWAY_WEBHOOK_ENABLED": "false",
        **RAISED_LIMITS,
        **extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "skillpass.cli", "serve", "gateway"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(plat.root / f"gateway-{name}.log").open("w"),
    )
    return proc, port


def _ready(url: str, token: str, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} never answered 200")
        time.sleep(0.3)


def _rounds(
    args: argparse.Namespace, procs: dict[str, subprocess.Popen[bytes]], ports: dict[str, int], token: str
) -> None:
    results: dict[str, list[tuple[float, float, float, float, float]]] = {n: [] for n in ports}
    for rnd in range(args.rounds):
        order = list(ports) if rnd % 2 == 0 else list(reversed(ports))
        for name in order:
            url = f"http://127.0.0.1:{ports[name]}{args.path}"
            user0, sys0 = cpu_split(procs[name].pid)
            res = hey(url, token=token, seconds=args.seconds, connections=args.connections)
            user1, sys1 = cpu_split(procs[name].pid)
            n = max(res.count, 1)
            per, per_sys = 1000 * (user1 - user0 + sys1 - sys0) / n, 1000 * (sys1 - sys0) / n
            results[name].append((res.rps, res.p50_ms, res.p99_ms, per, per_sys))
            print(f"round {rnd + 1} {name}: {res.rps:.0f} req/s, {per:.3f} ms CPU/request (system {per_sys:.3f})")
    print(f"\nload average {os.getloadavg()[0]:.1f}; medians of {args.rounds} rounds × {args.seconds} s")
    print("| variant | req/s | p50 / p99 ms | proxy CPU per request | of which system |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        med = [statistics.median(r[i] for r in rows) for i in range(5)]
        print(f"| {name} | {med[0]:.0f} | {med[1]:.1f} / {med[2]:.1f} | {med[3]:.3f} ms | {med[4]:.3f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--path", default=f"/api/catalogue/v1/lookup?{QUERY}")
    parser.add_argument("--nginx", action="store_true", help="nginx in front of the catalogue as one more row")
    args = parser.parse_args()
    with platform(("gateway", "catalogue"), RAISED_LIMITS) as plat:
        asyncio.run(_load_demo(plat.db_admin))
        token = plat.token("admin")
        dev = DevSecrets.load_or_create(plat.root)
        procs: dict[str, subprocess.Popen[bytes]] = {}
        ports: dict[str, int] = {}
        try:
            for name, extra in map(_parse, args.variant):
                procs[name], ports[name] = _start_gateway(plat, dev, name, extra)
            if args.nginx:
                ng = start_nginx(plat.ports["catalogue"], plat.root)
                if ng is None:
                    raise SystemExit("no nginx")
                procs["nginx"], ports["nginx"] = ng
            for name, port in ports.items():
                url = f"http://127.0.0.1:{port}{args.path}"
                _ready(url, token, f"{name} (see {plat.root}/gateway-{name}.log)")
                hey(url, token=token, seconds=1, connections=args.connections)  # warm up
            _rounds(args, procs, ports, token)
        finally:
            stop_all(list(procs.values()))


if __name__ == "__main__":
    main()
