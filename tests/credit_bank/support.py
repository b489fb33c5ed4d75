"""Builders shared by the credit bank's tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

UNIV = "univ-a"
AI = "2-02-38-01"  # 人工智能工程技术人员
ROBOT = "6-31-07-01"  # 工业机器人系统运维员


async def programme(
    client: httpx.AsyncClient, tokens: Any, *, org: str = UNIV, credits: str = "160", ratio: str = "0.5"
) -> str:
    r = await client.post(
        "/v1/programmes",
        json={
            "university_org": org,
            "code": f"P-{uuid.uuid4().hex[:6]}",
            "name": "智能制造工程",
            "graduation_credits": credits,
            "max_converted_ratio": ratio,
        },
        headers=tokens.headers("university", org=org),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def rule(
    client: httpx.AsyncClient,
    tokens: Any,
    programme_id: str | None,
    *,
    occupation: str = AI,
    min_level: int = 4,
    credits: str = "3",
    courses: list[str] | None = None,
    valid_from: str = "2025-09-01",
    valid_to: str | None = None,
    org: str = UNIV,
) -> dict[str, Any]:
    body = {
        "programme_id": programme_id,
        "occupation_code": occupation,
        "min_level": min_level,
        "credits": credits,
        "course_codes": courses if courses is not None else [f"C-{occupation}-{min_level}"],
        "valid_from": valid_from,
        "valid_to": valid_to,
    }
    headers = tokens.headers("admin") if programme_id is None else tokens.headers("university", org=org)
    r = await client.post("/v1/rules", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def deposit(
    client: httpx.AsyncClient, tokens: Any, learner_id: str, number: str, *, key: str | None = None
) -> httpx.Response:
    headers = tokens.headers("student", sub=learner_id)
    if key:
        headers["Idempotency-Key"] = key
    return await client.post(
        "/v1/outcomes",
        json={"learner_id": learner_id, "kind": "certificate", "certificate_number": number},
        headers=headers,
    )


async def convert(
    client: httpx.AsyncClient,
    tokens: Any,
    learner_id: str,
    outcome_id: str,
    programme_id: str,
    *,
    key: str | None = None,
) -> httpx.Response:
    headers = tokens.headers("student", sub=learner_id)
    if key:
        headers["Idempotency-Key"] = key
    return await client.post(
        "/v1/conversions",
        json={"learner_id": learner_id, "outcome_id": outcome_id, "programme_id": programme_id},
        headers=headers,
    )


def problem_type(r: httpx.Response) -> str:
    return str(r.json()["type"]).rsplit("/", 1)[1]
