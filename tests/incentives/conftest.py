"""Incentives under test: assessment, the catalogue, the credit bank and statistics faked with httpx.MockTransport."""

from dataclasses import dataclass, field
from datetime import date

import httpx
import pytest

from services.incentives.app import create_app
from services.incentives.demo import load_demo
from services.incentives.settings import IncentivesSettings
from tests.support.fixtures import app_client, shared_settings_for_tests


@dataclass
class FakeAssessment:
    certificates: dict[str, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    schools: dict[str, str | None] = field(default_factory=dict)

    def add(
        self,
        number,
        learner_id,
        code="6-31-07-01",
        level=3,
        issued_on="2026-05-10",
        status="valid",
        org="u-a",
        graduation_year=None,
        school_org=None,
    ):
        self.certificates[number] = {
            "number": number,
            "learner_id": learner_id,
            "holder_name": "张*",
            "occupation_code": code,
            "occupation_name": None,
            "work_type": None,
            "level": level,
            "body_id": "00000000-0000-0000-0000-000000000001",
            "issued_on": issued_on,
            "status": status,
            "in_catalogue_on_issue": False,
            **({"graduation_year": graduation_year} if graduation_year is not None else {}),
        }
        self.schools[number] = school_org
        self.emit("issued", number, org)

    def emit(self, verb, number, org="u-a"):
        cert = self.certificates[number]
        if verb != "issued":
            cert["status"] = {"suspended": "suspended", "revoked": "revoked", "reinstated": "valid"}[verb]
        data = {**cert, "university_org": org}
        if self.schools.get(number):
            data["school_org"] = self.schools[number]
        self.events.append(
            {
                "id": len(self.events) + 1,
                "type": f"assessment.certificate.{verb}",
                "occurred_at": "2026-06-01T00:00:00Z",
                "subject": f"certificate:{number}",
                "data": data,
            }
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        path = request.url.path
        if path == "/v1/certificates":
            learner = request.url.params["learner_id"]
            items = [c for c in self.certificates.values() if c["learner_id"] == learner]
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        if path == "/v1/certificates/of-learners":
            import json

            body = json.loads(request.content)
            learners = [
                {
                    "learner_id": lid,
                    "school_orgs": sorted(
                        {s for n, s in self.schools.items() if s and self.certificates[n]["learner_id"] == lid}
                    ),
                    "certificates": [
                        {**c, "university_org": None}
                        for c in self.certificates.values()
                        if c["learner_id"] == lid and body.get("status") in (None, c["status"])
                    ],
                }
                for lid in dict.fromkeys(body["learner_ids"])
            ]
            return httpx.Response(200, json={"learners": learners})
        if path.startswith("/v1/certificates/"):
            cert = self.certificates.get(path.rsplit("/", 1)[1])
            return httpx.Response(200, json=cert) if cert else httpx.Response(404, json={"status": 404})
        if path == "/v1/events":
            after = int(request.url.params.get("after") or 0)
            limit = int(request.url.params["limit"])
            page = [e for e in self.events if e["id"] > after][:limit]
            return httpx.Response(200, json={"events": page, "next_cursor": str(page[-1]["id"]) if page else None})
        return httpx.Response(404)


# The demo catalogue: the 2024 edition, and a 2026 one that adds 4-04-05-13 (newer than the 2022 classification).
EDITIONS = [
    ("ed-2024", date(2024, 6, 1), date(2026, 7, 31), {"6-31-07-01", "6-22-02-01", "4-10-01-05"}),
    ("ed-2026", date(2026, 8, 1), None, {"6-31-07-01", "6-22-02-01", "4-10-01-05", "4-04-05-13"}),
]


@dataclass
class FakeCatalogue:
    calls: list[int] = field(default_factory=list)

    def answer(self, code: str, as_of: date) -> dict:
        for edition_id, start, end, codes in EDITIONS:
            if start <= as_of and (end is None or as_of <= end):
                return {"exists": True, "in_catalogue": code in codes, "edition_id": edition_id}
        return {"exists": True, "in_catalogue": False, "edition_id": None}

    def handler(self, request: httpx.Request) -> httpx.Response:
        import json

        queries = json.loads(request.content)["queries"]
        self.calls.append(len(queries))
        results = [
            {
                "occupation_code": q["occupation_code"],
                "level": q["level"],
                "as_of": q["as_of"],
                "name": None,
                "resolved_code": q["occupation_code"],
                **self.answer(q["occupation_code"], date.fromisoformat(q["as_of"])),
            }
            for q in queries
        ]
        return httpx.Response(200, json={"results": results})


@dataclass
class FakeCreditBank:
    """The credit bank's feed: conversions posted and reversed."""

    events: list[dict] = field(default_factory=list)

    def emit(self, verb, conversion_id, org="u-a", learner_id="l1", on="2026-06-01", credits="4"):
        data = {"conversion_id": conversion_id, "learner_id": learner_id, "university_org": org, "credits": credits}
        self.events.append(
            {
                "id": len(self.events) + 1,
                "type": f"credit_bank.conversion.{verb}",
                "occurred_at": f"{on}T02:00:00Z",
                "subject": f"conversion:{conversion_id}",
                "data": data,
            }
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/events":
            return httpx.Response(404)
        after = int(request.url.params.get("after") or 0)
        page = [e for e in self.events if e["id"] > after][: int(request.url.params["limit"])]
        return httpx.Response(200, json={"events": page, "next_cursor": str(page[-1]["id"]) if page else None})


@dataclass
class FakeStatistics:
    """``GET /v1/graduates``: the graduating-student counts the bureau entered, {(org, year): count}."""

    graduates: dict[tuple[str, int], int] = field(default_factory=dict)
    calls: list[dict] = field(default_factory=list)
    down: bool = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(dict(request.url.params))
        if self.down:
            return httpx.Response(503)
        if request.url.path != "/v1/graduates":
            return httpx.Response(404)
        year = int(request.url.params["year"])
        rows = [
            {"university_org": org, "graduation_year": y, "graduating_students": n, "district": None, "source": "test"}
            for (org, y), n in sorted(self.graduates.items())
            if y == year
        ]
        return httpx.Response(200, json=rows)


@pytest.fixture
def assessment():
    return FakeAssessment()


@pytest.fixture
def credit_bank():
    return FakeCreditBank()


@pytest.fixture
def statistics():
    return FakeStatistics()


@pytest.fixture
def catalogue():
    return FakeCatalogue()


@pytest.fixture
async def client(test_db, signing_key, assessment, catalogue, credit_bank, statistics):
    app = create_app(
        IncentivesSettings(
            database_url=test_db.role_urls["incentives"], shared=shared_settings_for_tests(), feed_poll=False
        ),
        assessment_transport=httpx.MockTransport(assessment.handler),
        catalogue_transport=httpx.MockTransport(catalogue.handler),
        credit_bank_transport=httpx.MockTransport(credit_bank.handler),
        statistics_transport=httpx.MockTransport(statistics.handler),
    )
    async with app_client(app, test_db.engine("incentives"), signing_key) as c:
        c.app = app
        yield c


@pytest.fixture
async def loaded(client):
    """The client with the four shipped rule sets published."""
    async with client.app.state.sessionmaker() as session:
        await load_demo(session)
    return client
