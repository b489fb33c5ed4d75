from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.credit_bank.app import create_app
from services.credit_bank.settings import CreditBankSettings
from tests.support.fixtures import app_client, shared_settings_for_tests


@dataclass
class FakeAssessment:
    """Assessment as the credit bank sees it: certificates by number, and a change feed."""

    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    asked: list[list[str]] = field(default_factory=list)  # the numbers of each bulk check
    down: bool = False

    def issue(self, number: str, learner_id: str, occupation_code: str, level: int, status: str = "valid") -> str:
        self.certificates[number] = {
            "number": number,
            "learner_id": learner_id,
            "holder_name": "王*",
            "occupation_code": occupation_code,
            "occupation_name": None,
            "work_type": None,
            "level": level,
            "body_id": "00000000-0000-0000-0000-000000000001",
            "issued_on": "2026-10-01",
            "status": status,
            "status_reason": None if status == "valid" else f"{status} by the bureau",
            "in_catalogue_on_issue": True,
        }
        return number

    def change(self, number: str, verb: str, reason: str) -> dict[str, Any]:
        status = {"revoked": "revoked", "suspended": "suspended", "reinstated": "valid"}[verb]
        self.certificates[number].update(status=status, status_reason=reason)
        event = {
            "id": len(self.events) + 1,
            "type": f"assessment.certificate.{verb}",
            "occurred_at": "2026-11-01T00:00:00Z",
            "subject": f"certificate:{number}",
            "data": {"number": number, "status": status, "reason": reason},
        }
        self.events.append(event)
        return event

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if self.down:
            return httpx.Response(503)
        path = request.url.path
        if path == "/v1/certificates/check" and request.method == "POST":
            numbers = json.loads(request.content)["numbers"]
            self.asked.append(numbers)
            found = [(n, self.certificates.get(n)) for n in numbers]
            rows = [{**c, "found": True} if c else {"number": n, "found": False} for n, c in found]
            return httpx.Response(200, json={"certificates": rows})
        if path.startswith("/v1/certificates/"):
            cert = self.certificates.get(path.rsplit("/", 1)[1])
            return httpx.Response(200, json=cert) if cert else httpx.Response(404, json={"status": 404})
        if path == "/v1/events":
            # The cursor is a position, so an event appended twice is delivered twice.
            after = int(request.url.params.get("after") or 0)
            limit = int(request.url.params.get("limit") or 100)
            page = self.events[after : after + limit]
            cursor = str(after + len(page)) if page or after else None
            return httpx.Response(200, json={"events": page, "next_cursor": cursor})
        return httpx.Response(404)


@pytest.fixture
def assessment() -> FakeAssessment:
    return FakeAssessment()


def make_app(test_db, assessment: FakeAssessment, url: str | None = None):
    return create_app(
        CreditBankSettings(database_url=url or test_db.role_urls["credit_bank"], shared=shared_settings_for_tests()),
        assessment_transport=httpx.MockTransport(assessment.handler),
    )


@pytest.fixture
def credit_app(test_db, assessment):
    return make_app(test_db, assessment)


@pytest.fixture
async def client(credit_app, test_db, signing_key) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process; everything a test writes is rolled back after it."""
    async with app_client(credit_app, test_db.engine("credit_bank"), signing_key) as c:
        yield c


@pytest.fixture
async def session(credit_app, client):
    """A session inside the same rolled-back transaction as ``client``."""
    async with credit_app.state.sessionmaker() as s:
        yield s
