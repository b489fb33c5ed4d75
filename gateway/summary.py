"""``GET /api/me/summary``: a student's certificates, credits, points and subsidy claims in one answer.

Each part is fetched from its service in parallel with the student's own token, so every service
still applies its own ownership rules. A part that cannot be fetched in time is named in
``unavailable`` and the rest is answered: one slow service never fails the student's screen.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from pydantic import BaseModel

from services.kit.obs import REQUEST_ID_HEADER, request_id_var

from .proxy import Upstreams

PART_TIMEOUT_S = 3.0


class Summary(BaseModel):
    learner_id: str
    certificates: list[dict[str, Any]] | None = None
    credit: dict[str, Any] | None = None
    points: list[dict[str, Any]] | None = None
    subsidy_claims: list[dict[str, Any]] | None = None
    unavailable: list[str]


def parts(learner_id: str) -> dict[str, tuple[str, str, str | None]]:
    """part → (service, path, key of the list in a page answer, or None for a whole object)."""
    return {
        "certificates": ("assessment", f"/v1/certificates?learner_id={learner_id}&limit=500", "items"),
        "credit": ("credit-bank", f"/v1/accounts/{learner_id}", None),
        "points": ("incentives", f"/v1/points/evaluations?learner_id={learner_id}&limit=1", "items"),
        "subsidy_claims": ("incentives", f"/v1/subsidy-claims?learner_id={learner_id}&limit=500", "items"),
    }


async def _fetch(upstreams: Upstreams, service: str, path: str, key: str | None, token: str) -> Any:
    base = upstreams.bases[service]
    headers = {"Authorization": f"Bearer {token}", REQUEST_ID_HEADER: request_id_var.get()}
    timeout = aiohttp.ClientTimeout(total=PART_TIMEOUT_S)
    async with upstreams.session(service).get(base + path, headers=headers, timeout=timeout) as resp:
        if resp.status != 200:
            raise LookupError(f"{service} answered {resp.status}")
        body = await resp.json()
    if key is None:
        return body
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise LookupError(f"{service} answered without {key!r}")
    return body[key]


async def summary(upstreams: Upstreams, *, learner_id: str, token: str) -> Summary:
    wanted = parts(learner_id)
    results = await asyncio.gather(
        *(_fetch(upstreams, svc, path, key, token) for svc, path, key in wanted.values()), return_exceptions=True
    )
    answer: dict[str, Any] = {"learner_id": learner_id, "unavailable": []}
    for name, result in zip(wanted, results, strict=True):
        if isinstance(result, BaseException):
            answer["unavailable"].append(name)
        else:
            answer[name] = result
    return Summary(**answer)
