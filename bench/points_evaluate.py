"""Points evaluations for many learners through the gateway, and where their time goes.

    python -m bench.points_evaluate [--learners 50000] [--batch 1000] [--concurrency 2] [--single 1000]

Starts a throw-away embedded PostgreSQL and the real processes (loopback only), loads the demo
catalogue and the shipped rule sets, and seeds the learners with asyncpg COPY straight into
assessment's tables (candidates, records, certificates: one to three certificates each, of three
occupations at different levels and dates; no events, so no feed follower catches up mid-run).
Then, as the bench's university, posts ``/api/incentives/v1/points/evaluate/batch`` for every
learner in batches of ``--batch``, ``--concurrency`` batches at a time.

Prints evaluations/s, CPU per evaluation of each process (from /proc over the evaluation window),
and the share of incentives' time spent waiting on assessment and on the catalogue (the
``Server-Timing`` each answer carries: ``assessment``, ``catalogue`` and ``total`` durations). Each
batch makes one call to assessment and at most one to the catalogue, never one per learner or
certificate. As a baseline in the same run, ``--single`` learners go through the single route
``POST /points/evaluate``, one request each at 32 concurrent (the path every evaluation took before).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from stdnum.cn import uscc

from services.assessment.candidates import COLUMNS as CANDIDATE_COLUMNS
from services.assessment.issuing import CERTIFICATE_COLUMNS, RECORD_COLUMNS
from services.kit.pii import Sealer, learner_id, mask_id_number
from skillpass.local import DevSecrets
from skillpass.registry import SERVICES
from skillpass.seed import _with_session

from .assessment_upload import id_number
from .harness import Platform, cpu_s, platform, status_mb, stop_all

ORG = "bench-points"
TIMING = re.compile(r"(\w+);dur=([\d.]+)")
DECLARED = {"degree": "master", "school_tier": 2, "class_rank_quartile": 2, "foreign_language": "CET6"}
# Learner n holds the first 1 + n % 3 of these (occupation, level, issued on): about two certificates
# a learner, in the demo catalogue and not, before and after its editions, so the catalogue is asked
# about more than one (occupation, level, date). The first is what the single-certificate seed gave
# (B3 deposits learner 0's only certificate in the credit bank).
HELD = [
    ("6-25-02-05", 3, date(2026, 11, 10)),
    ("2-02-38-01", 2, date(2025, 6, 30)),
    ("4-04-05-13", 4, date(2026, 3, 15)),
]
FACT_COLUMNS = (
    "number",
    "learner_id",
    "university_org",
    "body_kind",
    "occupation_code",
    "level",
    "issued_on",
    "in_catalogue",
    "status",
    "graduation_year",
    "school_org",
)
PROCESSES = ("gateway", "incentives", "assessment", "catalogue", "credit_bank", "statistics")


def learner_ids(plat: Platform, learners: int) -> list[str]:
    dev = DevSecrets.load_or_create(plat.root)
    return [learner_id(id_number(n), dev.learner_id_key) for n in range(learners)]


async def _body(plat: Platform) -> dict[str, Any]:
    """The university's employer body (with a filing), made through the API as an admin would."""
    admin = {"Authorization": f"Bearer {plat.token('admin')}"}
    code = "913100009990000" + "02"
    async with httpx.AsyncClient(base_url=plat.url("gateway"), timeout=60) as client:
        body = await client.post(
            "/api/assessment/v1/bodies",
            headers=admin,
            json={
                "name": "基准大学",
                "uscc": code + uscc.calc_check_digit(code + "0"),
                "kind": "employer",
                "university_org": ORG,
                "district": "浦东新区",
            },
        )
        body.raise_for_status()
        filing = await client.post(
            f"/api/assessment/v1/bodies/{body.json()['id']}/filings",
            headers=admin,
            json={
                "filing_no": "BENCH-P-1",
                "scope": [{"occupation_code": code, "levels": [1, 2, 3, 4, 5]} for code, _, _ in HELD],
                "valid_from": "2025-01-01",
                "valid_to": "2027-12-31",
            },
        )
        filing.raise_for_status()
        return dict(body.json())


def _rows(plat: Platform, learners: int, body: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a batch upload would write for these learners (candidates, records, certificates)."""
    dev = DevSecrets.load_or_create(plat.root)
    sealer = Sealer(dev.pii_key)
    body_id, seq, batch = uuid.UUID(body["id"]), int(body["sequence"]), uuid.uuid4()
    out: dict[str, list[tuple[Any, ...]]] = {"candidates": [], "records": [], "certificates": [], "facts": []}
    for n in range(learners):
        number_id = id_number(n)
        lid = learner_id(number_id, dev.learner_id_key)
        name = "测试" + "甲乙丙丁"[n % 4]
        out["candidates"].append(
            (
                lid,
                ORG,
                sealer.seal(number_id, context=lid.encode()),
                mask_id_number(number_id),
                name,
                f"P{n}",
                ORG,
                2027,
                "微电子",
            )
        )
        for code, level, issued_on in HELD[: 1 + n % 3]:
            record_id = uuid.uuid4()
            number = f"Y000031{seq:06d}{issued_on.year % 100:02d}{level}{n:06d}"
            out["records"].append(
                (
                    record_id,
                    batch,
                    body_id,
                    ORG,
                    f"p-{n}-{code}",
                    lid,
                    code,
                    None,
                    level,
                    issued_on,
                    Decimal(80),
                    Decimal(80),
                    None,
                    True,
                    number,
                )
            )
            out["certificates"].append(
                (number, record_id, lid, name, ORG, body_id, code, None, None, level, issued_on, "valid", True, None)
            )
            # what incentives' follower keeps of that certificate's event (the COPY above writes no
            # outbox events): it makes the learner the bench university's student (tenancy)
            out["facts"].append((number, lid, ORG, "Y", code, level, issued_on, True, "valid", 2027, ORG))
    return out


async def _seed(plat: Platform, learners: int) -> int:
    """Demo catalogue and rule sets, the body, then every learner by COPY. Answers the certificates."""
    from services.catalogue.demo import load_demo as catalogue_demo
    from services.incentives.demo import load_demo as incentives_demo

    spec = {s.name: s for s in SERVICES}
    await _with_session(plat.db_admin, spec["catalogue"], catalogue_demo)
    await _with_session(plat.db_admin, spec["incentives"], incentives_demo)
    rows = _rows(plat, learners, await _body(plat))
    columns = {"candidates": CANDIDATE_COLUMNS, "records": RECORD_COLUMNS, "certificates": CERTIFICATE_COLUMNS}
    conn = await asyncpg.connect(plat.db_admin.replace("+asyncpg", ""))
    try:
        async with conn.transaction():
            for table in ("candidates", "records", "certificates"):
                await conn.copy_records_to_table(
                    table, schema_name="assessment", columns=columns[table], records=rows[table]
                )
            await conn.copy_records_to_table(
                "certificate_facts", schema_name="incentives", columns=FACT_COLUMNS, records=rows["facts"]
            )
        await conn.execute(
            "ANALYZE assessment.candidates; ANALYZE assessment.certificates; ANALYZE incentives.certificate_facts"
        )
    finally:
        await conn.close()
    return len(rows["certificates"])


async def _drive(
    n: int, concurrency: int, call: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]], base: str
) -> tuple[float, list[httpx.Response]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    answers: list[httpx.Response] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                try:
                    answers.append(await call(client, i))
                except httpx.TransportError as exc:  # counted as a failure, not the end of the run
                    answers.append(httpx.Response(599, json={"detail": type(exc).__name__}, request=exc.request))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, answers


@dataclass
class Measured:
    """One evaluation run: rate, failures, CPU per evaluation per process, and where the time went."""

    evaluations: int
    seconds: float
    failed: int
    problems: list[str]
    cpu_ms: dict[str, float]
    waited_s: dict[str, float] = field(default_factory=dict)
    totals: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.evaluations / self.seconds

    def share(self, name: str) -> float:
        """Of incentives' own time answering (Server-Timing ``total``), the share spent waiting on ``name``."""
        total = self.waited_s.get("total", 0.0)
        return self.waited_s.get(name, 0.0) / total if total else 0.0


def _timings(answers: list[httpx.Response]) -> dict[str, float]:
    waited: dict[str, float] = {}
    for a in answers:
        for name, ms in TIMING.findall(a.headers.get("server-timing", "")):
            waited[name] = waited.get(name, 0.0) + float(ms) / 1000
    return waited


async def evaluate_batches(
    plat: Platform, ids: list[str], *, batch: int, concurrency: int, pids: dict[str, int]
) -> Measured:
    """Every learner through ``POST /points/evaluate/batch`` as their university, ``batch`` at a time."""
    univ = {"Authorization": f"Bearer {plat.token('university', org=ORG)}"}
    chunks = [ids[i : i + batch] for i in range(0, len(ids), batch)]

    async def post(client: httpx.AsyncClient, i: int) -> httpx.Response:
        items = [{"learner_id": lid, "declared": DECLARED} for lid in chunks[i]]
        return await client.post("/api/incentives/v1/points/evaluate/batch", headers=univ, json={"items": items})

    before = {k: cpu_s(p) for k, p in pids.items()}
    seconds, answers = await _drive(len(chunks), concurrency, post, plat.url("gateway"))
    used = {k: cpu_s(p) - before[k] for k, p in pids.items()}
    bad = [(a, len(chunks[i])) for i, a in enumerate(answers) if a.status_code != 200]
    ok = [a for a in answers if a.status_code == 200]
    totals = sorted({e["total"] for a in ok[:3] for e in a.json()["items"]})
    return Measured(
        evaluations=len(ids),
        seconds=seconds,
        failed=sum(n for _, n in bad),
        problems=sorted({f"{a.status_code} {a.text[:120]}" for a, _ in bad})[:3],
        cpu_ms={k: 1000 * v / len(ids) for k, v in used.items()},
        waited_s=_timings(ok),
        totals=totals,
    )


async def evaluate_singly(plat: Platform, ids: list[str], *, concurrency: int, pids: dict[str, int]) -> Measured:
    """The same learners one request each through ``POST /points/evaluate`` (the baseline)."""
    admin = {"Authorization": f"Bearer {plat.token('admin')}"}

    async def post(client: httpx.AsyncClient, i: int) -> httpx.Response:
        body = {"learner_id": ids[i], "declared": DECLARED}
        return await client.post("/api/incentives/v1/points/evaluate", headers=admin, json=body)

    before = {k: cpu_s(p) for k, p in pids.items()}
    seconds, answers = await _drive(len(ids), concurrency, post, plat.url("gateway"))
    used = {k: cpu_s(p) - before[k] for k, p in pids.items()}
    bad = [a for a in answers if a.status_code != 200]
    return Measured(
        evaluations=len(ids),
        seconds=seconds,
        failed=len(bad),
        problems=sorted({f"{a.status_code} {a.text[:120]}" for a in bad})[:3],
        cpu_ms={k: 1000 * v / len(ids) for k, v in used.items()},
        waited_s=_timings([a for a in answers if a.status_code == 200]),
        totals=sorted({a.json()["total"] for a in answers[:100] if a.status_code == 200}),
    )


def cpu_note(m: Measured) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in m.cpu_ms.items()) + f"; all {sum(m.cpu_ms.values()):.2f} ms/eval"


def spy(pid: int, seconds: int) -> tuple[subprocess.Popen[bytes], Path]:
    """py-spy (``pip install py-spy``; not a project dependency) recording one process."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    raw = Path(tempfile.mkdtemp()) / "profile.txt"
    cmd = [exe, "record", "--format", "raw", "-o", str(raw), "-d", str(seconds), "-r", "200", "--nonblocking"]
    return subprocess.Popen([*cmd, "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), raw


async def run(
    plat: Platform, learners: int, batch: int, concurrency: int, single: int, profile: str | None = None
) -> None:
    t0 = time.perf_counter()
    certificates = await _seed(plat, learners)
    print(f"seeded {learners:,} learners ({certificates:,} certificates) by COPY in {time.perf_counter() - t0:.1f} s")
    ids = learner_ids(plat, learners)
    pids = {k: p.pid for k, p in plat.procs.items() if k in PROCESSES}
    recording = spy(pids["incentives"], 20) if profile == "single" else None
    base = await evaluate_singly(plat, ids[:single], concurrency=32, pids=pids) if single else None
    if recording:
        recording[0].wait()
    recording = spy(pids["incentives"], 10) if profile == "batch" else recording
    mem_before = status_mb(pids["incentives"], "VmRSS", "VmHWM")
    m = await evaluate_batches(plat, ids, batch=batch, concurrency=concurrency, pids=pids)
    mem_after = status_mb(pids["incentives"], "VmRSS", "VmHWM")
    if recording:
        from .profile import summarise  # bench.profile imports bench.__main__, which imports this module

        recording[0].wait()
        print(f"py-spy of incentives during the {profile} run:\n" + summarise(recording[1], 25))
    if base:
        print(
            f"baseline: POST /points/evaluate, one per learner  {base.rate:8.1f} evals/s ({single:,} learners, "
            f"32 concurrent, {base.failed} failed)"
        )
        print(f"  CPU ms/eval: {cpu_note(base)}")
        print(f"  waiting on assessment {base.share('assessment'):.1%}, on the catalogue {base.share('catalogue'):.1%}")
    print(
        f"POST /points/evaluate/batch via gateway            {m.rate:8.1f} evals/s ({learners:,} learners in "
        f"batches of {batch:,}, {concurrency} concurrent, {m.failed} failed, {m.seconds:.1f} s; totals seen {m.totals})"
    )
    print(f"  CPU ms/eval: {cpu_note(m)}")
    print(f"share of incentives' time waiting on assessment    {m.share('assessment'):8.1%}")
    print(f"share of incentives' time waiting on the catalogue {m.share('catalogue'):8.1%}")
    print(f"(incentives' answer time summed over batches: {m.waited_s.get('total', 0.0):.1f} s)")
    print(
        f"incentives' memory: RSS {mem_before.get('VmRSS', 0):.0f} MB before the batches (peak so far "
        f"{mem_before.get('VmHWM', 0):.0f}), {mem_after.get('VmRSS', 0):.0f} MB after, "
        f"peak {mem_after.get('VmHWM', 0):.0f} MB"
    )
    if base:
        print(f"ratio batch / single                               {m.rate / base.rate:8.1f}x")
    if m.problems:
        print(f"failures: {m.problems}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1_000, help="learners per request (the route's max is 1,000)")
    parser.add_argument("--concurrency", type=int, default=2, help="batches in flight at once")
    parser.add_argument("--single", type=int, default=1_000, help="learners for the one-request-each baseline")
    parser.add_argument("--profile", choices=["single", "batch"], help="py-spy incentives during that run")
    args = parser.parse_args()
    env = {
        "SKILLPASS_INCENTIVES_FEED_POLL_INTERVAL_S": "30",
        "SKILLPASS_GATEWAY_RATE_LIMIT_PER_S": "1000000",
        "SKILLPASS_GATEWAY_RATE_LIMIT_BURST": "1000000",
    }
    with platform(extra_env=env) as plat:
        try:
            single = min(args.single, args.learners)
            asyncio.run(run(plat, args.learners, args.batch, args.concurrency, single, args.profile))
        finally:
            stop_all(list(plat.procs.values()), within_s=60)  # a loaded machine can take over 10 s


if __name__ == "__main__":
    main()
