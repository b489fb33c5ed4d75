"""The gateway's cost: one route direct, through the gateway, and through nginx, in one run.

    python -m bench.gateway [--seconds 10] [--connections 32]

Needs `hey` and `nginx` (Debian packages: apt-get install -y hey nginx-light). Prints req/s, p50,
p99 and each path's ratio to direct. Loopback only; bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from skillpass.bootstrap import role_url
from skillpass.devdb import free_port
from skillpass.registry import SERVICES

from .harness import hey, platform

NGINX_CONF = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  upstream svc {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location /api/catalogue/ {{
      proxy_pass http://svc/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


async def _seed_row(db_admin: str) -> None:
    engine = create_async_engine(role_url(db_admin, SERVICES[0]))
    async with engine.begin() as conn:
        cols = {
            r[0]
            for r in await conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema='catalogue' "
                    "AND table_name='occupations'"
                )
            )
        }
        values = {
            "classification": "2022",
            "code": "6-25-02-05",
            "name": "半导体芯片制造工",
            "major": "6",
            "middle": "6-25",
            "minor": "6-25-02",
        }
        values = {k: v for k, v in values.items() if k in cols}
        await conn.execute(
            text(
                f"INSERT INTO catalogue.occupations ({', '.join(values)}) VALUES "
                f"({', '.join(':' + k for k in values)}) ON CONFLICT DO NOTHING"
            ),
            values,
        )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("install nginx first: apt-get install -y nginx-light")
    # One client hammering is the point here, so the per-client rate limit is lifted.
    with platform(
        ("gateway", "catalogue"),
        {"SKILLPASS_GATEWAY_RATE_LIMIT_PER_S": "1000000", "SKILLPASS_GATEWAY_RATE_LIMIT_BURST": "1000000"},
    ) as plat:
        asyncio.run(_seed_row(plat.db_admin))
        token = plat.token("admin")
        # A route that reads a row (the usual call) and one that does no work at all: the second
        # shows the proxy's own cost, which a slower route hides.
        paths = ["/v1/occupations/6-25-02-05", "/healthz"]
        nroot = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        nport = free_port()
        (nroot / "nginx.conf").write_text(NGINX_CONF.format(root=nroot, upstream=plat.ports["catalogue"], port=nport))
        ng = subprocess.Popen([nginx, "-c", str(nroot / "nginx.conf"), "-g", "daemon off;"])
        time.sleep(0.5)
        results = {}
        try:
            for path in paths:
                targets = {
                    "direct": plat.url("catalogue") + path,
                    "gateway": plat.url("gateway") + "/api/catalogue" + path,
                    "nginx": f"http://127.0.0.1:{nport}/api/catalogue{path}",
                }
                for name, url in targets.items():  # each path answers the same before it is measured
                    answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
                    assert answer.status_code == 200, (name, answer.status_code, answer.text)
                hey(targets["direct"], token=token, seconds=2, connections=args.connections)  # warm-up
                results[path] = {
                    name: hey(url, token=token, seconds=args.seconds, connections=args.connections)
                    for name, url in targets.items()
                }
        finally:
            ng.terminate()
            ng.wait(5)
            shutil.rmtree(nroot, ignore_errors=True)
    for path, rows in results.items():
        base = rows["direct"].rps
        print(f"\nGET {path}  ({args.connections} connections, {args.seconds}s each, one uvicorn worker each)")
        print(f"{'via':<9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'ratio':>8}")
        for name, r in rows.items():
            print(f"{name:<9}{r.rps:>10.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.non_2xx:>9}{r.rps / base:>8.2f}")


if __name__ == "__main__":
    main()
