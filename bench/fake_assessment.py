"""A stand-in for assessment's ``GET /v1/certificates/{number}``, ``POST /v1/certificates/check`` and
feed: certificate ``CB<n>`` is a valid level-4 certificate of learner ``bench-<n>``, so the credit-bank
benchmark needs no assessment data."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI()


def _certificate(number: str) -> dict[str, Any]:
    return {
        "number": number,
        "learner_id": f"bench-{number[2:]}",
        "holder_name": "测*",
        "occupation_code": "6-25-02-05",
        "occupation_name": "半导体芯片制造工",
        "work_type": None,
        "level": 4,
        "body_id": "00000000-0000-0000-0000-000000000001",
        "issued_on": "2026-11-10",
        "status": "valid",
        "status_reason": None,
        "in_catalogue_on_issue": True,
    }


@app.get("/v1/certificates/{number}")
async def certificate(number: str) -> dict[str, Any]:
    return _certificate(number)


@app.post("/v1/certificates/check")
async def check(body: dict[str, list[str]]) -> dict[str, Any]:
    return {"certificates": [{**_certificate(n), "found": True} for n in body["numbers"]]}


@app.get("/v1/events")
async def events() -> dict[str, Any]:
    return {"events": [], "next_cursor": None}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
