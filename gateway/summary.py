"""``GET /api/me/summary``: a student's certificates, credits, points and subsidy claims in one answer.

Each part is fetched from its service in parallel with the student's own token, so every service
still applies its own ownership rules. A part that cannot be fetched in time is named in
``unavailable`` and the rest is answered: one slow service never fails the student's screen.

The answer carries a ``Server-Timing`` header (docs/integration.md): each part's duration as the gateway
saw it (request sent to body parsed) and ``total``, the whole handler. ``total`` minus the slowest
part is what composing adds; ``python -m bench`` (B3) reports it under load.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import BaseModel

from services.kit.obs import REQUEST_ID_HEADER, request_id_var

from .upstreams import Upstreams

PART_TIMEOUT_S = 3.0


class Summary(BaseModel):
    learner_id: str
    certificates: list[dict[str, Any]] | None = None
    credit: dict[str, Any] | None = None
    points: list[dict[str, Any]] | None = None
    subsidy_claims: list[dict[str, Any]] | None = None
    # The newest of ``points`` (incentives lists evaluations newest first), for the app's main screen.
    latest_points_evaluation: dict[str, Any] | None = None
    unavailable: list[str]


def parts(learner_id: str) -> dict[str, tuple[str, str, str | None]]:
    """part → (service, path, key of the list in a page answer, or None for a whole object)."""
    return {
        "certificates": ("assessment", f"/v1/certificates?learner_id={learner_id}&limit=500", "items"),
        # The transcript carries the account's balance and counts and, per programme, the conversions.
        "credit": ("credit-bank", f"/v1/accounts/{learner_id}/transcript", None),
        "points": ("incentives", f"/v1/points/evaluations?learner_id={learner_id}&limit=1", "items"),
        "subsidy_claims": ("incentives", f"/v1/subsidy-claims?learner_id={learner_id}&limit=500", "items"),
    }


@dataclass
class Timings:
    """Milliseconds per part (a part's request sent to its body parsed) and for the whole answer."""

    started: float = field(default_factory=time.perf_counter)
    parts: dict[str, float] = field(default_factory=dict)

    def header(self, unavailable: list[str]) -> str:
        """The ``Server-Timing`` value: one entry per part (``desc="unavailable"`` when it was not
        used), then ``total`` up to now."""
        entries = [
            f'{name};desc="unavailable";dur={ms:.2f}' if name in unavailable else f"{name};dur={ms:.2f}"
            for name, ms in self.parts.items()
        ]
        entries.append(f"total;dur={(time.perf_counter() - self.started) * 1000:.2f}")
        return ", ".join(entries)


async def _timed(timings: Timings, name: str, call: Any) -> Any:
    started = time.perf_counter()
    try:
        return await call
    finally:
        timings.parts[name] = (time.perf_counter() - started) * 1000


async def _fetch(upstreams: Upstreams, service: str, path: str, key: str | None, token: str, budget_s: float) -> Any:
    base = upstreams.bases[service]
    headers = {"Authorization": f"Bearer {token}", REQUEST_ID_HEADER: request_id_var.get()}
    timeout = aiohttp.ClientTimeout(total=budget_s)
    async with upstreams.session(service).get(base + path, headers=headers, timeout=timeout) as resp:
        if resp.status == 404 and key is None:
            return None  # nothing there yet (no account): known, not unavailable
        if resp.status != 200:
            raise LookupError(f"{service} answered {resp.status}")
        body = await resp.json()
    if key is None:
        return body
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise LookupError(f"{service} answered without {key!r}")
    return body[key]


async def summary(
    upstreams: Upstreams,
    *,
    learner_id: str,
    token: str,
    budget_s: float = PART_TIMEOUT_S,
    timings: Timings | None = None,
) -> Summary:
    """Every part in parallel under one total budget: what is not back by then is ``unavailable``.
    ``timings`` (if given) receives each part's duration; a part cut off at the budget counts until then."""
    timings = timings if timings is not None else Timings()
    wanted = parts(learner_id)
    tasks = {
        name: asyncio.create_task(_timed(timings, name, _fetch(upstreams, svc, path, key, token, budget_s)))
        for name, (svc, path, key) in wanted.items()
    }
    done, pending = await asyncio.wait(tasks.values(), timeout=budget_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    answer: dict[str, Any] = {"learner_id": learner_id, "unavailable": []}
    for name, task in tasks.items():
        if task in done and not task.cancelled() and task.exception() is None:
            answer[name] = task.result()
        else:
            answer["unavailable"].append(name)
    if answer.get("points"):
        answer["latest_points_evaluation"] = answer["points"][0]
    return Summary(**answer)
