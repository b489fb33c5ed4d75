"""``make run``: database, migrations, demo data, six processes; Ctrl-C stops them, data stays."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from .bootstrap import bootstrap
from .local import (
    DATA_DIR,
    DATABASE_NAME,
    DEFAULT_PG_PORT,
    DevSecrets,
    external_admin_url,
    process_env,
    role_passwords,
)
from .registry import ALL, GATEWAY, ProcessSpec
from .tokens import admin_token

console = Console(stderr=True)


def database(data_dir: Path = DATA_DIR, port: int = DEFAULT_PG_PORT) -> tuple[str, object | None]:
    """The admin URL to use: DATABASE_URL if set, else the embedded server in ./.data/pg."""
    url = external_admin_url()
    if url:
        return url, None
    from .devdb import EmbeddedPostgres

    server = EmbeddedPostgres(data_dir / "pg", port)
    with console.status(f"starting the embedded PostgreSQL on 127.0.0.1:{port} (data in {data_dir / 'pg'})"):
        server.start()
    return server.admin_url(), server


def start_process(spec: ProcessSpec, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{spec.name}.log").open("ab")
    cmd = [sys.executable, "-m", "skillpass.cli", "serve", spec.name]
    return subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_ready(urls: dict[str, str], procs: dict[str, subprocess.Popen[bytes]], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    pending = dict(urls)
    with console.status("waiting for the processes to be ready") as status:
        while pending:
            for name, url in list(pending.items()):
                if procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited with {procs[name].returncode}; see .data/logs/{name}.log")
                try:
                    if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                        del pending[name]
                        status.update(f"ready: {', '.join(n for n in urls if n not in pending)}")
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout_s:.0f}s: {', '.join(pending)}")
            time.sleep(0.3)


def stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs.values():
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def _stop_on_signal(signum: int, _frame: object) -> None:
    # A SIGTERM (or a closed terminal) must stop the children like Ctrl-C does: they run in their
    # own sessions so that Ctrl-C reaches only this runner, which then stops them in order.
    raise KeyboardInterrupt


def run() -> None:
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)
    from .seed import seed_all

    admin_url, server = database()
    dev = DevSecrets.load_or_create()
    with console.status("creating roles and schemas, running migrations"):
        db_admin = asyncio.run(bootstrap(admin_url, DATABASE_NAME, role_passwords()))
    with console.status("loading demo data"):
        report = asyncio.run(seed_all(db_admin, dev))
    console.print(f"[green]demo data[/green] {report}")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for spec in ALL:
            procs[spec.name] = start_process(spec, process_env(spec, db_admin, dev), DATA_DIR / "logs")
        wait_ready({s.name: f"http://127.0.0.1:{s.port}" for s in ALL}, procs)
        token = admin_token()
        console.print(f"""
[bold green]skillpass is running[/bold green]
  gateway      http://127.0.0.1:{GATEWAY.port}   (API docs: http://127.0.0.1:{GATEWAY.port}/docs)
  pages        /docs, /redoc, /verify (public certificate check), /dashboard (admin token)
  services     {", ".join(f"{s.name} :{s.port}" for s in ALL if s is not GATEWAY)}
  logs         {DATA_DIR / "logs"}
  dev admin token (1 h):
""")
        print(token, flush=True)
        console.print("\ntry:", soft_wrap=True)
        console.print(
            f'  TOKEN=$(.venv/bin/skillpass token --role admin)\n  curl -H "Authorization: Bearer $TOKEN" '
            f'"http://127.0.0.1:{GATEWAY.port}/api/catalogue/v1/occupations?limit=3"',
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
        console.print("Ctrl-C stops everything; the data stays in .data/ for the next run.")
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        dead = [n for n, p in procs.items() if p.poll() is not None]
        console.print(f"[red]{', '.join(dead)} stopped; shutting down[/red]")
    except KeyboardInterrupt:
        console.print("\nstopping…")
    finally:
        stop_all(procs)
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
