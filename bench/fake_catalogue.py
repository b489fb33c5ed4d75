"""A stand-in for the catalogue's ``POST /v1/lookups`` (every well-formed code exists and is in the
catalogue), so the assessment benchmark does not depend on the catalogue branch."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/lookups")
async def lookups(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "results": [
            {
                **q,
                "exists": True,
                "name": f"occupation {q['occupation_code']}",
                "resolved_code": q["occupation_code"],
                "in_catalogue": True,
                "edition_id": "bench",
            }
            for q in payload["queries"]
        ]
    }


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
