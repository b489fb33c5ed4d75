"""One benchmark run: every figure next to its baseline measured in the same run.

    python -m bench [--seconds 5] [--rounds 2] [--quick] [--only B1,B2,...]
    make bench

Starts a throw-away embedded PostgreSQL, the real processes with production-like settings (access
log off, log level WARNING, the gateway's per-client rate limit raised for the run), a bare
Starlette + asyncpg baseline and nginx, then measures B1-B8 (docs/bench.md), each against its
baseline, interleaved round by round so the machine's noise hits both alike. Load comes from
`hey` (Debian package, installed when missing and we are root) in its own process, or else from
bench/loadgen.py (an open-loop asyncio generator in its own process). Prints one table and writes
bench/RESULTS.md with machine, date, commit and each process's RSS after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as pyplatform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx

from gateway.summary import parts
from skillpass.bootstrap import role_url
from skillpass.devdb import free_port
from skillpass.registry import SERVICES

from . import assessment_upload, city, points_evaluate
from .catalogue_lookup import QUERY, _load_demo
from .gateway import NGINX_CONF
from .harness import LoadResult, Platform, cpu_s, hey, platform, rss_mb, stop_all

QUIET = ("--log-level", "warning")
HERE = Path(__file__).resolve().parent
CATALOGUE = next(s for s in SERVICES if s.name == "catalogue")
# B7's fixed rate as a share of B1's max: the 1% bulk calls (1,000 lookups each) weigh ~50 reads,
# so half of B1's max saturated both sides (p50 in the hundreds of ms); a quarter leaves headroom.
B7_SHARE = 0.25
RAISED_LIMITS = {
    "SKILLPASS_GATEWAY_RATE_LIMIT_PER_S": "1000000",
    "SKILLPASS_GATEWAY_RATE_LIMIT_BURST": "1000000",
    # incentives polls assessment's feed; B6 seeds thousands of certificates, and catching up on
    # them mid-measurement would load the machine under B6/B3 (bench/points_evaluate.py does the same).
    "SKILLPASS_INCENTIVES_FEED_POLL_INTERVAL_S": "30",
    # B8 loads the public verification page, which assessment limits per client address.
    "SKILLPASS_ASSESSMENT_VERIFY_RATE_PER_S": "1000000",
    "SKILLPASS_ASSESSMENT_VERIFY_BURST": "1000000",
}
# B6: the batch route evaluates 50,000 learners in about a minute on this machine (issue 10b); the
# single route, the baseline, one request per learner, runs on a sample.
B6_LEARNERS = 50_000
B6_SINGLE_SAMPLE = 500
# B8: seconds after each 5,000-record upload before the next round measures (the followers catch up).
SETTLE_S = 3.0


@dataclass
class Row:
    bench: str
    what: str
    figure: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    p50_p99: str = ""
    note: str = ""

    def cells(self) -> list[str]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}×"
        met = {True: "met", False: "MISSED", None: "—"}[self.met]
        return [self.bench, self.what, self.figure, self.baseline, ratio, self.target, met, self.p50_p99, self.note]


HEAD = ["#", "what", "figure", "baseline (same run)", "ratio", "target", "", "p50 / p99 ms", "note"]


# -- load ------------------------------------------------------------------------------------------


def ensure_hey() -> str | None:
    """`hey` on PATH, installed from the distribution when missing and we may; None → loadgen."""
    if shutil.which("hey"):
        return shutil.which("hey")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "hey"], capture_output=True, check=False)
    return shutil.which("hey")


def loadgen(
    mix: list[dict[str, Any]], *, rate: float, seconds: float, connections: int = 64, **extra: Any
) -> dict[str, Any]:
    """bench/loadgen.py in its own process (open loop at ``rate``); ``extra`` goes into its spec."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"rate": rate, "seconds": seconds, "connections": connections, "mix": mix, **extra}, f)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", f.name], capture_output=True, text=True, check=True, cwd=HERE.parent
        ).stdout
    finally:
        os.unlink(f.name)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


class Load:
    def __init__(self, hey_exe: str | None, seconds: float, connections: int) -> None:
        self.hey_exe, self.seconds, self.connections = hey_exe, seconds, connections

    def max_rate(self, url: str, token: str, seconds: float | None = None) -> LoadResult:
        s = seconds or self.seconds
        if self.hey_exe:
            return hey(url, token=token, seconds=max(1, round(s)), connections=self.connections)
        r = loadgen([{"url": url, "headers": {"Authorization": f"Bearer {token}"}}], rate=5000, seconds=s)
        return LoadResult(r["rate"] if r["p99_ms"] < 1e9 else 0, r["p50_ms"], r["p99_ms"], r["errors"])

    def fixed_rate(self, url: str, token: str, rate: float) -> LoadResult:
        """Latency at a fixed offered rate (open loop)."""
        r = loadgen([{"url": url, "headers": {"Authorization": f"Bearer {token}"}}], rate=rate, seconds=self.seconds)
        return LoadResult(r["rate"], r["p50_ms"], r["p99_ms"], r["errors"])


def pctl(rows: list[LoadResult]) -> str:
    return f"{_median([r.p50_ms for r in rows]):.1f} / {_median([r.p99_ms for r in rows]):.1f}"


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if s else 0.0


# -- processes -------------------------------------------------------------------------------------


def start_baseline(plat: Platform, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "BENCH_DSN": role_url(plat.db_admin, CATALOGUE).replace("+asyncpg", ""),
        "BENCH_JWK": json.dumps(plat.key.public_jwk),
        "BENCH_ISSUER": "https://skillpass.local/gateway",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.baseline:app", "--port", str(port), "--no-access-log", *QUIET],
        env=env,
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL,
        stderr=(root / "baseline.log").open("w"),
    )
    wait_http(f"http://127.0.0.1:{port}/v1/lookup?{QUERY}", plat.token("admin"))
    return proc, port


def start_nginx(upstream: int, root: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        return None
    port = free_port()
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, upstream=upstream, port=port))
    proc = subprocess.Popen(
        [exe, "-c", str(root / "nginx.conf"), "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    return proc, port


def wait_http(url: str, token: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered 200")


# -- benchmarks ------------------------------------------------------------------------------------


def same_answers(targets: dict[str, str], token: str) -> None:
    """Each path answers the lookup, and the same, before it is measured."""
    answers = {}
    for name, url in targets.items():
        r = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 200 or r.json().get("in_catalogue") is not True:
            raise SystemExit(f"{name}: unexpected lookup answer {r.status_code} {r.text[:300]}")
        answers[name] = {k: v for k, v in r.json().items() if k != "entry"}
    if len({json.dumps(a, sort_keys=True) for a in answers.values()}) != 1:
        raise SystemExit(f"the baseline and the service answer differently: {answers}")


def b1_b2(
    plat: Platform, load: Load, rounds: int, baseline_port: int, nginx_port: int | None, pids_of: dict[str, int]
) -> list[Row]:
    token = plat.token("admin")
    targets = {
        "baseline": f"http://127.0.0.1:{baseline_port}/v1/lookup?{QUERY}",
        "direct": f"{plat.url('catalogue')}/v1/lookup?{QUERY}",
        "gateway": f"{plat.url('gateway')}/api/catalogue/v1/lookup?{QUERY}",
    }
    if nginx_port:
        targets["nginx"] = f"http://127.0.0.1:{nginx_port}/api/catalogue/v1/lookup?{QUERY}"
    same_answers(targets, token)
    for url in targets.values():
        load.max_rate(url, token, seconds=1)  # warm pools, caches, statement caches
    res: dict[str, list[LoadResult]] = {k: [] for k in targets}
    # CPU per request of the process that serves each path: steadier than req/s on a busy machine.
    pids = {"baseline": pids_of["baseline"], "direct": pids_of["catalogue"], "gateway": pids_of["gateway"]}
    cpu: dict[str, list[float]] = {k: [] for k in pids}
    for _ in range(rounds):  # interleaved: each round measures every path once
        for name, url in targets.items():
            before = {k: cpu_s(p) for k, p in pids.items()}
            res[name].append(load.max_rate(url, token))
            if name in pids and res[name][-1].count:
                # The serving process's own CPU (for the gateway: not the catalogue behind it).
                used = cpu_s(pids[name]) - before[name]
                cpu[name].append(1000 * used / res[name][-1].count)
    cpu_ms = {k: _median(v) for k, v in cpu.items()}
    rps = {k: _median([r.rps for r in v]) for k, v in res.items()}
    errs = {k: sum(r.non_2xx for r in v) for k, v in res.items()}
    b1 = rps["direct"] / rps["baseline"]
    b2 = rps["gateway"] / rps["direct"]
    rows = [
        Row(
            "B1",
            "GET /v1/lookup, catalogue direct",
            f"{rps['direct']:.0f} req/s",
            f"{rps['baseline']:.0f} req/s (Starlette+asyncpg+jose)",
            b1,
            "≥ 0.75×",
            b1 >= 0.75 and errs["direct"] == 0,
            pctl(res["direct"]),
            f"baseline p50/p99 {pctl(res['baseline'])}; CPU per request {cpu_ms['direct']:.2f} ms, "
            f"baseline {cpu_ms['baseline']:.2f} ms ({cpu_ms['direct'] / (cpu_ms['baseline'] or 1):.1f}×); "
            f"non-2xx {errs['direct']}",
        ),
        Row(
            "B2",
            "B1 through the gateway",
            f"{rps['gateway']:.0f} req/s",
            f"{rps['direct']:.0f} req/s direct",
            b2,
            "≥ 0.85× direct",
            b2 >= 0.85 and errs["gateway"] == 0,
            pctl(res["gateway"]),
            f"gateway CPU per request {cpu_ms['gateway']:.2f} ms; non-2xx {errs['gateway']}",
        ),
    ]
    if "nginx" in rps:
        n = rps["nginx"] / rps["direct"]
        rows.append(
            Row(
                "B2n",
                "B1 through nginx (reference)",
                f"{rps['nginx']:.0f} req/s",
                "direct",
                n,
                "—",
                None,
                pctl(res["nginx"]),
            )
        )
    # p99 the gateway adds at 70% of its max rate, open loop, interleaved.
    rate = 0.7 * rps["gateway"]
    fixed: dict[str, list[LoadResult]] = {"direct": [], "gateway": []}
    for _ in range(rounds):
        for name in fixed:
            fixed[name].append(load.fixed_rate(targets[name], token, rate))
    added = _median([r.p99_ms for r in fixed["gateway"]]) - _median([r.p99_ms for r in fixed["direct"]])
    fixed_errors = sum(r.non_2xx for v in fixed.values() for r in v)
    rows.append(
        Row(
            "B2p",
            f"p99 added by the gateway at {rate:.0f} req/s (70% of max)",
            f"+{added:.1f} ms",
            f"direct p50/p99 {pctl(fixed['direct'])}",
            None,
            "≤ 3 ms",
            added <= 3 and fixed_errors == 0,
            pctl(fixed["gateway"]),
            f"errors {fixed_errors}",
        )
    )
    return rows


async def _open_account(plat: Platform, learner: str) -> None:
    """The learner's certificate deposited in the credit bank (by its university) and one points
    evaluation stored, so the summary's parts are real answers, not a 404 or empty lists."""
    admin = {"Authorization": f"Bearer {plat.token('admin')}"}
    univ = {"Authorization": f"Bearer {plat.token('university', org=points_evaluate.ORG)}"}
    async with httpx.AsyncClient(base_url=plat.url("gateway"), timeout=30) as client:
        certs = await client.get("/api/assessment/v1/certificates", headers=admin, params={"learner_id": learner})
        certs.raise_for_status()
        number = certs.json()["items"][0]["number"]
        r = await client.post(
            "/api/credit-bank/v1/outcomes",
            headers=univ,
            json={"learner_id": learner, "kind": "certificate", "certificate_number": number},
        )
        if r.status_code not in (200, 201):
            raise SystemExit(f"B3: deposit for the summary's learner failed: {r.status_code} {r.text[:300]}")
        declared = {"degree": "master", "school_tier": 2, "class_rank_quartile": 2, "foreign_language": "CET6"}
        ev = await client.post(
            "/api/incentives/v1/points/evaluate", headers=admin, json={"learner_id": learner, "declared": declared}
        )
        if ev.status_code != 200:
            raise SystemExit(
                f"B3: points evaluation for the summary's learner failed: {ev.status_code} {ev.text[:300]}"
            )


def b3(plat: Platform, load: Load, rounds: int, learner: str | None, pids: dict[str, int] | None = None) -> list[Row]:
    """The summary at 70% of its max vs each call it composes (gateway.summary.parts), each made
    directly on its service at the same rate with the same student token; interleaved rounds."""
    if learner is None:
        return [
            Row(
                "B3",
                "GET /api/me/summary",
                "not measured",
                "",
                None,
                "p99 ≤ 1.5× slowest call",
                None,
                "",
                "needs B6's seeded learners (run with B6)",
            )
        ]
    asyncio.run(_open_account(plat, learner))
    student = plat.token("student", sub=learner)
    url = f"{plat.url('gateway')}/api/me/summary"
    r = httpx.get(url, headers={"Authorization": f"Bearer {student}"}, timeout=10)
    body = r.json() if r.status_code == 200 else {}
    missing = body.get("unavailable") if r.status_code == 200 else None
    if r.status_code != 200 or missing:
        why = f"HTTP {r.status_code}" if r.status_code != 200 else f"parts unavailable: {', '.join(missing or [])}"
        return [Row("B3", "GET /api/me/summary", "not available", "", None, "p99 ≤ 1.5× slowest call", None, "", why)]
    shape = (
        f"{len(body.get('certificates') or [])} certificate, credit account "
        f"{'present' if body.get('credit') else 'absent'}, {len(body.get('points') or [])} points evaluation, "
        f"{len(body.get('subsidy_claims') or [])} subsidy claims"
    )
    service_url = {"assessment": "assessment", "credit-bank": "credit_bank", "incentives": "incentives"}
    calls = {name: plat.url(service_url[svc]) + path for name, (svc, path, _) in parts(learner).items()}
    for name, u in calls.items():  # each composed call answers 200 before it is measured
        answer = httpx.get(u, headers={"Authorization": f"Bearer {student}"}, timeout=10)
        if answer.status_code != 200:
            raise SystemExit(f"B3 {name}: {answer.status_code} {answer.text[:300]}")
    load.max_rate(url, student, seconds=3)  # warm
    top = load.max_rate(url, student)
    rate = 0.7 * top.rps
    base: dict[str, list[LoadResult]] = {k: [] for k in calls}
    ours: list[LoadResult] = []
    # CPU per summary, of the gateway and of every process (the composed calls' services included).
    procs = {k: v for k, v in (pids or {}).items() if k in plat.procs}
    cpu_gw: list[float] = []
    cpu_all: list[float] = []
    # Reference, not the target's baseline: the four calls at once, each at the rate, i.e. the
    # services' share of the summary's load without the gateway; its slowest p99 per round.
    together: list[float] = []
    # CPU per lone call in its service; from the summary's Server-Timing, per request, what the
    # summary adds beyond its slowest part (latency here − that part; the gateway's total − that part).
    cpu_part: dict[str, list[float]] = {k: [] for k in calls}
    over: dict[str, list[float]] = {k: [] for k in ("p50", "p99", "handler_p50", "handler_p99")}
    for _ in range(rounds):
        for k, u in calls.items():
            lone, cpu_ms = _lone_call(load, u, student, rate, procs.get(service_url[parts(learner)[k][0]]))
            base[k].append(lone)
            cpu_part[k] += [cpu_ms] if cpu_ms is not None else []
        with ThreadPoolExecutor(len(calls)) as pool:
            at_once = list(pool.map(lambda u: load.fixed_rate(u, student, rate), calls.values()))
        together.append(max(x.p99_ms for x in at_once))
        before = {k: cpu_s(p) for k, p in procs.items()}
        got = loadgen(
            [{"url": url, "headers": {"Authorization": f"Bearer {student}"}}],
            rate=rate,
            seconds=load.seconds,
            server_timing=True,
        )
        ours.append(LoadResult(got["rate"], got["p50_ms"], got["p99_ms"], got["errors"]))
        for k in over if got.get("timed") else ():
            over[k].append(got[f"handler_over_{k[8:]}_ms" if k.startswith("handler_") else f"over_{k}_ms"])
        answered = ours[-1].rps * load.seconds
        if procs and answered:
            used = {k: cpu_s(p) - before[k] for k, p in procs.items()}
            cpu_gw.append(1000 * used.get("gateway", 0.0) / answered)
            cpu_all.append(1000 * sum(used.values()) / answered)
    p99 = {k: _median([x.p99_ms for x in v]) for k, v in base.items()}
    slowest = max(p99, key=lambda k: p99[k])
    our_p99 = _median([x.p99_ms for x in ours])
    ratio = our_p99 / p99[slowest] if p99[slowest] else None
    errors = sum(x.non_2xx for x in ours) + sum(x.non_2xx for v in base.values() for x in v)
    others = ", ".join(f"{k} {v:.1f}" for k, v in p99.items())
    return [
        Row(
            "B3",
            f"GET /api/me/summary at {rate:.0f} req/s (70% of max)",
            f"p99 {our_p99:.1f} ms",
            f"slowest call ({slowest}) p99 {p99[slowest]:.1f} ms",
            ratio,
            "p99 ≤ 1.5×",
            ratio is not None and ratio <= 1.5 and errors == 0,
            pctl(ours),
            f"max {top.rps:.0f} req/s; calls' p99 ms: {others}; the four at once, slowest p99 "
            f"{_median(together):.1f} ms ({our_p99 / (_median(together) or 1):.2f}×); errors {errors}; "
            f"learner with {shape}" + _b3_figures(over, cpu_gw, cpu_all, cpu_part),
        )
    ]


def _lone_call(load: Load, url: str, token: str, rate: float, pid: int | None) -> tuple[LoadResult, float | None]:
    """One composed call alone at ``rate``, and its service's CPU ms per call (None without a pid)."""
    before = cpu_s(pid) if pid else 0.0
    res = load.fixed_rate(url, token, rate)
    if not pid or not res.rps:
        return res, None
    return res, 1000 * (cpu_s(pid) - before) / (res.rps * load.seconds)


def _b3_figures(
    over: dict[str, list[float]], cpu_gw: list[float], cpu_all: list[float], cpu_part: dict[str, list[float]]
) -> str:
    return (
        (
            f"; composition overhead (summary latency − its slowest part in the same request, from "
            f"Server-Timing) p50/p99 {_median(over['p50']):.1f} / {_median(over['p99']):.1f} ms, inside "
            f"the gateway (total − slowest part) {_median(over['handler_p50']):.1f} / "
            f"{_median(over['handler_p99']):.1f} ms"
            if over["p50"]
            else ""
        )
        + (
            f"; CPU per summary: gateway {_median(cpu_gw):.2f} ms, all processes {_median(cpu_all):.2f} ms"
            if cpu_gw
            else ""
        )
        + (
            "; CPU per lone call in its service: "
            + ", ".join(f"{k} {_median(v):.2f} ms" for k, v in cpu_part.items() if v)
            if any(cpu_part.values())
            else ""
        )
    )


def b4(records: int, batch: int) -> list[Row]:
    root = Path(tempfile.mkdtemp(prefix="skillpass-bench-b4-", dir="/tmp"))
    try:
        res = asyncio.run(assessment_upload.run(records, batch, root, quiet=True))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratio = res["copy_s"] / res["gateway_s"]
    return [
        Row(
            "B4",
            f"{records:,} results in batches of {batch:,} through the gateway",
            f"{records / res['gateway_s']:,.0f} rec/s",
            f"{records / res['copy_s']:,.0f} rec/s (asyncpg COPY)",
            ratio,
            "≥ 0.4×",
            ratio >= 0.4,
            "",
            f"direct to the service {records / res['direct_s']:,.0f} rec/s; CPU ms per 1,000 records: "
            + ", ".join(f"{k} {v:.0f}" for k, v in res["cpu_ms_per_1k"].items()),
        )
    ]


async def _seed_events(db_admin: str, n: int) -> None:
    conn = await asyncpg.connect(db_admin.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "INSERT INTO catalogue.events (type, subject, data) SELECT 'bench.event', 'bench-' || g, "
            "jsonb_build_object('n', g, 'code', '6-25-02-05', 'level', 4) FROM generate_series(1, $1) g",
            n,
        )
    finally:
        await conn.close()


async def _raw_drain(dsn: str, page: int) -> tuple[float, int]:
    conn = await asyncpg.connect(dsn)
    try:
        started, seen, t, i = time.perf_counter(), 0, 0, 0
        while True:
            rows = await conn.fetch(
                "SELECT txid::text::bigint AS txid, id, type, occurred_at, subject, data FROM catalogue.events "
                "WHERE (txid, id) > ($1::text::xid8, $2) AND txid < pg_snapshot_xmin(pg_current_snapshot()) "
                "ORDER BY txid, id LIMIT $3",
                str(t),
                i,
                page,
            )
            if not rows:
                return time.perf_counter() - started, seen
            seen += len(rows)
            t, i = rows[-1]["txid"], rows[-1]["id"]
    finally:
        await conn.close()


async def _gateway_drain(url: str, token: str, page: int) -> tuple[float, list[int]]:
    ids: list[int] = []
    async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        started, after = time.perf_counter(), None
        while True:
            params: dict[str, Any] = {"limit": page, **({"after": after} if after else {})}
            r = await client.get(url, params=params)
            r.raise_for_status()
            body = r.json()
            if not body["events"]:
                return time.perf_counter() - started, ids
            ids.extend(e["id"] for e in body["events"])
            after = body["next_cursor"]


def b5(plat: Platform, events: int, rounds: int) -> list[Row]:
    asyncio.run(_seed_events(plat.db_admin, events))
    dsn = role_url(plat.db_admin, CATALOGUE).replace("+asyncpg", "")
    token = plat.token("platform")
    url = f"{plat.url('gateway')}/api/catalogue/v1/events"
    raw_s, gw_s, missed = [], [], 0
    total = 0
    for _ in range(rounds):
        s, total = asyncio.run(_raw_drain(dsn, 1000))
        raw_s.append(s)
        g, ids = asyncio.run(_gateway_drain(url, token, 1000))
        gw_s.append(g)
        missed += total - len(set(ids))
    raw, gw = _median(raw_s), _median(gw_s)
    ratio = raw / gw
    return [
        Row(
            "B5",
            f"drain {total:,} feed events through the gateway (pages of 1,000)",
            f"{total / gw:,.0f} ev/s",
            f"{total / raw:,.0f} ev/s (asyncpg keyset SELECT)",
            ratio,
            "≥ 0.5×, none missed",
            ratio >= 0.5 and missed == 0,
            "",
            f"missed {missed}",
        )
    ]


def b6(plat: Platform, learners: int, pids_of: dict[str, int]) -> tuple[list[Row], str | None]:
    """Points for every learner through POST /v1/points/evaluate/batch via the gateway, as their
    university, 1,000 a request, 2 requests in flight (bench/points_evaluate.py: COPY seeding, one to
    three certificates each). CPU per evaluation from /proc of each process; the share of
    incentives' time waiting on assessment and the catalogue from Server-Timing. Baseline in the
    same run: the single route, one request per learner at 32 concurrent, on a sample. Answers the
    rows and the first learner's id (B3 reads that learner: one certificate)."""
    t0 = time.perf_counter()
    certificates = asyncio.run(points_evaluate._seed(plat, learners))
    seeded = time.perf_counter() - t0
    ids = points_evaluate.learner_ids(plat, learners)
    procs = {k: pids_of[k] for k in points_evaluate.PROCESSES if k in pids_of}
    sample = min(learners, B6_SINGLE_SAMPLE)
    base = asyncio.run(points_evaluate.evaluate_singly(plat, ids[:sample], concurrency=32, pids=procs))
    m = asyncio.run(points_evaluate.evaluate_batches(plat, ids, batch=1_000, concurrency=2, pids=procs))
    cpu = {k: v for k, v in m.cpu_ms.items() if v >= 0.005}
    rows = [
        Row(
            "B6",
            f"POST /v1/points/evaluate/batch via the gateway, {learners:,} learners ({certificates:,} "
            "certificates), 1,000 a request, 2 in flight",
            f"{m.rate:,.1f} evals/s",
            f"{base.rate:,.1f} evals/s single route, one request each ({sample:,} learners, 32 concurrent)",
            m.rate / base.rate,
            "report evals/s, CPU per eval",
            None if m.failed == 0 and base.failed == 0 else False,
            "",
            f"CPU ms/eval {', '.join(f'{k} {v:.2f}' for k, v in cpu.items())}, all {sum(m.cpu_ms.values()):.2f} "
            f"(single route: all {sum(base.cpu_ms.values()):.2f}); waiting on assessment {m.share('assessment'):.0%}, "
            f"catalogue {m.share('catalogue'):.0%} of incentives' time; failed {m.failed} (single {base.failed}); "
            f"totals seen {m.totals}; seeding {seeded:.0f} s"
            + (f"; failures: {m.problems + base.problems}" if m.problems or base.problems else ""),
        )
    ]
    return rows, (ids[0] if m.failed < learners else None)


def b7(plat: Platform, load: Load, rate: float, rounds: int) -> list[Row]:
    token = plat.token("admin")
    auth = {"Authorization": f"Bearer {token}"}
    bulk = json.dumps(
        {"queries": [{"occupation_code": "2-02-10-09", "level": 3, "as_of": "2026-09-01"} for _ in range(1000)]}
    )
    signal = json.dumps(
        [
            {
                "occupation_code": "6-25-02-05",
                "period": "2026-Q4",
                "vacancies": 120,
                "job_seekers": 80,
                "median_wage": "8200.00",
                "wage_growth": "0.0500",
                "fill_rate": "0.6000",
            }
        ]
    )

    def mix(base: str) -> list[dict[str, Any]]:
        return [
            {"weight": 90, "url": f"{base}/v1/lookup?{QUERY}", "headers": auth},
            {"weight": 9, "method": "POST", "url": f"{base}/v1/signals", "headers": auth, "body": signal},
            {"weight": 1, "method": "POST", "url": f"{base}/v1/lookups", "headers": auth, "body": bulk},
        ]

    bases = {"direct": plat.url("catalogue"), "gateway": plat.url("gateway") + "/api/catalogue"}
    for name, base in bases.items():  # every kind of call answers 2xx before it is measured
        for item in mix(base):
            headers = {**auth, "Content-Type": "application/json"}
            r = httpx.request(
                item.get("method", "GET"), item["url"], headers=headers, content=item.get("body"), timeout=30
            )
            if r.status_code >= 300:
                raise SystemExit(f"B7 {name} {item['url']}: {r.status_code} {r.text[:300]}")
    res: dict[str, list[dict[str, Any]]] = {k: [] for k in bases}
    for _ in range(rounds):
        for name, base in bases.items():
            res[name].append(loadgen(mix(base), rate=rate, seconds=load.seconds))
    p99 = {k: _median([r["p99_ms"] for r in v]) for k, v in res.items()}
    p50 = {k: _median([r["p50_ms"] for r in v]) for k, v in res.items()}
    errors = sum(r["errors"] for v in res.values() for r in v)
    lag = max(r["lag_p99_ms"] for v in res.values() for r in v)
    ratio = p99["gateway"] / p99["direct"]
    return [
        Row(
            "B7",
            f"90/9/1 lookup/signal/bulk-lookup mix at {rate:.0f} req/s through the gateway",
            f"p99 {p99['gateway']:.1f} ms",
            f"p99 {p99['direct']:.1f} ms direct",
            ratio,
            "p99 ≤ 1.3×; 0 errors",
            ratio <= 1.3 and errors == 0,
            f"{p50['gateway']:.1f} / {p99['gateway']:.1f}",
            f"errors {errors}; generator lag p99 {lag:.1f} ms",
        )
    ]


def b8(plat: Platform, load: Load, rounds: int, pids: dict[str, int], certificates: int, accounts: int) -> list[Row]:
    """City scale (bench/city.py): B1, a B4-lite and the verification page on the database as it
    is, then again after COPY-seeding ``certificates`` certificates and ``accounts`` accounts."""
    if certificates <= 0:
        return [Row("B8", "city scale", "skipped", "", None, "≥ 0.8×, p99 ≤ 1.25×", None, "", "--b8-certificates 0")]
    admin, univ = plat.token("admin"), plat.token("university", org=city.ORG)
    gw = plat.url("gateway")
    body_id = asyncio.run(city.city_body(gw, admin))
    lookup = f"{plat.url('catalogue')}/v1/lookup?{QUERY}"
    # A certificate to verify, the same one before and after seeding (its batch also warms the path).
    _, first = asyncio.run(city.upload_lite(gw, univ, body_id, 0))
    i = next(i for i, r in enumerate(first["rows"]) if r["certificate_number"])
    form = urlencode({"number": first["rows"][i]["certificate_number"], "name": first["names"][i]})
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    page = httpx.post(f"{gw}/verify", content=form, headers=form_headers, timeout=30)
    if page.status_code != 200 or 'class="result found valid"' not in page.text:
        raise SystemExit(f"B8: the verification page did not find the certificate: {page.status_code}")
    verify = [{"method": "POST", "url": f"{gw}/verify", "headers": form_headers, "body": form}]
    uploads = [1]

    def measure() -> dict[str, Any]:
        rps, p99, cpu, lite_s, lite_cpu, v50, v99, verrors = [], [], [], [], [], [], [], 0
        for _ in range(rounds):
            c0 = cpu_s(pids["catalogue"])
            r = load.max_rate(lookup, admin)
            rps.append(r.rps)
            p99.append(r.p99_ms)
            cpu.append(1000 * (cpu_s(pids["catalogue"]) - c0) / max(r.count, 1))
            # Verification before the upload, and twice as long as the other parts: at 20 req/s a
            # p99 over 5 s is the single slowest answer, and the followers (incentives, statistics,
            # the credit bank, webhooks) reading the upload's 5,000 events would overlap it.
            v = loadgen(verify, rate=city.VERIFY_RATE, seconds=2 * load.seconds)
            v50.append(v["p50_ms"])
            v99.append(v["p99_ms"])
            verrors += v["errors"]
            a0 = cpu_s(pids["assessment"])
            took, _ = asyncio.run(city.upload_lite(gw, univ, body_id, uploads[0]))
            uploads[0] += 1
            lite_s.append(took)
            lite_cpu.append(1000 * (cpu_s(pids["assessment"]) - a0) / city.LITE * 1000)
            time.sleep(SETTLE_S)  # let the followers read the upload's events before the next round
        return {
            "rps": _median(rps),
            "p99": _median(p99),
            "cpu": _median(cpu),
            "lite": city.LITE / _median(lite_s),
            "lite_cpu": _median(lite_cpu),
            "v50": _median(v50),
            "v99": _median(v99),
            "verrors": verrors,
        }

    empty = measure()
    seeded = asyncio.run(
        city.seed_city(
            plat.db_admin.replace("+asyncpg", ""),
            body_id,
            certificates=certificates,
            accounts=accounts,
            progress=lambda m: print(m, flush=True),
        )
    )
    full = measure()
    scale = f"{int(seeded['certificates']):,} certificates, {int(seeded['accounts']):,} accounts"
    seeding = (
        f"seeded by COPY in {seeded['certificates_s']:.0f} s (certificates) + {seeded['accounts_s']:.0f} s "
        f"(accounts) + VACUUM ANALYZE, CHECKPOINT {seeded['analyze_s']:.0f} s"
    )
    r1, r4 = full["rps"] / empty["rps"], full["lite"] / empty["lite"]
    rv = full["v99"] / empty["v99"] if empty["v99"] else None
    return [
        Row(
            "B8",
            f"city scale ({scale}): B1 GET /v1/lookup",
            f"{full['rps']:.0f} req/s",
            f"{empty['rps']:.0f} req/s before seeding",
            r1,
            "≥ 0.8×",
            r1 >= 0.8,
            f"{full['p99']:.1f} p99",
            f"p99 before {empty['p99']:.1f} ms; CPU per request {full['cpu']:.2f} ms, before {empty['cpu']:.2f} ms; "
            + seeding,
        ),
        Row(
            "B8u",
            f"city scale: B4-lite, one batch of {city.LITE:,} through the gateway",
            f"{full['lite']:,.0f} rec/s",
            f"{empty['lite']:,.0f} rec/s before seeding",
            r4,
            "≥ 0.8×",
            r4 >= 0.8,
            "",
            f"assessment CPU per 1,000 records {full['lite_cpu']:.0f} ms, before {empty['lite_cpu']:.0f} ms",
        ),
        Row(
            "B8v",
            f"city scale: POST /verify (the public page) at {city.VERIFY_RATE:.0f} req/s",
            f"p99 {full['v99']:.1f} ms",
            f"p99 {empty['v99']:.1f} ms before seeding",
            rv,
            "p99 ≤ 1.25×",
            rv is not None and rv <= 1.25 and full["verrors"] + empty["verrors"] == 0,
            f"{full['v50']:.1f} / {full['v99']:.1f}",
            f"before p50 {empty['v50']:.1f} ms; errors {full['verrors'] + empty['verrors']}",
        ),
    ]


# -- report ----------------------------------------------------------------------------------------


def table(rows: list[list[str]], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        pyplatform.processor(),
    )
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {pyplatform.system()} {pyplatform.release()}, "
        f"Python {pyplatform.python_version()}, load average {load[0]:.1f} at start"
    )


def commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per comparison")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="2 s, 1 round, small volumes (while iterating)")
    parser.add_argument("--only", default="B1,B2,B3,B4,B5,B6,B7,B8")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--b6-learners", type=int, default=B6_LEARNERS, help="learners evaluated in B6")
    parser.add_argument("--b8-certificates", type=int, default=1_000_000, help="B8's city (0: skip B8)")
    parser.add_argument("--b8-accounts", type=int, default=100_000, help="credit-bank accounts in B8's city")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 2, 1
        args.b6_learners = min(args.b6_learners, 1_000)
        args.b8_certificates = min(args.b8_certificates, 100_000)
        args.b8_accounts = min(args.b8_accounts, 10_000)
    only = set(args.only.upper().split(","))
    started_at, started = datetime.now(UTC), time.monotonic()
    hey_exe = ensure_hey()
    load = Load(hey_exe, args.seconds, args.connections)
    loader = f"hey ({hey_exe}), {args.connections} connections" if hey_exe else "bench/loadgen.py (open loop)"
    print(f"load: {loader}; {args.seconds:g} s per measurement, {args.rounds} interleaved rounds", flush=True)
    rows: list[Row] = []
    rss: dict[str, float] = {}
    records, events = (10_000, 20_000) if args.quick else (50_000, 100_000)
    root = Path(tempfile.mkdtemp(prefix="skillpass-bench-", dir="/tmp"))
    extra: list[subprocess.Popen[bytes]] = []
    try:
        rows += on_platform(args, only, load, root, extra, rss, events)
    finally:
        stop_all(extra)
        shutil.rmtree(root, ignore_errors=True)
    if "B4" in only:
        t0 = time.monotonic()
        new = b4(records, 5_000 if not args.quick else 2_000)
        rows += new
        print(" | ".join(new[0].cells()), f"  ({time.monotonic() - t0:.0f} s)", flush=True)
    report(rows, rss, args, loader, started_at, time.monotonic() - started)


def on_platform(
    args: argparse.Namespace,
    only: set[str],
    load: Load,
    root: Path,
    extra: list[subprocess.Popen[bytes]],
    rss: dict[str, float],
    events: int,
) -> list[Row]:
    """The benchmarks that share one platform (B1, B2, B3, B5, B6, B7)."""
    rows: list[Row] = []
    with platform(extra_env=RAISED_LIMITS) as plat:
        print("demo data:", asyncio.run(_load_demo(plat.db_admin)), flush=True)
        base_proc, base_port = start_baseline(plat, root)
        extra.append(base_proc)
        ng = start_nginx(plat.ports["catalogue"], root)
        if ng:
            extra.append(ng[0])
        pids = {"baseline": base_proc.pid, **{k: p.pid for k, p in plat.procs.items()}}
        b6_learner: list[str | None] = [None]

        def run_b6() -> list[Row]:
            new, b6_learner[0] = b6(plat, args.b6_learners, pids)
            return new

        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("B1", lambda: b1_b2(plat, load, args.rounds, base_port, ng[1] if ng else None, pids)),
            ("B6", run_b6),
            ("B3", lambda: b3(plat, load, args.rounds, b6_learner[0], pids)),
            ("B5", lambda: b5(plat, events, max(1, args.rounds - 1))),
        ]
        for key, step in steps:
            # B3 reads a learner B6 seeded and evaluated, so B3 brings B6 along.
            if key in only or (key == "B1" and "B2" in only) or (key == "B6" and "B3" in only):
                t0 = time.monotonic()
                new = step()
                rows += new
                for r in new:
                    print(" | ".join(r.cells()), flush=True)
                print(f"  ({key}: {time.monotonic() - t0:.0f} s)", flush=True)
        if "B7" in only:
            b1 = next((r for r in rows if r.bench == "B1"), None)
            top = float(b1.figure.split()[0]) if b1 else 300.0
            new = b7(plat, load, B7_SHARE * top, args.rounds)
            rows += new
            print(" | ".join(new[0].cells()), flush=True)
        if "B8" in only:  # last: it fills the database
            t0 = time.monotonic()
            new = b8(plat, load, args.rounds, pids, args.b8_certificates, args.b8_accounts)
            rows += new
            for r in new:
                print(" | ".join(r.cells()), flush=True)
            print(f"  (B8: {time.monotonic() - t0:.0f} s)", flush=True)
        for name, proc in plat.procs.items():
            rss[name] = rss_mb(proc.pid)
        rss["baseline (bench)"] = rss_mb(base_proc.pid)
    return rows


def report(
    rows: list[Row], rss: dict[str, float], args: argparse.Namespace, loader: str, started_at: datetime, took: float
) -> None:
    order = ["B1", "B2", "B2n", "B2p", "B3", "B4", "B5", "B6", "B7", "B8", "B8u", "B8v"]
    rows.sort(key=lambda r: order.index(r.bench) if r.bench in order else 99)
    result_table = table([r.cells() for r in rows], HEAD)
    rss_table = table(
        [[k, f"{v:.0f} MB", "yes" if v <= 150 else "NO"] for k, v in rss.items()],
        ["process", "RSS after the run", "≤ 150 MB"],
    )
    print()
    print(result_table)
    print()
    print(rss_table)
    fixes = HERE / "FIXES.md"
    doc = "\n\n".join(
        [
            "# Benchmark results",
            f"- date: {started_at:%Y-%m-%d %H:%M} UTC (run took {took / 60:.1f} min)\n- commit: {commit()}\n"
            f"- machine: {machine()}\n- load: {loader}; {args.seconds:g} s per measurement, "
            f"{args.rounds} interleaved rounds (figures are medians); one uvicorn worker per process",
            "Every ratio compares with a baseline measured in the same run, interleaved round by round. "
            "Written by `python -m bench` (`make bench`); see docs/bench.md.",
            result_table,
            "## Memory\n\n" + rss_table,
            fixes.read_text() if fixes.exists() else "",
        ]
    )
    Path(args.out).write_text(doc.rstrip() + "\n")
    print(f"\nwrote {args.out} ({took / 60:.1f} min)")


if __name__ == "__main__":
    main()
