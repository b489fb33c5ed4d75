"""B8, city scale: the hot paths with 1,000,000 certificates and 100,000 credit-bank accounts stored.

Run by ``python -m bench`` (``--only B8``; ``--b8-certificates`` to scale, 0 to skip) on its
platform, after the other benchmarks. It measures three things on the database as it is, seeds the
city with COPY, ANALYZEs, and measures the same three again in the same run:

- B1's ``GET /v1/lookup`` on the catalogue (hey, max rate, CPU per request);
- a B4-lite: one batch of 5,000 results through the gateway (new people each time);
- ``POST /verify``, the public verification page on the gateway, at a fixed rate (open loop), p99.

Seeding writes what a city's years of batches would leave behind, straight into the tables:
candidates, records and certificates of one body (one row each per certificate), and credit-bank
accounts with their university. The sealed ID number is one constant ciphertext (sealing a million
numbers would be the benchmark's slowest part and the lookups never open it); learner ids, record
ids and certificate numbers are unique and shaped like the real ones.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import asyncpg

from services.kit.pii import Sealer, mask_id_number
from services.kit.settings import DEV_PLACEHOLDER

from .assessment_upload import COLUMNS, id_number

ORG = "bench-city"
CHUNK = 50_000


def _lines(rows: Iterator[tuple[Any, ...]]) -> bytes:
    """COPY text format: tab-separated, ``\\N`` for NULL (no value here holds a tab or backslash)."""
    return "".join("\t".join("\\N" if v is None else str(v) for v in row) + "\n" for row in rows).encode()


def _record_id(n: int) -> str:
    return f"c17e0000-0000-4000-8000-{n:012x}"


def _learner(n: int) -> str:
    return f"lrn_c17e{n:028x}"


async def seed_city(
    dsn: str, body_id: str, *, certificates: int, accounts: int, progress: Any = None
) -> dict[str, float]:
    """COPY ``certificates`` candidates + records + certificates of ``body_id`` and ``accounts``
    credit-bank accounts; then ANALYZE. Answers the seconds each part took."""
    sealed = Sealer(DEV_PLACEHOLDER).seal(id_number(0), context=b"bench-city")
    masked = mask_id_number(id_number(0))
    batch = str(uuid.uuid4())
    issued = date(2025, 7, 1)
    took: dict[str, float] = {}
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for first in range(0, certificates, CHUNK):
            ns = range(first, min(first + CHUNK, certificates))
            candidates = (
                (_learner(n), ORG, sealed, masked, "市民" + "甲乙丙丁"[n % 4], f"C{n}", ORG, 2020 + n % 8, "城市管理")
                for n in ns
            )
            records = (
                (
                    _record_id(n),
                    batch,
                    body_id,
                    ORG,
                    f"city-{n}",
                    _learner(n),
                    "6-25-02-05",
                    None,
                    3 + n % 3,
                    "2025-06-01",
                    80,
                    80,
                    None,
                    True,
                    f"C{n:021d}",
                )
                for n in ns
            )
            certs = (
                (
                    f"C{n:021d}",
                    _record_id(n),
                    _learner(n),
                    "市民" + "甲乙丙丁"[n % 4],
                    ORG,
                    body_id,
                    "6-25-02-05",
                    "city occupation",
                    None,
                    3 + n % 3,
                    issued,
                    "valid",
                    True,
                    None,
                )
                for n in ns
            )
            async with conn.transaction():
                for table, rows in (("candidates", candidates), ("records", records), ("certificates", certs)):
                    await conn.copy_to_table(
                        table, schema_name="assessment", columns=COLUMNS[table], source=io.BytesIO(_lines(rows))
                    )
            if progress and ((first + len(ns)) % 200_000 == 0 or first + len(ns) == certificates):
                progress(f"  B8 seeding: {first + len(ns):,} of {certificates:,} certificates")
        took["certificates_s"] = time.perf_counter() - started
        started = time.perf_counter()
        async with conn.transaction():
            ids = range(accounts)
            await conn.copy_to_table(
                "accounts",
                schema_name="credit_bank",
                columns=("learner_id",),
                source=io.BytesIO(_lines((_learner(n),) for n in ids)),
            )
            await conn.copy_to_table(
                "account_universities",
                schema_name="credit_bank",
                columns=("learner_id", "university_org"),
                source=io.BytesIO(_lines((_learner(n), ORG) for n in ids)),
            )
        took["accounts_s"] = time.perf_counter() - started
        started = time.perf_counter()
        # What a city's database would have had time for: vacuumed and analysed (else autovacuum
        # and the checkpoint after 3,000,000 new rows would run during the second measurement).
        for table in (
            "assessment.candidates",
            "assessment.records",
            "assessment.certificates",
            "credit_bank.accounts",
            "credit_bank.account_universities",
        ):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute("CHECKPOINT")
        took["analyze_s"] = time.perf_counter() - started
        took["certificates"] = float(
            await conn.fetchval("SELECT count(*) FROM assessment.certificates WHERE university_org = $1", ORG)
        )
        took["accounts"] = float(await conn.fetchval("SELECT count(*) FROM credit_bank.accounts"))
    finally:
        await conn.close()
    return took


# -- the measurements, before and after seeding ------------------------------------------------------

VERIFY_RATE = 20.0  # req/s offered to the verification page: a busy day's peak, under its max here
LITE = 5_000  # the B4-lite batch


async def city_body(gateway: str, admin: str) -> str:
    """The body the city's certificates belong to, filed for the B4-lite's occupation and level."""
    import httpx
    from stdnum.cn import uscc

    code = "913100009990000" + "03"
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
        r = await client.post(
            "/api/assessment/v1/bodies",
            headers=headers,
            json={
                "name": "城市基准大学",
                "uscc": code + uscc.calc_check_digit(code + "0"),
                "kind": "employer",
                "university_org": ORG,
                "district": "徐汇区",
            },
        )
        r.raise_for_status()
        body_id: str = r.json()["id"]
        f = await client.post(
            f"/api/assessment/v1/bodies/{body_id}/filings",
            headers=headers,
            json={
                "filing_no": "BENCH-CITY-1",
                "scope": [{"occupation_code": "6-25-02-05", "levels": [3, 4, 5]}],
                "valid_from": "2025-01-01",
                "valid_to": "2027-12-31",
            },
        )
        f.raise_for_status()
    return body_id


async def upload_lite(gateway: str, univ: str, body_id: str, k: int) -> tuple[float, dict[str, Any]]:
    """One batch of 5,000 new people through the gateway: seconds, and the answer."""
    import httpx

    from .assessment_upload import make_records

    records = make_records(LITE, f"city-lite-{k}", offset=2_000_000 + k * LITE)
    for rec in records:
        rec["candidate"]["school_org"] = ORG
    async with httpx.AsyncClient(base_url=gateway, timeout=600) as client:
        started = time.perf_counter()
        r = await client.post(
            "/api/assessment/v1/batches",
            headers={"Authorization": f"Bearer {univ}", "Idempotency-Key": str(uuid.uuid4())},
            json={"body_id": body_id, "mode": "all_or_nothing", "records": records},
        )
        took = time.perf_counter() - started
    if r.status_code != 201:
        raise SystemExit(f"B8: the B4-lite batch failed: {r.status_code} {r.text[:300]}")
    answer: dict[str, Any] = r.json()
    answer["names"] = [rec["candidate"]["name"] for rec in records]
    return took, answer
