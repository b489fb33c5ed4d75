"""The catalogue as assessment needs it: one bulk lookup per batch, answers cached briefly."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from services.kit.http import ServiceClient
from services.kit.problems import UpstreamUnavailable


@dataclass(frozen=True)
class OccupationAnswer:
    occupation_code: str
    level: int
    as_of: date
    exists: bool
    name: str | None
    in_catalogue: bool
    edition_id: str | None


# (occupation code, level, date, work type): an entry narrowed to a work type answers only for it.
LookupKey = tuple[str, int, date, str | None]


class CatalogueClient:
    """``POST /v1/lookups`` on the catalogue: occupation existence, name, shortage-catalogue status."""

    def __init__(self, client: ServiceClient, *, cache_ttl_s: float = 60.0) -> None:
        self._client = client
        self._ttl = cache_ttl_s
        self._cache: dict[LookupKey, tuple[OccupationAnswer, float]] = {}

    async def lookup(self, keys: list[LookupKey], *, cached: bool = True) -> dict[LookupKey, OccupationAnswer]:
        """One call for every key not in the cache; a failing catalogue raises a 503 problem."""
        now = time.monotonic()
        out: dict[LookupKey, OccupationAnswer] = {}
        missing: list[LookupKey] = []
        for key in dict.fromkeys(keys):
            hit = self._cache.get(key) if cached else None
            if hit is not None and hit[1] > now:
                out[key] = hit[0]
            else:
                missing.append(key)
        if missing:
            for key, answer in zip(missing, await self._ask(missing), strict=True):
                out[key] = answer
                self._cache[key] = (answer, now + self._ttl)
            if len(self._cache) > 50_000:
                self._cache.clear()
        return out

    async def _ask(self, keys: list[LookupKey]) -> list[OccupationAnswer]:
        queries = [
            {"occupation_code": c, "level": lv, "as_of": d.isoformat(), "work_type": wt} for c, lv, d, wt in keys
        ]
        resp = await self._client.post("/v1/lookups", json={"queries": queries})
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"catalogue lookups answered {resp.status_code}")
        try:
            results = resp.json()["results"]
            if len(results) != len(keys):
                raise ValueError("answer count differs from query count")
            return [
                OccupationAnswer(
                    occupation_code=c,
                    level=lv,
                    as_of=d,
                    exists=bool(r["exists"]),
                    name=r.get("name"),
                    in_catalogue=bool(r.get("in_catalogue")),
                    edition_id=r.get("edition_id"),
                )
                for (c, lv, d, _), r in zip(keys, results, strict=True)
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamUnavailable("catalogue lookups gave a malformed answer") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


class CreditBankClient:
    """``GET /v1/accounts/{learner_id}/transcript`` on the credit bank, as this service (service token)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def programmes(self, learner_id: str) -> list[dict[str, Any]]:
        """The transcript's programmes; no account is none. Anything else failing raises a problem
        (``UpstreamUnavailable`` / ``UpstreamTimeout``) for the caller to degrade on."""
        resp = await self._client.get(f"/v1/accounts/{quote(learner_id, safe='')}/transcript")
        if resp.status_code == 404:
            return []
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"credit bank transcript answered {resp.status_code}")
        try:
            programmes = resp.json()["programmes"]
            if not isinstance(programmes, list) or not all(isinstance(p, dict) for p in programmes):
                raise ValueError("programmes is not a list of objects")
            return programmes
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamUnavailable("credit bank transcript gave a malformed answer") from exc

    async def aclose(self) -> None:
        await self._client.aclose()
