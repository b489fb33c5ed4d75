"""Batch upload through the gateway vs. a raw asyncpg COPY of the same rows, in one run.

    python -m bench.assessment_upload [--records 50000] [--batch 5000] [--formats csv,gb18030,xlsx]

Starts a throw-away embedded PostgreSQL, a fake catalogue, the assessment service and the gateway
(loopback only), uploads the records in batches, then compares with COPY of the same rows
(candidates, records, certificates) straight into the same tables. Prints records/s and the ratio.
``--formats`` adds the same volume again (new people) through the gateway as UTF-8 CSV, GB18030 CSV
with Chinese headers, or XLSX made by openpyxl, each reported beside JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from openpyxl import Workbook
from stdnum.cn import ric, uscc

from services.assessment.candidates import COLUMNS as CANDIDATE_COLUMNS
from services.assessment.issuing import CERTIFICATE_COLUMNS, RECORD_COLUMNS
from services.kit.auth import SigningKey, mint_token
from services.kit.pii import Sealer, learner_id, mask_id_number
from services.kit.settings import DEV_PLACEHOLDER
from skillpass.bootstrap import bootstrap, role_url
from skillpass.devdb import EmbeddedPostgres, free_port
from skillpass.registry import GATEWAY, SERVICES

from .harness import cpu_s, rss_mb

ISSUER, AUDIENCE = "https://skillpass.local/gateway", "skillpass"
ORG = "bench-univ"
ASSESSMENT = next(s for s in SERVICES if s.name == "assessment")


def id_number(n: int) -> str:
    base = f"310104{date(2003, 1, 1) + timedelta(days=n // 1000):%Y%m%d}{n % 1000:03d}"
    return base + ric.calc_check_digit(base + "0")


def make_records(count: int, prefix: str, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"{prefix}-{n}",
            "occupation_code": "6-25-02-05",
            "level": 4,
            "exam_date": "2026-11-10",
            "theory_score": 60 + n % 40,
            "practical_score": 55 + n % 45,
            "candidate": {
                "id_number": id_number(n + offset),
                "name": "测试" + "甲乙丙丁戊己庚辛"[n % 8],
                "student_no": f"B{n}",
                "school_org": ORG,
                "graduation_year": 2027,
                "major": "智能制造",
            },
        }
        for n in range(count)
    ]


CSV_HEADER = (
    "external_id,id_number,name,student_no,school_org,graduation_year,major,occupation_code,level,"
    "exam_date,theory_score,practical_score"
)
CSV_HEADER_ZH = "外部编号,身份证号,姓名,学号,学校,毕业年份,专业,职业编码,等级,考试日期,理论成绩,实操成绩"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cells(r: dict[str, Any]) -> list[Any]:
    c = r["candidate"]
    return [
        r["external_id"],
        c["id_number"],
        c["name"],
        c["student_no"],
        c["school_org"],
        c["graduation_year"],
        c["major"],
        r["occupation_code"],
        r["level"],
        r["exam_date"],
        r["theory_score"],
        r["practical_score"],
    ]


def as_file(records: list[dict[str, Any]], fmt: str) -> tuple[bytes, str]:
    """One batch as the bytes a university would upload, and its Content-Type."""
    if fmt == "xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(CSV_HEADER_ZH.split(","))
        for r in records:
            row = _cells(r)
            row[9] = date.fromisoformat(row[9])  # an Excel date, as staff type it
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue(), XLSX_TYPE
    lines = [CSV_HEADER_ZH if fmt == "gb18030" else CSV_HEADER]
    lines += [",".join(str(v) for v in _cells(r)) for r in records]
    text = "\r\n".join(lines) + "\r\n"
    if fmt == "gb18030":
        return text.encode("gb18030"), "text/csv"  # no charset: the service detects it
    return text.encode(), "text/csv; charset=utf-8"


RAW_COPY_CPU = [0.0]


def pgcpu_s(pgdata: Path) -> float:
    """CPU seconds the whole PostgreSQL server has used: the postmaster, its live backends, and
    (cutime/cstime) the backends that already exited."""
    try:
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            try:
                f = (child / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(f[1]) == postmaster:
                total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _show_rss(label: str, pid: int) -> None:
    """With BENCH_RSS=1: the assessment process's RSS, before the uploads and after each batch."""
    if os.environ.get("BENCH_RSS"):
        print(f"  {label}: {rss_mb(pid):.0f} MB")


def _profile_start(procs: dict[str, subprocess.Popen[bytes]], root: Path) -> list[tuple[str, Any, Path]]:
    """With BENCH_PROFILE=1: py-spy (``pip install py-spy``) records the assessment service and the
    gateway during the upload through the gateway; the summary is printed at the end."""
    if not os.environ.get("BENCH_PROFILE"):
        return []
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    spies = []
    for name in ("assessment", "gateway"):
        out = root / f"profile-{name}.txt"
        cmd = [spy, "record", "--format", "raw", "-o", str(out), "-r", "200", "--nonblocking"]
        proc = subprocess.Popen(
            [*cmd, "-p", str(procs[name].pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        spies.append((name, proc, out))
    time.sleep(1)  # py-spy attaches
    return spies


def _profile_stop(spies: list[tuple[str, Any, Path]]) -> None:
    from .profile import summarise

    for _, proc, _ in spies:
        proc.send_signal(signal.SIGINT)
    for name, proc, out in spies:
        proc.wait(30)
        print(f"--- py-spy, {name} during the upload through the gateway ---")
        print(summarise(out, 30) if out.exists() else "(no profile written)")


def start(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        factory = ["--factory"] if app.endswith(":create_app") else []
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                *factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_ready(url: str, log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(150):
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    tail = await asyncio.to_thread(log.read_text)
    raise RuntimeError(f"{url} never became ready:\n" + tail[-3000:])


def copy_rows(
    records: list[dict[str, Any]], body_id: uuid.UUID, body_seq: int, sealer: Sealer, first: int
) -> dict[str, list[Any]]:
    """The rows the service would write, prepared before the clock starts (COPY alone is timed)."""
    batch = uuid.uuid4()
    cands, recs, certs = [], [], []
    for i, r in enumerate(records):
        c = r["candidate"]
        lid = learner_id(c["id_number"], DEV_PLACEHOLDER)
        cands.append(
            (
                lid,
                ORG,
                sealer.seal(c["id_number"], context=lid.encode()),
                mask_id_number(c["id_number"]),
                c["name"],
                c["student_no"],
                c["school_org"],
                c["graduation_year"],
                c["major"],
            )
        )
        passed = r["theory_score"] >= 60 and r["practical_score"] >= 60
        number = f"Y000031{body_seq:06d}264{first + i:06d}" if passed else None
        rid = uuid.uuid4()
        recs.append(
            (
                rid,
                batch,
                body_id,
                ORG,
                r["external_id"],
                lid,
                r["occupation_code"],
                None,
                4,
                date(2026, 11, 10),
                Decimal(r["theory_score"]),
                Decimal(r["practical_score"]),
                None,
                passed,
                number,
            )
        )
        if number:
            certs.append(
                (
                    number,
                    rid,
                    lid,
                    c["name"],
                    ORG,
                    body_id,
                    r["occupation_code"],
                    "x",
                    None,
                    4,
                    date.today(),
                    "valid",
                    True,
                    "bench",
                )
            )
    return {"candidates": cands, "records": recs, "certificates": certs}


# The same columns the service writes (candidates, records and certificates by COPY), so both
# paths fill the same tables with the same rows.
COLUMNS = {
    "candidates": CANDIDATE_COLUMNS,
    "records": RECORD_COLUMNS,
    "certificates": CERTIFICATE_COLUMNS,
}


async def raw_copy(dsn: str, batches: list[dict[str, list[Any]]], pgdata: Path | None = None) -> float:
    """Seconds for the COPY; with ``pgdata``, PostgreSQL's CPU seconds for it in ``RAW_COPY_CPU``."""
    conn = await asyncpg.connect(dsn)
    try:
        pg0 = pgcpu_s(pgdata) if pgdata else 0.0
        started = time.perf_counter()
        for rows in batches:
            async with conn.transaction():
                for table, records in rows.items():
                    await conn.copy_records_to_table(
                        table, schema_name="assessment", columns=COLUMNS[table], records=records
                    )
        elapsed = time.perf_counter() - started
        if pgdata:
            RAW_COPY_CPU[0] = pgcpu_s(pgdata) - pg0
        await conn.execute("TRUNCATE assessment.certificates, assessment.records, assessment.candidates")
        return elapsed
    finally:
        await conn.close()


async def upload_files(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    body_id: str,
    people: list[dict[str, Any]],
    fmt: str,
    batch_size: int,
) -> float:
    """Seconds to upload ``people`` as files of ``fmt`` in batches (the files are built first)."""
    files = [as_file(people[i : i + batch_size], fmt) for i in range(0, len(people), batch_size)]
    started = time.perf_counter()
    accepted = 0
    for content, content_type in files:
        r = await client.post(
            url,
            params={"body_id": body_id, "mode": "all_or_nothing"},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4()), "Content-Type": content_type},
            content=content,
        )
        r.raise_for_status()
        accepted += r.json()["accepted"]
    assert accepted == len(people), (fmt, accepted)
    return time.perf_counter() - started


async def run(
    total: int, batch_size: int, root: Path, formats: list[str] | None = None, *, quiet: bool = False
) -> dict[str, Any]:
    pg = EmbeddedPostgres(root / "pg", free_port(), fast_unsafe=True)
    pg.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        db_admin = await bootstrap(pg.admin_url(), "skillpass_bench")
        urls = {s.name: role_url(db_admin, s) for s in (GATEWAY, *SERVICES)}
        key_path = root / "signing-key.pem"
        key = SigningKey.load_or_create(key_path)
        gw, asm, cat = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "SKILLPASS_JWKS_URL": f"http://127.0.0.1:{gw}/.well-known/jwks.json",
            "SKILLPASS_LOG_LEVEL": "WARNING",
            "SKILLPASS_ASSESSMENT_DATABASE_URL": urls["assessment"],
            "SKILLPASS_ASSESSMENT_CATALOGUE_URL": f"http://127.0.0.1:{cat}",
            "SKILLPASS_GATEWAY_DATABASE_URL": urls["gateway"],
            "SKILLPASS_GATEWAY_ASSESSMENT_URL": f"http://127.0.0.1:{asm}",
            "SKILLPASS_GATEWAY_SIGNING_KEY_PATH": str(key_path),
        }
        procs.append(start("bench.fake_catalogue:app", cat, env, root / "catalogue.log"))
        procs.append(start(f"{ASSESSMENT.app}", asm, env, root / "assessment.log"))
        procs.append(start(f"{GATEWAY.app}", gw, env, root / "gateway.log"))
        by_name = dict(zip(("catalogue (fake)", "assessment", "gateway"), procs, strict=True))
        for port, name in ((cat, "catalogue"), (asm, "assessment"), (gw, "gateway")):
            await wait_ready(f"http://127.0.0.1:{port}/healthz", root / f"{name}.log")
        admin = {
            "Authorization": "Bearer "
            + mint_token(key, sub="bench-admin", role="admin", issuer=ISSUER, audience=AUDIENCE, ttl_s=3600)
        }
        univ = {
            "Authorization": "Bearer "
            + mint_token(
                key,
                sub="bench-univ",
                role="university",
                org=ORG,
                issuer=ISSUER,
                audience=AUDIENCE,
                ttl_s=3600,
            )
        }
        base = f"http://127.0.0.1:{gw}/api/assessment/v1"
        async with httpx.AsyncClient(timeout=120) as client:
            code = "913100009990000" + "01"
            r = await client.post(
                f"{base}/bodies",
                headers=admin,
                json={
                    "name": "bench body",
                    "uscc": code + uscc.calc_check_digit(code + "0"),
                    "kind": "employer",
                    "university_org": ORG,
                    "district": "闵行区",
                },
            )
            r.raise_for_status()
            body = r.json()
            r = await client.post(
                f"{base}/bodies/{body['id']}/filings",
                headers=admin,
                json={
                    "filing_no": "BENCH-1",
                    "valid_from": "2026-01-01",
                    "valid_to": "2027-12-31",
                    "scope": [{"occupation_code": "6-25-02-05", "levels": [4]}],
                },
            )
            r.raise_for_status()
            records = make_records(total, "bench")
            chunks = [records[i : i + batch_size] for i in range(0, total, batch_size)]

            sealer = Sealer(DEV_PLACEHOLDER)
            prepared = [
                copy_rows(c, uuid.UUID(body["id"]), body["sequence"], sealer, 1 + k * batch_size)
                for k, c in enumerate(chunks)
            ]
            copy_s = await raw_copy(urls["assessment"].replace("+asyncpg", ""), prepared, pg.pgdata)
            pg_copy = 1000 * RAW_COPY_CPU[0] / total * 1000

            async def upload_all(url: str, batches: list[list[dict[str, Any]]]) -> float:
                started = time.perf_counter()
                accepted = 0
                for chunk in batches:
                    r = await client.post(
                        f"{url}/batches",
                        headers={**univ, "Idempotency-Key": str(uuid.uuid4())},
                        json={"body_id": body["id"], "mode": "all_or_nothing", "records": chunk},
                    )
                    r.raise_for_status()
                    accepted += r.json()["accepted"]
                    _show_rss(f"{url.split('/')[2]} batch {accepted // len(chunk)}", by_name["assessment"].pid)
                assert accepted == sum(len(b) for b in batches), accepted
                return time.perf_counter() - started

            spies = _profile_start(by_name, root)
            _show_rss("assessment before the uploads", by_name["assessment"].pid)
            cpu0 = {k: cpu_s(p.pid) for k, p in by_name.items()}
            pg0 = pgcpu_s(pg.pgdata)
            api_s = await upload_all(base, chunks)
            _profile_stop(spies)
            # CPU per 1,000 records of each process (steadier than seconds on a busy machine).
            cpu = {k: 1000 * (cpu_s(p.pid) - cpu0[k]) / total * 1000 for k, p in by_name.items()}
            cpu["postgresql"] = 1000 * (pgcpu_s(pg.pgdata) - pg0) / total * 1000
            cpu["postgresql for the raw COPY"] = pg_copy
            # The same volume straight to the service, to show what the gateway's hop costs.
            direct_records = make_records(total, "direct", offset=total)  # new people, as in the first run
            direct_s = await upload_all(
                f"http://127.0.0.1:{asm}/v1", [direct_records[i : i + batch_size] for i in range(0, total, batch_size)]
            )
            by_format = {
                fmt: await upload_files(
                    client,
                    f"{base}/batches",
                    univ,
                    body["id"],
                    make_records(total, fmt, offset=(2 + k) * total),
                    fmt,
                    batch_size,
                )
                for k, fmt in enumerate(formats or [])
            }
        rss = {k: rss_mb(p.pid) for k, p in by_name.items()}
        result: dict[str, Any] = {
            "copy_s": copy_s,
            "gateway_s": api_s,
            "direct_s": direct_s,
            "cpu_ms_per_1k": cpu,
            "rss_mb": rss,
        }
        if quiet:
            return result
        print(f"records: {total} in {len(chunks)} batches of {batch_size}")
        print(f"raw asyncpg COPY : {copy_s:7.2f} s  {total / copy_s:10,.0f} records/s")
        print(f"through gateway  : {api_s:7.2f} s  {total / api_s:10,.0f} records/s")
        print(f"direct to service: {direct_s:7.2f} s  {total / direct_s:10,.0f} records/s  (for reference)")
        print(f"ratio (gateway / raw COPY throughput): {copy_s / api_s:.2f}x  (aim >= 0.20x)")
        for fmt, seconds in by_format.items():
            print(f"gateway, {fmt:<8} : {seconds:7.2f} s  {total / seconds:10,.0f} records/s  (JSON above)")
        print("CPU ms per 1,000 records through the gateway: " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()))
        print("RSS after the run (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
        return result
    finally:
        if os.environ.get("BENCH_SHOW_LOG"):
            print((root / "assessment.log").read_text()[-6000:])
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--formats", default="", help="comma-separated: csv, gb18030, xlsx")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="skillpass-bench-", dir="/tmp"))
    try:
        asyncio.run(run(args.records, args.batch, root, [f for f in args.formats.split(",") if f]))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
