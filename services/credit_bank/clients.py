"""Assessment as the credit bank needs it: one certificate's facts, and its change feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from services.kit.http import ServiceClient
from services.kit.problems import UpstreamUnavailable


@dataclass(frozen=True)
class CertificateFacts:
    number: str
    learner_id: str
    occupation_code: str
    level: int
    issued_on: date
    status: str
    status_reason: str | None


# Assessment's check route takes up to 1,000 numbers a call.
CHECK_CHUNK = 1000


def _facts(body: dict[str, Any]) -> CertificateFacts:
    return CertificateFacts(
        number=str(body["number"]),
        learner_id=str(body["learner_id"]),
        occupation_code=str(body["occupation_code"]),
        level=int(body["level"]),
        issued_on=date.fromisoformat(str(body["issued_on"])),
        status=str(body["status"]),
        status_reason=body.get("status_reason"),
    )


class AssessmentClient:
    """``GET /v1/certificates/{number}`` and ``GET /v1/events`` with this service's own token."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def certificate(self, number: str) -> CertificateFacts | None:
        """The certificate, or None when assessment does not know it; a failing assessment is a 503."""
        resp = await self._client.get(f"/v1/certificates/{quote(number, safe='')}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"assessment answered {resp.status_code} for a certificate")
        try:
            return _facts(resp.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamUnavailable("assessment gave a malformed certificate") from exc

    async def certificates(self, numbers: list[str]) -> dict[str, CertificateFacts | None]:
        """Many certificates in one call (``POST /v1/certificates/check``); None for an unknown number."""
        out: dict[str, CertificateFacts | None] = {}
        for start in range(0, len(numbers), CHECK_CHUNK):
            chunk = numbers[start : start + CHECK_CHUNK]
            resp = await self._client.post("/v1/certificates/check", json={"numbers": chunk})
            if resp.status_code != 200:
                raise UpstreamUnavailable(f"assessment answered {resp.status_code} for a certificate check")
            try:
                for row in resp.json()["certificates"]:
                    out[str(row["number"])] = _facts(row) if row["found"] else None
            except (ValueError, KeyError, TypeError) as exc:
                raise UpstreamUnavailable("assessment gave a malformed certificate check") from exc
        return out

    async def events(self, after: str | None, limit: int) -> tuple[int, dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
        resp = await self._client.get("/v1/events", params=params)
        if resp.status_code not in (200, 410):
            raise UpstreamUnavailable(f"assessment feed answered {resp.status_code}")
        return resp.status_code, resp.json() if resp.status_code == 200 else {}

    async def aclose(self) -> None:
        await self._client.aclose()
