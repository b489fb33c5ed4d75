"""Benchmark harness: a throw-away embedded PostgreSQL and real processes on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.kit.auth import SigningKey, mint_token
from skillpass.bootstrap import bootstrap
from skillpass.devdb import EmbeddedPostgres, free_port
from skillpass.local import DevSecrets, process_env, role_passwords
from skillpass.registry import ALL
from skillpass.seed import seed_service_clients


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def status_mb(pid: int, *keys: str) -> dict[str, float]:
    """Memory lines of /proc/<pid>/status in MB, e.g. ``VmRSS`` (resident now), ``VmHWM`` (its peak)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in keys:
                out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def rss_mb(pid: int) -> float:
    """A process's resident set now, MB (uvicorn serves in the process itself)."""
    return status_mb(pid, "VmRSS").get("VmRSS", 0.0)


@dataclass
class Platform:
    root: Path
    db_admin: str
    ports: dict[str, int]
    key: SigningKey
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def token(self, role: str = "admin", *, sub: str | None = None, org: str | None = None) -> str:
        return mint_token(
            self.key,
            sub=sub or f"bench-{role}",
            role=role,
            org=org,
            issuer="https://skillpass.local/gateway",
            audience="skillpass",
            ttl_s=7200,
        )


@contextmanager
def platform(
    names: tuple[str, ...] = tuple(s.name for s in ALL), extra_env: dict[str, str] | None = None
) -> Iterator[Platform]:
    root = Path(tempfile.mkdtemp(prefix="skillpass-bench-", dir="/tmp"))
    server = EmbeddedPostgres(root / "pg", free_port(), fast_unsafe=False)
    server.start()
    try:
        db_admin = asyncio.run(bootstrap(server.admin_url(), "bench_" + uuid.uuid4().hex[:6], role_passwords()))
        dev = DevSecrets.load_or_create(root)
        asyncio.run(seed_service_clients(db_admin, dev))
        ports = {s.name: free_port() for s in ALL}
        plat = Platform(root, db_admin, ports, SigningKey.load_or_create(root / "keys" / "signing-key.pem"))
        for spec in ALL:
            if spec.name not in names:
                continue
            env = {
                **os.environ,
                **process_env(spec, db_admin, dev, gateway_port=ports["gateway"], ports=ports, data_dir=root),
                "SKILLPASS_LOG_LEVEL": "WARNING",
                **(extra_env or {}),
            }
            plat.procs[spec.name] = subprocess.Popen(
                [sys.executable, "-m", "skillpass.cli", "serve", spec.name],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(root / f"{spec.name}.log").open("w"),
            )
        deadline = time.monotonic() + 60
        for name in plat.procs:
            while True:
                try:
                    if httpx.get(plat.url(name) + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start; see {root / (name + '.log')}")
                time.sleep(0.2)
        yield plat
    finally:
        stop_all(list(locals().get("plat", Platform(root, "", {}, SigningKey.generate())).procs.values()))
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def stop_all(procs: list[subprocess.Popen[bytes]], within_s: float = 30) -> None:
    """SIGTERM to every process at once, then up to ``within_s`` for all of them (uvicorn drains for
    up to 25 s); one that is still running is killed and named, so a slow stop can neither leave
    processes and the database behind nor lose the run's results."""
    for p in procs:
        p.terminate()
    deadline = time.monotonic() + within_s
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{p.args!r} still running {within_s:.0f} s after SIGTERM: killed", file=sys.stderr)
            p.kill()
            p.wait()


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    count: int = 0


def hey(url: str, *, token: str, seconds: int = 10, connections: int = 32) -> LoadResult:
    """Loopback load with `hey` (Debian package), bounded in time."""
    exe = shutil.which("hey")
    if exe is None:
        raise SystemExit("install the load generator first: apt-get install -y hey")
    out = subprocess.run(
        [exe, "-z", f"{seconds}s", "-c", str(connections), "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50_m, p99_m = re.search(r"50%+ in ([\d.]+) secs", out), re.search(r"99%+ in ([\d.]+) secs", out)
    # Under 100 answers hey prints no 99% line: the slowest answer stands in for it.
    p99_m = p99_m or re.search(r"Slowest:\s+([\d.]+) secs", out)
    if p50_m is None or p99_m is None:  # no answer came back within the run: hey prints no distribution
        raise RuntimeError(f"hey got no answers from {url} in {seconds} s:\n{out[-2000:]}")
    p50, p99 = float(p50_m.group(1)) * 1000, float(p99_m.group(1)) * 1000
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    non_2xx = sum(int(n) for c, n in codes.items() if not c.startswith("2"))
    return LoadResult(rps, p50, p99, non_2xx, sum(int(n) for n in codes.values()))
