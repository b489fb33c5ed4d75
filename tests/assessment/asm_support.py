"""Test support: a fake catalogue, valid ID numbers and credit codes, record and body builders."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from stdnum.cn import ric, uscc

KNOWN = {
    "6-25-02-05": "工业机器人系统运维员",
    "2-02-38-01": "人工智能工程技术人员",
    "4-04-05-05": "云计算工程技术人员",
    "4-10-01-05": "养老护理员",
    "6-31-07-01": "智能制造装调员",
}
IN_CATALOGUE = {"6-25-02-05", "2-02-38-01"}
_serial = itertools.count(1)


@dataclass
class FakeCatalogue:
    """Answers ``POST /v1/lookups`` from a dict; ``down`` makes it fail like a dead upstream."""

    known: dict[str, str] = field(default_factory=lambda: dict(KNOWN))
    in_catalogue: set[str] = field(default_factory=lambda: set(IN_CATALOGUE))
    # Entries narrowed to one work type, as the catalogue's /lookups answers them.
    work_type_entries: set[tuple[str, str]] = field(default_factory=set)
    down: bool = False
    calls: list[list[dict[str, Any]]] = field(default_factory=list)

    def reset(self) -> None:
        self.known, self.in_catalogue, self.down, self.calls = dict(KNOWN), set(IN_CATALOGUE), False, []
        self.work_type_entries = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("catalogue down", request=request)
        assert request.url.path == "/v1/lookups"
        queries = json.loads(request.content)["queries"]
        self.calls.append(queries)

        def listed(q: dict[str, Any]) -> bool:
            code = q["occupation_code"]
            return code in self.in_catalogue or (code, q.get("work_type")) in self.work_type_entries

        return httpx.Response(
            200,
            json={
                "results": [
                    {
                        **q,
                        "exists": q["occupation_code"] in self.known,
                        "name": self.known.get(q["occupation_code"]),
                        "resolved_code": q["occupation_code"] if q["occupation_code"] in self.known else None,
                        "in_catalogue": listed(q),
                        "edition_id": "ed-2026" if listed(q) else None,
                    }
                    for q in queries
                ]
            },
        )


@dataclass
class FakeCreditBank:
    """Answers ``GET /v1/accounts/{learner_id}/transcript`` from ``programmes`` (no entry: 404,
    no account); ``down`` makes it fail like a dead upstream, ``status`` answer that status."""

    programmes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    down: bool = False
    status: int | None = None
    calls: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.programmes, self.down, self.status, self.calls = {}, False, None, []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("credit bank down", request=request)
        self.calls.append(request.url.path)
        parts = request.url.path.split("/")
        assert parts[:3] == ["", "v1", "accounts"] and parts[4:] == ["transcript"], request.url.path
        if self.status is not None:
            return httpx.Response(self.status, json={"type": "about:blank", "status": self.status})
        lid = parts[3]
        if lid not in self.programmes:
            return httpx.Response(404, json={"type": "account-not-found", "status": 404})
        return httpx.Response(
            200,
            json={
                "learner_id": lid,
                "balance": "0.0",
                "outcomes": 1,
                "converted": 1,
                "programmes": self.programmes[lid],
            },
        )


def make_uscc(seed: int) -> str:
    base = f"91310000{seed % 10**9:09d}"
    return base + uscc.calc_check_digit(base + "0")


def make_id_number(n: int, birth: str = "20040315") -> str:
    base = f"310104{birth}{n % 1000:03d}"
    return base + ric.calc_check_digit(base + "0")  # stdnum reads the first 17 of 18 chars


def unique() -> int:
    return next(_serial) + uuid.uuid4().int % 10_000_000 * 1000


def record(
    ext: str,
    *,
    id_number: str | None = None,
    name: str = "张三",
    school: str = "univ-a",
    graduation_year: int = 2027,
    code: str = "6-25-02-05",
    level: int = 4,
    exam_date: date = date(2026, 11, 10),
    theory: float = 80,
    practical: float = 75,
    review: float | None = None,
    work_type: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "external_id": ext,
        "occupation_code": code,
        "level": level,
        "exam_date": exam_date.isoformat(),
        "theory_score": theory,
        "practical_score": practical,
        "candidate": {
            "id_number": id_number or make_id_number(unique()),
            "name": name,
            "student_no": f"S{ext}",
            "school_org": school,
            "graduation_year": graduation_year,
            "major": "机械电子工程",
        },
    }
    if review is not None:
        out["review_score"] = review
    if work_type is not None:
        out["work_type"] = work_type
    return out


async def make_body(
    client: httpx.AsyncClient,
    tokens: Any,
    *,
    org: str | None = "univ-a",
    kind: str = "employer",
    scope: list[dict[str, Any]] | None = None,
    valid_from: str = "2026-01-01",
    valid_to: str = "2027-12-31",
) -> dict[str, Any]:
    """A body with one filing (default scope: 6-25-02-05 levels 3–5, 2-02-38-01 levels 1–2)."""
    admin = tokens.headers("admin")
    r = await client.post(
        "/v1/bodies",
        headers=admin,
        json={
            "name": f"{org or 'social'} 评价机构",
            "uscc": make_uscc(unique()),
            "kind": kind,
            "university_org": org,
            "district": "闵行区",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    scope = scope or [
        {"occupation_code": "6-25-02-05", "levels": [3, 4, 5]},
        {"occupation_code": "2-02-38-01", "levels": [1, 2]},
    ]
    r = await client.post(
        f"/v1/bodies/{body['id']}/filings",
        headers=admin,
        json={
            "filing_no": f"沪评备-{unique()}",
            "scope": scope,
            "valid_from": valid_from,
            "valid_to": valid_to,
        },
    )
    assert r.status_code == 201, r.text
    body["filing"] = r.json()
    return body


async def upload(
    client: httpx.AsyncClient,
    tokens: Any,
    body_id: str,
    records: list[dict[str, Any]],
    *,
    org: str = "univ-a",
    mode: str = "partial",
    key: str | None = None,
) -> httpx.Response:
    headers = tokens.headers("university", org=org)
    if key:
        headers["Idempotency-Key"] = key
    return await client.post(
        "/v1/batches", headers=headers, json={"body_id": body_id, "mode": mode, "records": records}
    )


async def events(app: Any, *, prefix: str = "", subject: str | None = None) -> list[dict[str, Any]]:
    """Events in the test's transaction, read straight from the outbox (kernel read_events with no
    cursor binds an int where asyncpg expects text, so it cannot read from the start)."""
    from sqlalchemy import text

    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT type, subject, data FROM assessment.events WHERE type LIKE :p "
                    "AND (CAST(:s AS text) IS NULL OR subject = CAST(:s AS text)) "
                    "ORDER BY txid, id"
                ),
                {"p": prefix + "%", "s": subject},
            )
        ).all()
    return [{"type": r.type, "subject": r.subject, "data": r.data} for r in rows]
