"""Points evaluations for many learners through the gateway, and where their time goes.

    python -m bench.points_evaluate [--learners 50000] [--concurrency 32]

Starts a throw-away embedded PostgreSQL and the five real processes (loopback only), loads the
demo catalogue and the shipped rule sets, issues one level-3 certificate per learner through
assessment's batch upload, then posts ``/api/incentives/v1/points/evaluate`` once per learner.
Prints evaluations/s, the share of the service's time spent waiting on assessment and on the
catalogue (from each answer's ``Server-Timing``), and, as a baseline measured in the same run,
the rate of assessment's own certificate list through the gateway — the one call per learner
that an evaluation cannot avoid. Catalogue questions are batched per evaluation (one call for all
of a learner's certificates) and cached by (occupation, level, date), never one per certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from stdnum.cn import uscc

from services.kit.pii import learner_id
from skillpass.local import DevSecrets
from skillpass.registry import SERVICES
from skillpass.seed import _with_session

from .assessment_upload import id_number
from .harness import Platform, platform

ORG = "bench-points"
TIMING = re.compile(r"(\w+);dur=([\d.]+)")


def _records(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"p-{n}",
            "occupation_code": "6-25-02-05",
            "level": 3,
            "exam_date": "2026-11-10",
            "theory_score": 80,
            "practical_score": 80,
            "candidate": {
                "id_number": id_number(n),
                "name": "测试" + "甲乙丙丁"[n % 4],
                "student_no": f"P{n}",
                "school_org": ORG,
                "graduation_year": 2027,
                "major": "微电子",
            },
        }
        for n in range(start, start + count)
    ]


async def _seed(plat: Platform, learners: int) -> None:
    from services.catalogue.demo import load_demo as catalogue_demo
    from services.incentives.demo import load_demo as incentives_demo

    spec = {s.name: s for s in SERVICES}
    await _with_session(plat.db_admin, spec["catalogue"], catalogue_demo)
    await _with_session(plat.db_admin, spec["incentives"], incentives_demo)
    admin = {"Authorization": f"Bearer {plat.token('admin')}"}
    univ = {"Authorization": f"Bearer {plat.token('university', org=ORG)}"}
    code = "913100009990000" + "02"
    async with httpx.AsyncClient(base_url=plat.url("gateway"), timeout=600) as client:
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
        body_id = body.json()["id"]
        filing = await client.post(
            f"/api/assessment/v1/bodies/{body_id}/filings",
            headers=admin,
            json={
                "filing_no": "BENCH-P-1",
                "scope": [{"occupation_code": "6-25-02-05", "levels": [3]}],
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
            },
        )
        filing.raise_for_status()
        for start in range(0, learners, 10_000):
            r = await client.post(
                "/api/assessment/v1/batches",
                headers=univ,
                json={"body_id": body_id, "mode": "partial", "records": _records(start, min(10_000, learners - start))},
            )
            r.raise_for_status()


async def _drive(
    n: int, concurrency: int, call: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]], base: str
) -> tuple[float, list[httpx.Response]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    answers: list[httpx.Response] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

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


async def run(plat: Platform, learners: int, concurrency: int) -> None:
    t0 = time.perf_counter()
    await _seed(plat, learners)
    print(f"seeded {learners} learners with a certificate each in {time.perf_counter() - t0:.1f} s")
    dev = DevSecrets.load_or_create(plat.root)
    ids = [learner_id(id_number(n), dev.learner_id_key) for n in range(learners)]
    admin = {"Authorization": f"Bearer {plat.token('admin')}"}
    declared = {"degree": "master", "school_tier": 2, "class_rank_quartile": 2, "foreign_language": "CET6"}

    async def evaluate(client: httpx.AsyncClient, i: int) -> httpx.Response:
        return await client.post(
            "/api/incentives/v1/points/evaluate", headers=admin, json={"learner_id": ids[i], "declared": declared}
        )

    async def certificates(client: httpx.AsyncClient, i: int) -> httpx.Response:
        return await client.get("/api/assessment/v1/certificates", headers=admin, params={"learner_id": ids[i]})

    base_n = min(learners, 5_000)
    base_s, base_answers = await _drive(base_n, concurrency, certificates, plat.url("gateway"))
    eval_s, answers = await _drive(learners, concurrency, evaluate, plat.url("gateway"))
    failed = sum(1 for a in answers if a.status_code != 200)
    problems = {(a.status_code, a.json().get("detail")) for a in answers if a.status_code != 200}
    waited: dict[str, float] = {"assessment": 0.0, "catalogue": 0.0}
    for a in answers:
        for name, ms in TIMING.findall(a.headers.get("server-timing", "")):
            waited[name] = waited.get(name, 0.0) + float(ms) / 1000
    busy = sum(
        a.elapsed.total_seconds() for a in answers if a.status_code != 599
    )  # summed client-side latency of every evaluation
    points = {a.json()["total"] for a in answers[:100] if a.status_code == 200}
    eval_rate, base_rate = learners / eval_s, base_n / base_s
    print(
        f"baseline: assessment certificate list via gateway  {base_rate:8.1f} req/s ({base_n} calls, "
        f"{sum(1 for a in base_answers if a.status_code != 200)} failed)"
    )
    print(
        f"points/evaluate via gateway                       {eval_rate:8.1f} evals/s ({learners} learners, "
        f"{failed} failed, totals seen {sorted(points)})"
    )
    if problems:
        print(f"failures: {sorted(problems)[:5]}")
    print(f"ratio evaluate / certificate list                 {eval_rate / base_rate:8.2f}")
    print(f"share of evaluation time waiting on assessment    {waited['assessment'] / busy:8.1%}")
    print(f"share of evaluation time waiting on the catalogue {waited['catalogue'] / busy:8.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with platform(extra_env={"SKILLPASS_INCENTIVES_FEED_POLL_INTERVAL_S": "30"}) as plat:
        asyncio.run(run(plat, args.learners, args.concurrency))


if __name__ == "__main__":
    main()
