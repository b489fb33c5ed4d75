"""Assessment, the catalogue, the credit bank and statistics as incentives needs them, called with
this service's own token.

Certificates: one ``POST /v1/certificates/of-learners`` for up to 5,000 learners (an evaluation or a
batch of them). Catalogue status: one ``POST /v1/lookups`` for every certificate of an evaluation or
a batch of evaluations, answers cached briefly. The credit bank: its change feed. Statistics: the
graduating-student counts the bureau enters there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from services.kit.http import ServiceClient
from services.kit.problems import NotFound, UpstreamUnavailable


class CertificateNotFound(NotFound):
    type_ = "certificate-not-found"
    title = "Certificate not found"


@dataclass(frozen=True)
class Certificate:
    number: str
    learner_id: str
    occupation_code: str
    work_type: str | None
    level: int
    issued_on: date
    status: str
    # The candidate's graduation year on the certificate's record (None: assessment did not say).
    graduation_year: int | None = None


@dataclass(frozen=True)
class CatalogueAnswer:
    in_catalogue: bool
    edition_id: str | None


LookupKey = tuple[str, int, date, str | None]
LEARNERS_PER_CALL = 5_000  # assessment's limit on POST /v1/certificates/of-learners


@dataclass(frozen=True)
class LearnerEvidence:
    """What assessment knows of a learner: the universities that uploaded them as a student, and
    their certificates (in the status asked for)."""

    school_orgs: frozenset[str]
    certificates: tuple[Certificate, ...]


def _certificate(body: dict[str, Any]) -> Certificate:
    return Certificate(
        number=str(body["number"]),
        learner_id=str(body["learner_id"]),
        occupation_code=str(body["occupation_code"]),
        work_type=body.get("work_type"),
        level=int(body["level"]),
        issued_on=date.fromisoformat(str(body["issued_on"])),
        status=str(body["status"]),
        graduation_year=int(body["graduation_year"]) if body.get("graduation_year") is not None else None,
    )


class AssessmentClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client
        self.wait_s = 0.0  # time spent waiting on assessment, for the benchmark's share

    async def certificates(self, learner_id: str) -> list[Certificate]:
        """Every certificate of a learner (all statuses), following the pages."""
        out: list[Certificate] = []
        cursor: str | None = None
        started = time.perf_counter()
        try:
            while True:
                params = {"learner_id": learner_id, "limit": 500, **({"cursor": cursor} if cursor else {})}
                resp = await self._client.get("/v1/certificates", params=params)
                if resp.status_code != 200:
                    raise UpstreamUnavailable(f"assessment certificates answered {resp.status_code}")
                body = resp.json()
                out += [_certificate(c) for c in body["items"]]
                cursor = body.get("next_cursor")
                if not cursor:
                    return out
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamUnavailable("assessment gave a malformed certificate list") from exc
        finally:
            self.wait_s += time.perf_counter() - started

    async def learners(self, learner_ids: list[str], *, status: str | None = "valid") -> dict[str, LearnerEvidence]:
        """Many learners' certificates and schools: one call per 5,000 learners, not one per learner."""
        ids = list(dict.fromkeys(learner_ids))
        out: dict[str, LearnerEvidence] = {}
        for start in range(0, len(ids), LEARNERS_PER_CALL):
            chunk = ids[start : start + LEARNERS_PER_CALL]
            started = time.perf_counter()
            try:
                resp = await self._client.post(
                    "/v1/certificates/of-learners", json={"learner_ids": chunk, "status": status}
                )
            finally:
                self.wait_s += time.perf_counter() - started
            if resp.status_code != 200:
                raise UpstreamUnavailable(f"assessment certificates of learners answered {resp.status_code}")
            try:
                for learner in resp.json()["learners"]:
                    lid = str(learner["learner_id"])
                    out[lid] = LearnerEvidence(
                        school_orgs=frozenset(str(o) for o in learner["school_orgs"]),
                        certificates=tuple(_certificate({**c, "learner_id": lid}) for c in learner["certificates"]),
                    )
                missing = [i for i in chunk if i not in out]
                if missing:
                    raise ValueError(f"{len(missing)} learners missing from the answer")
            except (KeyError, TypeError, ValueError) as exc:
                raise UpstreamUnavailable("assessment gave a malformed certificates-of-learners answer") from exc
        return out

    async def certificate(self, number: str) -> Certificate:
        started = time.perf_counter()
        try:
            # One path segment whatever the caller sent (a "/", "?" or control character in a
            # number was a 500 here: schemathesis, issue 11).
            resp = await self._client.get(f"/v1/certificates/{quote(number, safe='')}")
        finally:
            self.wait_s += time.perf_counter() - started
        if resp.status_code in (404, 422):  # 422: not a certificate number at all
            raise CertificateNotFound(f"no certificate {number}")
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"assessment certificate answered {resp.status_code}")
        try:
            return _certificate(resp.json())
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamUnavailable("assessment gave a malformed certificate") from exc

    async def events(self, after: str | None, limit: int) -> tuple[int, dict[str, Any]]:
        resp = await self._client.get("/v1/events", params={"limit": limit, **({"after": after} if after else {})})
        return resp.status_code, resp.json() if resp.status_code == 200 else {}

    async def aclose(self) -> None:
        await self._client.aclose()


class CatalogueClient:
    """``POST /v1/lookups``: was an occupation at a level in the catalogue edition in force on a date."""

    def __init__(self, client: ServiceClient, *, cache_ttl_s: float = 60.0) -> None:
        self._client = client
        self._ttl = cache_ttl_s
        self._cache: dict[LookupKey, tuple[CatalogueAnswer, float]] = {}
        self.wait_s = 0.0

    async def lookup(self, keys: list[LookupKey]) -> dict[LookupKey, CatalogueAnswer]:
        now = time.monotonic()
        out: dict[LookupKey, CatalogueAnswer] = {}
        missing: list[LookupKey] = []
        for key in dict.fromkeys(keys):
            hit = self._cache.get(key)
            if hit is not None and hit[1] > now:
                out[key] = hit[0]
            else:
                missing.append(key)
        for start in range(0, len(missing), 10_000):
            chunk = missing[start : start + 10_000]
            for key, answer in zip(chunk, await self._ask(chunk), strict=True):
                out[key] = answer
                self._cache[key] = (answer, now + self._ttl)
        if len(self._cache) > 100_000:
            self._cache.clear()
        return out

    async def _ask(self, keys: list[LookupKey]) -> list[CatalogueAnswer]:
        queries = [
            {"occupation_code": c, "level": lv, "as_of": d.isoformat(), "work_type": wt} for c, lv, d, wt in keys
        ]
        started = time.perf_counter()
        try:
            resp = await self._client.post("/v1/lookups", json={"queries": queries})
        finally:
            self.wait_s += time.perf_counter() - started
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"catalogue lookups answered {resp.status_code}")
        try:
            results = resp.json()["results"]
            if len(results) != len(keys):
                raise ValueError("answer count differs from query count")
            return [
                CatalogueAnswer(
                    in_catalogue=bool(r.get("in_catalogue")),
                    edition_id=str(r["edition_id"]) if r.get("edition_id") else None,
                )
                for r in results
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamUnavailable("catalogue lookups gave a malformed answer") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


class CreditBankClient:
    """The credit bank's change feed (conversions for university performance)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def events(self, after: str | None, limit: int) -> tuple[int, dict[str, Any]]:
        resp = await self._client.get("/v1/events", params={"limit": limit, **({"after": after} if after else {})})
        return resp.status_code, resp.json() if resp.status_code == 200 else {}

    async def aclose(self) -> None:
        await self._client.aclose()


class StatisticsClient:
    """``GET /v1/graduates``: the graduating-student counts per university and year (one source: statistics)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def graduates(self, year: int) -> dict[str, int]:
        """University org → its graduating-student count for graduation year ``year`` (absent: not entered)."""
        resp = await self._client.get("/v1/graduates", params={"year": year})
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"statistics graduates answered {resp.status_code}")
        try:
            return {
                str(r["university_org"]): int(r["graduating_students"])
                for r in resp.json()
                if int(r["graduation_year"]) == year
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamUnavailable("statistics gave malformed graduate counts") from exc

    async def aclose(self) -> None:
        await self._client.aclose()
