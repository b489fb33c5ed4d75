"""The B1 baseline: the lookup's own SQL in bare Starlette + asyncpg, with the same ES256 check.

    BENCH_DSN=postgresql://... BENCH_JWK='{...}' BENCH_ISSUER=... uvicorn bench.baseline:app

No ORM session, no dependency injection, no response model, no middleware, and no token cache: the
token is verified with python-jose on every request, so this is the floor the catalogue's
``GET /v1/lookup`` is compared with. Run by ``python -m bench`` as its own process.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import asyncpg
from jose import jwt
from jose.exceptions import JOSEError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.catalogue.lookups import _LOOKUP

# The same statement the service runs, with asyncpg's positional parameters.
_NAMES = ["codes", "levels", "dates", "work_types", "cls"]
SQL = str(_LOOKUP.text)
for _n, _name in enumerate(_NAMES, 1):
    SQL = re.sub(rf":{_name}\b", f"${_n}", SQL)

JWK: dict[str, str] = json.loads(os.environ.get("BENCH_JWK", "{}"))
ISSUER = os.environ.get("BENCH_ISSUER", "")
AUDIENCE = os.environ.get("BENCH_AUDIENCE", "skillpass")
CLASSIFICATION = os.environ.get("BENCH_CLASSIFICATION", "2022")
pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=2, max_size=10)
    yield
    await pool.close()


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else str(v) if v is not None and not isinstance(v, int | str) else v


async def lookup(request: Request) -> Response:
    _, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        jwt.decode(token, JWK, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
    except JOSEError:
        return JSONResponse({"title": "Unauthorized"}, status_code=401)
    q = request.query_params
    code, level = q["occupation_code"], int(q["level"])
    as_of = date.fromisoformat(q["as_of"]) if "as_of" in q else date.today()
    assert pool is not None
    async with pool.acquire() as conn:
        r = await conn.fetchrow(SQL, [code], [level], [as_of], [q.get("work_type")], CLASSIFICATION)
    assert r is not None
    entry = None
    if r["entry_id"] is not None:
        entry = {
            "id": str(r["entry_id"]),
            "edition_id": str(r["edition_id"]),
            "occupation_code": r["resolved_code"],
            "occupation_name": r["name"],
            "work_type": r["work_type"],
            "min_level": r["min_level"],
            "industries": list(r["industries"]),
            "shortage_level": r["shortage_level"],
            "reason": r["reason"],
            "review_by": _jsonable(r["review_by"]),
        }
    return JSONResponse(
        {
            "occupation_code": code,
            "level": level,
            "as_of": as_of.isoformat(),
            "exists": bool(r["exists"]),
            "name": r["name"],
            "resolved_code": r["resolved_code"],
            "in_catalogue": entry is not None,
            "edition_id": _jsonable(r["edition_id"]),
            "entry": entry,
        }
    )


app = Starlette(routes=[Route("/v1/lookup", lookup)], lifespan=lifespan)
